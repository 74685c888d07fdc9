"""Telegram as one adapter of the conversation layer, on pyTelegramBotAPI.

Inbound: a few catch-all pyTelegramBotAPI handlers turn each update into the events of
bot_handlers.channels.base and hand them to the router; the flows never see a telebot
type. Outbound: the operations of `base.Channel`, raising `DeliveryError` with what to do
about a failure (jobs/transports.TelegramTransport carries outbox rows out through them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from telebot import TeleBot, types
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from bot_handlers.bot import build_bot
from bot_handlers.channels.base import (
    Attachment,
    Chat,
    Command,
    Contact,
    DeliveryError,
    Edited,
    Event,
    Keyboard,
    Membership,
    Press,
    Start,
    Text,
    User,
)
from core.config import Config
from core.conversations.files import FileTooBig

log = logging.getLogger(__name__)

NAME = "telegram"
# Seconds for one request. Telegram answers in well under a second; a request that takes
# longer is treated like a 5xx (backed off and retried).
SEND_TIMEOUT = 15
# What a patient may send that the layer has an event for; anything else (polls, dice,
# games) gets no event, as before.
CONTENT_TYPES = [
    "text",
    "contact",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "video_note",
    "sticker",
    "location",
    "venue",
    "animation",
]
# What a person can send that nobody at the clinic can act on (a die, a poll, a game, a
# story): one event of kind "unsupported", so the patient is told rather than ignored.
UNSUPPORTED_TYPES = ["dice", "poll", "game", "story"]
_MEDIA = ("document", "voice", "audio", "video", "video_note", "animation")
# Edits the layer shows in the thread: the words of a text, or a file's caption.
EDITABLE_TYPES = ["text", "photo", "document", "video", "audio", "voice", "animation"]

Dispatch = Callable[[Event], object]


def open_channel(config: Config) -> TelegramChannel:
    return TelegramChannel(build_bot(config))


# --- inbound --------------------------------------------------------------------------------


def _user(user: types.User) -> User:
    return User(
        id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        username=user.username or "",
        language=user.language_code or "",
    )


def _chat(chat: types.Chat) -> Chat:
    return Chat(id=chat.id, private=chat.type == "private")


def message_event(message: types.Message) -> Event | None:
    """The event a Telegram message is, or None for what the layer does not handle."""
    if message.from_user is None:  # a channel post: nobody to answer
        return None
    base: dict[str, Any] = {
        "channel": NAME,
        "chat": _chat(message.chat),
        "user": _user(message.from_user),
        "message_id": message.message_id,
    }
    kind = message.content_type
    if kind == "text":
        text = message.text or ""
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            name = head.split("@", 1)[0].lower()
            if name == "start":
                return Start(**base, payload=args.strip())
            return Command(**base, name=name, args=args.strip())
        return Text(**base, text=text)
    if kind == "contact" and message.contact is not None:
        shared = message.contact
        return Contact(
            **base,
            phone=shared.phone_number or "",
            # Anyone can forward someone else's card; only Telegram's own user_id, set by
            # its server, proves the number belongs to the sender.
            own=shared.user_id is not None and shared.user_id == message.from_user.id,
            first_name=shared.first_name or "",
            last_name=shared.last_name or "",
            # Telegram shares the account's own number (the one it signed up with).
            number_proven=True,
        )
    if kind in UNSUPPORTED_TYPES:
        return Attachment(**base, kind="unsupported", extra={"type": kind})
    if kind not in CONTENT_TYPES:
        return None
    text = message.caption or ""
    extra: dict[str, str] = {}
    media: Any = None
    mime = ""
    if message.photo:
        media, mime = message.photo[-1], "image/jpeg"  # the largest size
    elif kind in _MEDIA:
        media = getattr(message, kind)
        mime = getattr(media, "mime_type", None) or ""
    elif message.sticker:
        extra["emoji"] = message.sticker.emoji or ""
    elif message.location:
        text = f"{message.location.latitude:.6f}, {message.location.longitude:.6f}"
        venue = getattr(message, "venue", None)
        if venue is not None:  # a place picked from the map: its name and address too
            kind = "location"
            text = ", ".join(filter(None, [venue.title, venue.address, text]))
    return Attachment(
        **base,
        kind=kind,
        text=text,
        file_id=media.file_id if media is not None else "",
        file_name=(getattr(media, "file_name", None) or "") if media is not None else "",
        mime_type=mime,
        file_size=media.file_size if media is not None else None,
        extra=extra,
    )


def press_event(call: types.CallbackQuery) -> Press:
    message = call.message
    chat = _chat(message.chat) if message is not None else Chat(id=0, private=False)
    markup = getattr(message, "reply_markup", None)
    return Press(
        channel=NAME,
        chat=chat,
        user=_user(call.from_user),
        message_id=message.message_id if message is not None else 0,
        press_id=call.id,
        data=call.data or "",
        message_text=getattr(message, "text", None) or "",
        keyboard=markup.to_dict() if markup is not None else None,
    )


def membership_event(member: types.ChatMemberUpdated) -> Membership | None:
    status = member.new_chat_member.status
    if status not in ("kicked", "member"):
        return None
    return Membership(
        channel=NAME,
        chat=_chat(member.chat),
        user=_user(member.from_user),
        blocked=status == "kicked",
    )


# --- outbound -------------------------------------------------------------------------------


def classify(exc: ApiTelegramException) -> DeliveryError:
    code = exc.error_code
    description = exc.description or str(exc)
    if code == 429:
        params = (exc.result_json or {}).get("parameters") or {}
        return DeliveryError("rate_limited", description, float(params.get("retry_after", 1)))
    if code == 403:
        return DeliveryError("forbidden", description)
    if code == 400 and "message is not modified" in description:
        # The edit is already in place; treating it as a failure would retry forever.
        return DeliveryError("already_done", description)
    if code in (400, 404):
        return DeliveryError("rejected", description)
    return DeliveryError("transient", f"HTTP {code}: {description}")


def _markup(keyboard: Keyboard | None) -> Any:
    # The stored keyboard is already Telegram's reply_markup; the library sends a str as is.
    return json.dumps(keyboard, ensure_ascii=False) if keyboard else None


class TelegramChannel:
    name = NAME

    def __init__(self, bot: TeleBot, timeout: int = SEND_TIMEOUT) -> None:
        self.bot = bot
        self.timeout = timeout

    def attach(self, dispatch: Dispatch) -> None:
        """Feed every update the layer handles to `dispatch`. Register these after any raw
        handler that must see an update first (the staff group's, bot_handlers/staff.py):
        pyTelegramBotAPI gives each update to the first handler that matches."""
        bot = self.bot

        @bot.message_handler(content_types=CONTENT_TYPES + UNSUPPORTED_TYPES)
        def on_message(message: types.Message) -> None:
            event = message_event(message)
            if event is not None:
                dispatch(event)

        @bot.edited_message_handler(content_types=EDITABLE_TYPES)
        def on_edit(message: types.Message) -> None:
            if message.from_user is None:
                return
            dispatch(
                Edited(
                    channel=NAME,
                    chat=_chat(message.chat),
                    user=_user(message.from_user),
                    message_id=message.message_id,
                    text=message.text or message.caption or "",
                )
            )

        @bot.callback_query_handler(func=lambda call: True)
        def on_press(call: types.CallbackQuery) -> None:
            dispatch(press_event(call))

        @bot.my_chat_member_handler()
        def on_member(member: types.ChatMemberUpdated) -> None:
            event = membership_event(member)
            if event is not None:
                dispatch(event)

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except ApiTelegramException as exc:
            raise classify(exc) from None
        except ApiHTTPException as exc:
            # Not the Bot API's JSON but a gateway page (nginx's 502/504): Telegram's front
            # could not reach its backend. Retried like any 5xx; see README on what a lost
            # answer can mean.
            status = getattr(exc.result, "status_code", "?")
            raise DeliveryError("transient", f"HTTP {status} from Telegram's gateway") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryError("transient", f"network: {exc.__class__.__name__}") from None

    def send_text(
        self, chat_id: int, text: str, keyboard: Keyboard | None = None, parse_mode: str = ""
    ) -> int:
        sent = self._call(
            lambda: self.bot.send_message(
                chat_id,
                text,
                reply_markup=_markup(keyboard),
                parse_mode=parse_mode or None,
                timeout=self.timeout,
            )
        )
        return int(sent.message_id)

    def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        keyboard: Keyboard | None = None,
        parse_mode: str = "",
    ) -> int:
        self._call(
            lambda: self.bot.edit_message_text(
                text,
                chat_id,
                message_id,
                reply_markup=_markup(keyboard),
                parse_mode=parse_mode or None,
                timeout=self.timeout,
            )
        )
        return message_id

    def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> int:
        self._call(
            lambda: self.bot.edit_message_reply_markup(
                chat_id, message_id, reply_markup=_markup(keyboard), timeout=self.timeout
            )
        )
        return message_id

    def answer_press(self, press_id: str, text: str = "") -> None:
        self._call(lambda: self.bot.answer_callback_query(press_id, text=text or None))

    def send_file(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        *,
        caption: str = "",
        image: bool = False,
        keyboard: Keyboard | None = None,
    ) -> int:
        if image:
            sent = self._call(
                lambda: self.bot.send_photo(
                    chat_id,
                    data,
                    caption=caption or None,
                    reply_markup=_markup(keyboard),
                    timeout=self.timeout,
                )
            )
        else:
            sent = self._call(
                lambda: self.bot.send_document(
                    chat_id,
                    data,
                    caption=caption or None,
                    reply_markup=_markup(keyboard),
                    visible_file_name=file_name,
                    timeout=self.timeout,
                )
            )
        return int(sent.message_id)

    def fetch_file(self, file_id: str, limit: int) -> tuple[bytes, str]:
        try:
            info = self.bot.get_file(file_id)
        except ApiTelegramException as exc:
            if "too big" in (exc.description or ""):  # over getFile's 20 MB
                raise FileTooBig from None
            raise
        if info.file_size and info.file_size > limit:
            raise FileTooBig
        if not info.file_path:
            raise RuntimeError("Telegram gave no file_path for this file")
        return self.bot.download_file(info.file_path), info.file_path

    def set_commands(
        self, commands: Mapping[str, Sequence[tuple[str, str]]], default_language: str
    ) -> None:
        def put(items: Sequence[tuple[str, str]], lang: str | None) -> None:
            menu = [types.BotCommand(name, description) for name, description in items]
            self._call(lambda: self.bot.set_my_commands(menu, language_code=lang))

        for lang, items in commands.items():
            put(items, lang)
        # Users whose app is in any other language see the clinic's own.
        put(commands.get(default_language) or next(iter(commands.values()), []), None)
