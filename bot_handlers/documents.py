"""Documents to sign: «Подписать», «Есть вопросы», the one-time code typed back, and «Мои
документы» (/documents). The checks and the signature are core.documents.signing's.

Registered before phone_code: a six-digit message is a document's code only while this
chat holds one (else linking by phone code, or a message to the clinic, takes it).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.documents import mine as my_documents
from core.documents import signing
from core.documents.requests import COPY_PREFIX, DECLINE_PREFIX, QUESTION_PREFIX, SIGN_PREFIX
from core.models import Subscriber
from core.texts import menu_labels


def _request_id(data: str) -> int:
    raw = data.split(":", 1)[1] if ":" in data else ""
    return int(raw) if raw.isdigit() else 0


def register(router: Router, ctx: BotContext) -> None:
    def say(
        session: Session, event: Press | Text | Command, sub: Subscriber, answer: signing.Answer
    ) -> None:
        # Keyed by the update (a chat's message or press happens once) and the line's place.
        base = f"document:{event.channel}:{event.chat.id}:{event.message_id}:{utcnow().timestamp()}"
        for n, (message, markup) in enumerate(answer.replies):
            ctx.reply(session, sub, f"{base}:{n}", message, markup)
        for then in answer.then:
            then()

    def pressed(event: Press, act: str) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            now = utcnow()
            number = _request_id(event.data)
            if act == "sign":
                answer = signing.press_sign(session, ctx.config, sub, number, now)
            elif act == "decline":
                answer = my_documents.decline(session, ctx.config, sub, number, now)
            elif act == "question":
                answer = my_documents.question(session, ctx.config, sub, number, now)
            else:
                answer = my_documents.copy(session, ctx.config, sub, number)
            say(session, event, sub, answer)
        ctx.answer(event, answer.notice)

    @router.press(SIGN_PREFIX)
    def sign(event: Press) -> None:
        pressed(event, "sign")

    @router.press(QUESTION_PREFIX)
    def question(event: Press) -> None:
        pressed(event, "question")

    @router.press(DECLINE_PREFIX)
    def decline(event: Press) -> None:
        pressed(event, "decline")

    @router.press(COPY_PREFIX)
    def copy(event: Press) -> None:
        pressed(event, "copy")

    def holds_code(event: Text) -> bool:
        if not signing.CODE.match(event.text):
            return False
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            return signing.awaiting_code(session, sub, utcnow()) is not None

    @router.on(Text, when=holds_code)
    def code(event: Text) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            answer = signing.enter_code(session, ctx.config, sub, event.text, utcnow())
            say(session, event, sub, answer)

    @router.command("documents")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_documents", e.text))
    def mine(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            say(session, event, sub, my_documents.listing(session, ctx.config, sub, utcnow()))
