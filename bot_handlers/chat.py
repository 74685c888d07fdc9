"""The patient's chat with the clinic: every message goes into their thread, and the first
one of an episode becomes a task for the staff (core.conversations.threads)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session
from telebot import TeleBot, types
from telebot.apihelper import ApiTelegramException

from bot_handlers.context import AFTER_COMMIT, BotContext
from core.clock import utcnow
from core.conversations import files
from core.conversations.lines import conversation_for
from core.conversations.models import ThreadMessage
from core.conversations.threads import Incoming, notice, receive
from core.models import Subscriber
from core.texts import CATALOGUE

log = logging.getLogger(__name__)

CONTENT_TYPES = [
    "text",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "video_note",
    "sticker",
    "location",
]
# The main menu's labels, in every language: pressing one is never a question.
MENU_LABELS = frozenset(
    text for key, entry in CATALOGUE.items() if key.startswith("menu_") for text in entry.values()
)
ASK_LABELS = frozenset(CATALOGUE["menu_ask"].values())


def incoming_of(message: types.Message, limit_bytes: int) -> Incoming:
    """What the thread keeps of a Telegram message; a known size over the limit marks it
    too big without a download."""
    item = Incoming(
        telegram_message_id=message.message_id,
        kind=message.content_type,
        text=message.text or message.caption or "",
    )
    media = None
    if message.photo:
        media = message.photo[-1]  # the largest size
        item.mime_type = "image/jpeg"
    elif message.content_type in ("document", "voice", "audio", "video", "video_note"):
        media = getattr(message, message.content_type)
        item.file_name = getattr(media, "file_name", None) or ""
        item.mime_type = getattr(media, "mime_type", None) or ""
    elif message.sticker:
        item.extra["emoji"] = message.sticker.emoji or ""
    elif message.location:
        loc = message.location
        item.text = f"{loc.latitude:.6f}, {loc.longitude:.6f}"
    if media is not None:
        item.file_id = media.file_id
        item.file_size = media.file_size
        if media.file_size and media.file_size > limit_bytes:
            item.extra["too_big"] = "1"
    return item


def to_task(ctx: BotContext, session: Session, sub: Subscriber, message: types.Message) -> None:
    """File a message in the patient's thread (and its episode): for handlers that take a
    message first and find it is a question after all (a typed phone number from a patient
    already recognised)."""
    receive(session, ctx.config, sub, incoming_of(message, files.limit_bytes(ctx.config)))


def downloader(bot: TeleBot) -> files.Downloader:
    def download(file_id: str, limit: int) -> tuple[bytes, str]:
        try:
            info = bot.get_file(file_id)
        except ApiTelegramException as exc:
            if "too big" in (exc.description or ""):
                raise files.FileTooBig from None
            raise
        if info.file_size and info.file_size > limit:
            raise files.FileTooBig
        if not info.file_path:
            raise RuntimeError("Telegram gave no file_path for this file")
        return bot.download_file(info.file_path), info.file_path

    return download


def register(bot: TeleBot, ctx: BotContext) -> None:
    fetch = downloader(bot)

    def fetch_files() -> None:
        try:
            files.fetch_pending(ctx.factory, fetch, ctx.config)
        except Exception:  # a file that cannot be fetched now stays pending for the next
            log.exception("fetching patients' files failed")

    @bot.message_handler(chat_types=["private"], content_types=CONTENT_TYPES)
    def any_message(message: types.Message) -> None:
        if message.text and message.text.startswith("/"):
            return  # an unknown command is not a question for the front desk
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            if message.text in MENU_LABELS:
                if message.text in ASK_LABELS:
                    notice(
                        session,
                        sub,
                        f"ask-prompt:{message.chat.id}:{message.message_id}",
                        ctx.text("ask_prompt", sub),
                    )
                return
            item = incoming_of(message, files.limit_bytes(ctx.config))
            receive(session, ctx.config, sub, item)
            has_file = bool(item.file_id) and "too_big" not in item.extra
        if has_file:
            pending = AFTER_COMMIT.get()
            if pending is not None:
                pending.append(fetch_files)
            else:
                fetch_files()

    @bot.edited_message_handler(chat_types=["private"], content_types=["text", "photo"])
    def edited(message: types.Message) -> None:
        """The thread shows the edit: the line takes the new words, marked edited."""
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            conv = conversation_for(session, sub)
            line = session.scalar(
                select(ThreadMessage).where(
                    ThreadMessage.conversation_id == conv.id,
                    ThreadMessage.direction == "in",
                    ThreadMessage.telegram_message_id == message.message_id,
                )
            )
            if line is not None:
                line.text = message.text or message.caption or ""
                line.edited_at = utcnow()
