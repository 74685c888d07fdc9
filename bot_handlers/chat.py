"""The patient's chat with the clinic: every message goes into their thread, and the first
one of an episode becomes a task for the staff (core.conversations.threads)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Attachment, Command, Edited, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import AFTER_COMMIT, BotContext
from core.clock import utcnow
from core.conversations import files
from core.conversations.lines import conversation_for
from core.conversations.models import ThreadMessage
from core.conversations.threads import Incoming, notice, receive
from core.models import Subscriber
from core.texts import menu_labels

log = logging.getLogger(__name__)


def incoming_of(event: Text | Attachment, limit_bytes: int) -> Incoming:
    """What the thread keeps of a patient's message; a known size over the limit marks it
    too big without a download."""
    if isinstance(event, Text):
        return Incoming(telegram_message_id=event.message_id, kind="text", text=event.text)
    item = Incoming(
        telegram_message_id=event.message_id,
        kind=event.kind,
        text=event.text,
        file_id=event.file_id,
        file_name=event.file_name,
        mime_type=event.mime_type,
        file_size=event.file_size,
        extra=dict(event.extra),
    )
    if event.file_size and event.file_size > limit_bytes:
        item.extra["too_big"] = "1"
    return item


def to_task(ctx: BotContext, session: Session, sub: Subscriber, event: Text) -> None:
    """File a message in the patient's thread (and its episode): for handlers that take a
    message first and find it is a question after all (a typed phone number from a patient
    already recognised)."""
    receive(session, ctx.config, sub, incoming_of(event, files.limit_bytes(ctx.config)))


def register(router: Router, ctx: BotContext) -> None:
    def fetch_files(channel: str) -> None:
        adapter = ctx.channels.get(channel)
        if adapter is None:
            return  # stays pending until a runner with that messenger fetches it
        try:
            files.fetch_pending(ctx.factory, adapter.fetch_file, ctx.config)
        except Exception:  # a file that cannot be fetched now stays pending for the next
            log.exception("fetching patients' files failed")

    @router.on(Text, Attachment)
    def any_message(event: Text | Attachment) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            if isinstance(event, Attachment) and event.kind == "unsupported":
                # A die, a poll: nothing for the staff to act on; the patient is told how.
                ctx.reply(
                    session,
                    sub,
                    f"unsupported:{event.chat.id}:{event.message_id}",
                    ctx.text("unsupported_message", sub),
                )
                return
            # A menu button's press (any label it has had) is never a question.
            pressed = menu_labels.key_of(event.text) if isinstance(event, Text) else None
            if pressed is not None:
                if pressed == "menu_ask":
                    notice(
                        session,
                        sub,
                        f"ask-prompt:{event.chat.id}:{event.message_id}",
                        ctx.text("ask_prompt", sub),
                    )
                return
            item = incoming_of(event, files.limit_bytes(ctx.config))
            receive(session, ctx.config, sub, item)
            has_file = bool(item.file_id) and "too_big" not in item.extra
        if has_file:
            pending = AFTER_COMMIT.get()
            if pending is not None:
                pending.append(lambda: fetch_files(event.channel))
            else:
                fetch_files(event.channel)

    @router.on(Command)
    def unknown_command(event: Command) -> None:
        """A command no flow knows is not a question for the front desk: it gets /help."""
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            text = f"{ctx.text('unknown_command', sub)}\n\n{ctx.text('help', sub)}"
            ctx.reply(session, sub, f"help:{event.chat.id}:{event.message_id}", text)

    @router.on(Edited)
    def edited(event: Edited) -> None:
        """The thread shows the edit: the line takes the new words, marked edited; an edit
        of a message the thread does not hold is filed as a new one."""
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            conv = conversation_for(session, sub)
            line = session.scalar(
                select(ThreadMessage).where(
                    ThreadMessage.conversation_id == conv.id,
                    ThreadMessage.direction == "in",
                    ThreadMessage.telegram_message_id == event.message_id,
                )
            )
            if line is not None:
                line.text = event.text
                line.edited_at = utcnow()
                return
            words = event.text.strip()
            if not words or words.startswith("/") or menu_labels.is_menu(words):
                return
            # An old message the thread never filed (sent before the chat was a thread, or
            # taken by a flow as an answer): the new words reach the staff as a message.
            received = receive(
                session,
                ctx.config,
                sub,
                Incoming(telegram_message_id=event.message_id, kind="text", text=event.text),
            )
            received.line.edited_at = utcnow()
