"""«Получить бонус за отзыв»: the button on «Мои бонусы» asks for a screenshot, and the
image the patient sends next becomes an approval episode (core.loyalty.screenshots)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from bot_handlers.channels.base import Attachment, Press
from bot_handlers.channels.router import Router
from bot_handlers.chat import incoming_of
from bot_handlers.context import AFTER_COMMIT, BotContext
from core.conversations import files
from core.conversations.threads import receive
from core.loyalty import screenshots
from core.models import Subscriber
from core.patients.linking import linked_patients

log = logging.getLogger(__name__)

PREFIX = "bs"


def buttons(ctx: BotContext, session: Session, sub: Subscriber) -> list[list[tuple[str, str]]]:
    """Rows for the bonuses screen: one per bonus the clinic gives for a screenshot."""
    return [
        [(ctx.text(f"btn_screenshot_{kind}", sub), f"{PREFIX}:{kind}")]
        for kind, _ in screenshots.offered(session, ctx.config)
    ]


def _is_image(event: Attachment) -> bool:
    return event.kind == "photo" or (
        event.kind == "document" and event.mime_type.startswith("image/")
    )


def register(router: Router, ctx: BotContext) -> None:
    def awaited(event: Any) -> bool:
        if not isinstance(event, Attachment) or not _is_image(event):
            return False
        with ctx.session() as session:
            return bool(screenshots.awaited(session, ctx.config, ctx.subscriber(session, event)))

    @router.press(PREFIX)
    def ask(event: Press) -> None:
        kind = event.data.split(":", 1)[1] if ":" in event.data else ""
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"screenshot-ask:{event.chat.id}:{event.message_id}:{event.press_id}"
            if not linked_patients(session, sub):
                ctx.need_link(session, sub, key)
            elif kind not in screenshots.KINDS or not screenshots.ask(
                session, ctx.config, sub, kind, key
            ):
                # A button from before the clinic turned the bonus off: say so, change nothing.
                ctx.reply(session, sub, key, ctx.text("screenshot_off", sub))
        ctx.answer(event)

    @router.on(Attachment, when=awaited)
    def screenshot(event: Attachment) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            kind = screenshots.awaited(session, ctx.config, sub)
            item = incoming_of(event, files.limit_bytes(ctx.config))
            if "too_big" in item.extra or not linked_patients(session, sub):
                # Not a screenshot anyone can check: an ordinary message, told the limit.
                receive(session, ctx.config, sub, item)
                return
            screenshots.file_screenshot(session, ctx.config, sub, kind, item)

        def fetch() -> None:
            adapter = ctx.channels.get(event.channel)
            if adapter is None:
                return
            try:
                files.fetch_pending(ctx.factory, adapter.fetch_file, ctx.config)
            except Exception:  # stays pending for the next fetch
                log.exception("fetching a bonus screenshot failed")

        pending = AFTER_COMMIT.get()
        if pending is not None:
            pending.append(fetch)
        else:
            fetch()
