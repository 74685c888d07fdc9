"""In-memory Telegram Bot API with the real HTTP protocol, for demos, tests and benchmarks.

The unmodified pyTelegramBotAPI talks to it after ``telebot.apihelper.API_URL`` and
``FILE_URL`` are pointed at :attr:`TelegramEmulator.api_url` / :attr:`file_url`.  Test
code plays the patients through the Python API (``send_text``, ``press``, ...) and reads
back what the bot did (``messages``, ``transcript``, ``calls``).

All state lives behind one re-entrant lock; two conditions on that lock wake long polls
(new update) and ``wait_for_messages`` (new bot message).  Errors use Telegram's exact
descriptions because bot code (and its tests) branch on them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import mimetypes
import random
import re
import secrets
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from werkzeug.serving import make_server

from .formatting import EntityParseError, parse_text
from .multipart import Upload
from .server import QuietRequestHandler, create_app

__all__ = ["ApiError", "ApiResponse", "TelegramEmulator", "Upload"]

log = logging.getLogger(__name__)

# Only these count against the sending limits and are what a fault with method=None hits.
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
FAULT_KINDS = frozenset({"429", "500", "502", "slow", "403", "timeout", "lost_response"})
# Parameters the Bot API documents as JSON-serialized objects.
JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "scope",
        "media",
        "menu_button",
    }
)
# Telegram's default when allowed_updates was never given.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_POLL_TIMEOUT = 50

_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")

_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

MSG_BLOCKED = "Forbidden: bot was blocked by the user"
MSG_CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
MSG_CHAT_NOT_FOUND = "Bad Request: chat not found"
MSG_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
MSG_TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
MSG_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
MSG_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)


# Bots may download files of at most 20 MB through getFile (core.telegram.org/bots/api#getfile).
GET_FILE_MAX_BYTES = 20 * 1024 * 1024


class ApiError(Exception):
    """A Bot API error answer; the HTTP status equals ``code``."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class ApiResponse:
    """What the HTTP layer sends back: a JSON body, or raw bytes for gateway errors."""

    status: int
    body: dict[str, Any] | None = None
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class _Fault:
    kind: str
    method: str | None  # lower-cased; None = any message-sending method
    chat_id: str | None
    remaining: int | None
    retry_after: int
    delay: float
    probability: float | None
    rng: random.Random

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "chat_id": self.chat_id,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "probability": self.probability,
        }


@dataclass
class _Bot:
    token: str
    info: dict[str, Any]
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    allowed_updates: list[str] | None = None
    poll_generation: int = 0
    webhook: dict[str, Any] | None = None
    webhook_retry_at: float = 0.0
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # setMyName / setMyDescription / setMyShortDescription, keyed by (field, language_code)
    profile: dict[tuple[str, str], str] = field(default_factory=dict)
    menu_buttons: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent_times: deque[float] = field(default_factory=deque)
    started: set[int] = field(default_factory=set)
    blocked: set[int] = field(default_factory=set)

    @property
    def user(self) -> dict[str, Any]:
        return {k: self.info[k] for k in ("id", "is_bot", "first_name", "username")}


@dataclass
class _Record:
    message: dict[str, Any]
    sender: str  # "bot" | "user"
    sent_markup: dict[str, Any] | None = None  # non-inline markup as the bot sent it
    deleted: bool = False


@dataclass
class _Chat:
    chat: dict[str, Any]
    members: set[int] = field(default_factory=set)
    next_message_id: int = 1
    records: dict[int, _Record] = field(default_factory=dict)
    # message ids (int) and user events such as button presses (dict), in order
    log: list[int | dict[str, Any]] = field(default_factory=list)
    bot_message_ids: list[int] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    force_reply_to: int | None = None
    sent_times: deque[float] = field(default_factory=deque)

    @property
    def is_private(self) -> bool:
        return self.chat["type"] == "private"


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def media(self, **fields: Any) -> dict[str, Any]:
        """The object a message carries for this file (Document, Voice, Video, Sticker…):
        its ids and size, plus the fields of its kind."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            **fields,
        }

    def as_file(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _image_info(data: bytes) -> tuple[str | None, int, int]:
    """(extension, width, height) for the common image formats, else (None, 0, 0)."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            w, h = struct.unpack(">II", data[16:24])
            return ".png", w, h
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return ".gif", w, h
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return ".webp", 0, 0
        if data.startswith(b"BM"):
            return ".bmp", 0, 0
        if data.startswith(b"\xff\xd8"):
            return ".jpg", *_jpeg_size(data)
    except struct.error:
        pass
    return None, 0, 0


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + length
    return 0, 0


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims surrounding whitespace; entities must follow the shift."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = len(text) - len(text.lstrip())
    shift = len(text[:lead].encode("utf-16-le")) // 2
    total = len(stripped.encode("utf-16-le")) // 2
    fixed = []
    for e in entities:
        start = max(e["offset"] - shift, 0)
        end = min(e["offset"] + e["length"] - shift, total)
        if end > start:
            fixed.append({**e, "offset": start, "length": end - start})
    return stripped, fixed


def _command_entities(text: str) -> list[dict[str, Any]]:
    entities = []
    for m in _COMMAND_RE.finditer(text):
        offset = len(text[: m.start()].encode("utf-16-le")) // 2
        length = len(m.group(0).encode("utf-16-le")) // 2
        entities.append({"type": "bot_command", "offset": offset, "length": length})
    return entities


def _profile_setter(field_name: str, limit: int) -> Any:
    """A setMy* method storing one per-language profile text of the bot."""

    def method(self: TelegramEmulator, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        value = str(params.get(field_name) or "")
        if len(value) > limit:
            raise ApiError(400, f"Bad Request: {field_name} is too long")
        key = (field_name, str(params.get("language_code") or ""))
        if value:
            bot.profile[key] = value
        else:
            bot.profile.pop(key, None)
        return True

    return method


def _profile_getter(field_name: str) -> Any:
    """The matching getMy* method; falls back to the language-neutral value like Telegram."""

    def method(self: TelegramEmulator, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        lang = str(params.get("language_code") or "")
        value = bot.profile.get((field_name, lang), bot.profile.get((field_name, ""), ""))
        if field_name == "name" and not value:
            value = bot.info["first_name"]
        return {field_name: value}

    return method


class TelegramEmulator:
    """A fake Telegram: Bot API over HTTP plus a Python API that plays the users."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        enforce_limits: bool = True,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        group_per_minute: int = 20,
    ) -> None:
        self.host = host
        self.port = port
        self.enforce_limits = enforce_limits
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self.group_per_minute = group_per_minute

        self._lock = threading.RLock()
        self._updates_cv = threading.Condition(self._lock)
        self._sent_cv = threading.Condition(self._lock)
        self._stop_event = threading.Event()
        self._bots: dict[str, _Bot] = {}
        self._default_token: str | None = None
        # Counters survive reset() so a running bot's getUpdates offset and any ids
        # already stored by the application never collide with new ones.
        self._next_user_id = 1_000_001
        self._next_group = 1
        self._next_update_id = 1
        self._next_file = 1
        self._next_callback = 1
        # Links from the phone page to elsewhere ({label: url}: the demo's other messenger).
        self.elsewhere: dict[str, str] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._webhook_thread: threading.Thread | None = None
        self._init_state()

    def _init_state(self) -> None:
        self._users: dict[int, dict[str, Any]] = {}
        self._phones: dict[int, str] = {}
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._callback_answers: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._stats: dict[str, Any] = {
            "requests": 0,
            "messages_sent": 0,
            "http_429": 0,
            "http_403": 0,
            "http_5xx": 0,
            "http_4xx": 0,
            "updates_created": 0,
            "by_status": {},
        }

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> TelegramEmulator:
        if self._server is not None:
            return self
        self._stop_event.clear()
        self._server = make_server(
            self.host,
            self.port,
            create_app(self),
            threaded=True,
            request_handler=QuietRequestHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"telegram-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_event.set()
        with self._lock:
            # Wake long polls and waiters so their threads end with the server.
            self._updates_cv.notify_all()
            self._sent_cv.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in (self._thread, self._webhook_thread):
            if thread is not None:
                thread.join(timeout=5)
        self._thread = None
        self._webhook_thread = None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        # A wildcard bind address is not something a client can connect to.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/bot{0}/{1}"

    @property
    def file_url(self) -> str:
        return self.url + "/file/bot{0}/{1}"

    def phone_url(self, user_id: int) -> str:
        return f"{self.url}/phone?user={int(user_id)}"

    # --- setup -------------------------------------------------------------------------

    def register_bot(
        self,
        token: str = "123456:TEST",
        username: str = "kabinet_test_bot",
        first_name: str = "Клиника",
    ) -> dict[str, Any]:
        m = _TOKEN_RE.match(token)
        if not m:
            raise ValueError(f"token {token!r} does not look like '<digits>:<secret>'")
        info = {
            "id": int(m.group(1)),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        with self._lock:
            if token in self._bots:
                self._bots[token].info = info
            else:
                self._bots[token] = _Bot(token=token, info=info)
            if self._default_token is None:
                self._default_token = token
            return dict(info)

    def bots(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(b.info) for b in self._bots.values()]

    def create_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        phone_number: str | None = None,
    ) -> dict[str, Any]:
        if not first_name:
            raise ValueError("first_name is required")
        with self._lock:
            uid = self._next_user_id
            self._next_user_id += 1
            user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first_name}
            if last_name:
                user["last_name"] = last_name
            if username:
                user["username"] = username
            if language_code:
                user["language_code"] = language_code
            self._users[uid] = user
            if phone_number:
                self._phones[uid] = phone_number
            return dict(user)

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**u, "phone_number": self._phones.get(uid)} for uid, u in self._users.items()]

    def user_phone(self, user_id: int) -> str | None:
        with self._lock:
            return self._phones.get(user_id)

    def create_group(self, title: str, member_ids: Iterable[int] = ()) -> int:
        with self._lock:
            members = set(member_ids)
            unknown = members - set(self._users)
            if unknown:
                raise ValueError(f"unknown user ids: {sorted(unknown)}")
            gid = -(4_000_000_000 + self._next_group)
            self._next_group += 1
            self._chats[gid] = _Chat(
                chat={"id": gid, "title": title, "type": "group"}, members=members
            )
            return gid

    def add_member(self, chat_id: int, user_id: int) -> None:
        """The user joins the group (no service message: the bot is not told, as with
        privacy mode on and no admin rights)."""
        with self._lock:
            self._user(user_id)
            chat = self._chats.get(chat_id)
            if chat is None or chat.is_private:
                raise ValueError(f"unknown group {chat_id}")
            chat.members.add(user_id)

    def reset(self) -> None:
        with self._lock:
            for bot in self._bots.values():
                bot.updates.clear()
                bot.sent_times.clear()
                bot.started.clear()
                bot.blocked.clear()
            self._init_state()
            self._updates_cv.notify_all()
            self._sent_cv.notify_all()

    # --- the users' side ---------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        if not text:
            raise ValueError("text must not be empty")
        content: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user_id, chat_id, content, bot_token, reply_to_message_id)

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        first_name: str | None = None,
        last_name: str | None = None,
        contact_user_id: int | None | EllipsisType = ...,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        if not phone_number:
            raise ValueError("phone_number must not be empty")
        with self._lock:
            owner_id = user_id if contact_user_id is ... else contact_user_id
            if owner_id is not None and not isinstance(owner_id, int):
                raise ValueError("contact_user_id must be an int or None")
            owner = self._users.get(owner_id) if isinstance(owner_id, int) else None
            contact: dict[str, Any] = {"phone_number": phone_number}
            if first_name is None and owner is not None:
                first_name = owner["first_name"]
                last_name = last_name if last_name is not None else owner.get("last_name")
            contact["first_name"] = first_name or "Контакт"
            if last_name:
                contact["last_name"] = last_name
            if owner_id is not None:
                contact["user_id"] = owner_id
            if owner_id == user_id:
                # Telegram fills user_id only for the sender's own verified number.
                self._phones[user_id] = phone_number
            return self._user_message(user_id, chat_id, {"contact": contact}, bot_token)

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        if not data:
            raise ValueError("photo data must not be empty")
        with self._lock:
            stored = self._store_file(data, kind="photo")
            content: dict[str, Any] = {"photo": [self._photo_size(stored)]}
            if caption:
                content["caption"] = caption
            return self._user_message(user_id, chat_id, content, bot_token)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A file sent as a document (as Telegram sends it: file_name, mime_type, size)."""
        if not data:
            raise ValueError("document data must not be empty")
        with self._lock:
            mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            stored = self._store_file(data, kind="document", file_name=file_name, mime_type=mime)
            document = stored.media(
                file_name=file_name,
                mime_type=mime,
            )
            content: dict[str, Any] = {"document": document}
            if caption:
                content["caption"] = caption
            return self._user_message(user_id, chat_id, content, bot_token)

    def send_voice(
        self,
        user_id: int,
        data: bytes,
        duration: int = 1,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A voice note (OGG/Opus on Telegram)."""
        if not data:
            raise ValueError("voice data must not be empty")
        with self._lock:
            stored = self._store_file(data, kind="voice", mime_type="audio/ogg")
            voice = stored.media(
                duration=duration,
                mime_type="audio/ogg",
            )
            return self._user_message(user_id, chat_id, {"voice": voice}, bot_token)

    def send_video(
        self,
        user_id: int,
        data: bytes,
        duration: int = 1,
        caption: str | None = None,
        width: int = 640,
        height: int = 360,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A video (Bot API Video: width, height, duration, mime_type, file_size)."""
        if not data:
            raise ValueError("video data must not be empty")
        with self._lock:
            stored = self._store_file(data, kind="video", mime_type="video/mp4")
            video = stored.media(
                width=width,
                height=height,
                duration=duration,
                mime_type="video/mp4",
            )
            content: dict[str, Any] = {"video": video}
            if caption:
                content["caption"] = caption
            return self._user_message(user_id, chat_id, content, bot_token)

    def send_animation(
        self,
        user_id: int,
        data: bytes,
        file_name: str = "animation.mp4",
        duration: int = 1,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A GIF (Bot API Animation, an MPEG-4 without sound); like Telegram, the message
        carries it as a document too, for clients that know no animations."""
        if not data:
            raise ValueError("animation data must not be empty")
        with self._lock:
            stored = self._store_file(
                data, kind="animation", file_name=file_name, mime_type="video/mp4"
            )
            animation = stored.media(
                width=320,
                height=240,
                duration=duration,
                file_name=file_name,
                mime_type="video/mp4",
            )
            document = {
                k: animation[k]
                for k in ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")
            }
            content = {"animation": animation, "document": document}
            return self._user_message(user_id, chat_id, content, bot_token)

    def send_sticker(
        self,
        user_id: int,
        emoji: str = "👍",
        set_name: str = "HotCherry",
        data: bytes = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10",
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A static sticker from a set (Bot API Sticker: type "regular", a .webp file)."""
        with self._lock:
            stored = self._store_file(
                data, kind="sticker", file_name="sticker.webp", mime_type="image/webp"
            )
            sticker = stored.media(
                type="regular",
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
                emoji=emoji,
                set_name=set_name,
            )
            return self._user_message(user_id, chat_id, {"sticker": sticker}, bot_token)

    def send_location(
        self,
        user_id: int,
        latitude: float,
        longitude: float,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A point on the map (Bot API Location), as the attachment menu sends it."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("latitude or longitude out of range")
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user_id, chat_id, {"location": location}, bot_token)

    def send_venue(
        self,
        user_id: int,
        latitude: float,
        longitude: float,
        title: str,
        address: str,
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """A place picked on the map (Bot API Venue); like Telegram, the message carries
        its location as well, for clients that know no venues."""
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": dict(location), "title": title, "address": address}
        content = {"venue": venue, "location": location}
        return self._user_message(user_id, chat_id, content, bot_token)

    def send_dice(
        self,
        user_id: int,
        emoji: str = "🎲",
        chat_id: int | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """An animated die (Bot API Dice); Telegram's server picks the value, 1 to 6 here."""
        dice = {"emoji": emoji, "value": 1 + secrets.randbelow(6)}
        return self._user_message(user_id, chat_id, {"dice": dice}, bot_token)

    def edit_user_caption(
        self, user_id: int, message_id: int, caption: str, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user edits the caption of a photo, video or file they sent."""
        with self._lock:
            bot = self._resolve_bot(None)
            chat = self._private_chat(user_id) if chat_id in (None, user_id) else None
            if chat is None:
                chat = self._chats.get(chat_id)  # type: ignore[arg-type]
            rec = chat.records.get(message_id) if chat is not None else None
            if rec is None or rec.sender != "user" or rec.message["from"]["id"] != user_id:
                raise ValueError(f"user {user_id} sent no message {message_id} there")
            if not any(k in rec.message for k in ("photo", "video", "document", "audio")):
                raise ValueError("only a photo, video, audio or file has a caption to edit")
            rec.message["caption"] = caption
            rec.message["edit_date"] = int(time.time())
            return copy.deepcopy(self._enqueue(bot, "edited_message", copy.deepcopy(rec.message)))

    def edit_user_text(
        self, user_id: int, message_id: int, text: str, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user edits a text message they sent: the bot gets an edited_message."""
        if not text:
            raise ValueError("text must not be empty")
        with self._lock:
            bot = self._resolve_bot(None)
            chat = self._private_chat(user_id) if chat_id in (None, user_id) else None
            if chat is None:
                chat = self._chats.get(chat_id)  # type: ignore[arg-type]
            rec = chat.records.get(message_id) if chat is not None else None
            if rec is None or rec.sender != "user" or rec.message["from"]["id"] != user_id:
                raise ValueError(f"user {user_id} sent no message {message_id} there")
            if "text" not in rec.message:
                raise ValueError("only a text message can be edited this way")
            rec.message["text"] = text
            rec.message["edit_date"] = int(time.time())
            return copy.deepcopy(self._enqueue(bot, "edited_message", copy.deepcopy(rec.message)))

    def press(
        self,
        user_id: int,
        message_id: int,
        data: str,
        chat_id: int | None = None,
        force: bool = False,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            bot = self._resolve_bot(bot_token)
            user = self._user(user_id)
            cid = user_id if chat_id is None else chat_id
            chat = self._chats.get(cid)
            rec = chat.records.get(message_id) if chat else None
            if chat is None or rec is None or rec.sender != "bot" or rec.deleted:
                raise ValueError(f"chat {cid} has no message {message_id} from the bot")
            if chat.is_private and user_id in bot.blocked:
                raise ValueError(f"user {user_id} has blocked the bot")
            if not chat.is_private and user_id not in chat.members:
                raise ValueError(f"user {user_id} is not a member of chat {cid}")
            if len(str(data).encode()) > MAX_CALLBACK_DATA:
                raise ValueError("Telegram refuses callback data longer than 64 bytes")
            buttons = {
                b["callback_data"]: b.get("text", "")
                for row in rec.message.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
                if "callback_data" in b
            }
            if not force:
                offered = list(buttons)
                if data not in buttons:
                    raise ValueError(
                        f"message {message_id} in chat {cid} has no inline button with "
                        f"callback_data {data!r}; it offers {offered!r}"
                    )
            query_id = f"{self._next_callback}{secrets.randbelow(10**9):09d}"
            self._next_callback += 1
            query = {
                "id": query_id,
                "from": dict(user),
                "message": copy.deepcopy(rec.message),
                "chat_instance": str(7_000_000_000_000 + abs(cid)),
                "data": data,
            }
            event = {
                "from": "user",
                "callback_data": data,
                "message_id": message_id,
                "date": int(time.time()),
                "callback_query_id": query_id,
                "button_text": buttons.get(data),
                "reply_markup": None,
            }
            chat.log.append(event)
            self._callbacks[query_id] = {"event": event, "answered": False}
            return copy.deepcopy(self._enqueue(bot, "callback_query", query))

    def press_reply(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        phone_number: str | None = None,
        bot_token: str | None = None,
    ) -> dict[str, Any]:
        """Tap a button of the reply keyboard currently shown in the chat."""
        cid = user_id if chat_id is None else chat_id
        with self._lock:
            keyboard = self.reply_keyboard(cid)
            buttons = [b for row in (keyboard or {}).get("keyboard", []) for b in row]
            button = next((b for b in buttons if b.get("text") == text), None)
            if button is None:
                shown = [b.get("text") for b in buttons]
                raise ValueError(f"chat {cid} shows no reply button {text!r}; it shows {shown!r}")
            if button.get("request_contact"):
                phone = phone_number or self._phones.get(user_id)
                if not phone:
                    raise ValueError(f"user {user_id} has no phone number yet; pass phone_number=")
                return self.send_contact(user_id, phone, chat_id=chat_id, bot_token=bot_token)
            return self.send_text(user_id, text, chat_id=chat_id, bot_token=bot_token)

    def block_user(self, user_id: int, bot_token: str | None = None) -> None:
        self._set_blocked(user_id, True, bot_token)

    def unblock_user(self, user_id: int, bot_token: str | None = None) -> None:
        self._set_blocked(user_id, False, bot_token)

    def is_blocked(self, user_id: int, bot_token: str | None = None) -> bool:
        with self._lock:
            return user_id in self._resolve_bot(bot_token).blocked if self._bots else False

    def _set_blocked(self, user_id: int, blocked: bool, bot_token: str | None) -> None:
        with self._lock:
            bot = self._resolve_bot(bot_token)
            self._user(user_id)
            if (user_id in bot.blocked) == blocked:
                return
            if blocked:
                bot.blocked.add(user_id)
            else:
                bot.blocked.discard(user_id)
            self._chat_member_event(bot, user_id, "kicked" if blocked else "member")

    def _chat_member_event(self, bot: _Bot, user_id: int, status: str) -> None:
        user = self._users[user_id]
        chat = self._private_chat(user_id)
        old = "member" if status == "kicked" else "kicked"
        chat.log.append(
            {
                "from": "user",
                "event": "blocked" if status == "kicked" else "unblocked",
                "message_id": None,
                "date": int(time.time()),
                "reply_markup": None,
            }
        )
        bot_member = bot.user
        payload = {
            "chat": dict(chat.chat),
            "from": dict(user),
            "date": int(time.time()),
            "old_chat_member": {"status": old, "user": bot_member}
            | ({"until_date": 0} if old == "kicked" else {}),
            "new_chat_member": {"status": status, "user": bot_member}
            | ({"until_date": 0} if status == "kicked" else {}),
        }
        self._enqueue(bot, "my_chat_member", payload)

    # --- observing the bot -------------------------------------------------------------

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            return [self._message_view(chat.records[mid]) for mid in chat.bot_message_ids]

    def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            out = []
            for item in chat.log:
                if isinstance(item, int):
                    out.append(self._transcript_entry(chat.records[item]))
                else:
                    out.append(copy.deepcopy(item))
            return out

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        with self._lock:
            chat = self._chats.get(chat_id)
            return copy.deepcopy(chat.reply_keyboard) if chat else None

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                chat = self._chats.get(chat_id)
                have = len(chat.bot_message_ids) if chat else 0
                if have >= count:
                    return self.messages(chat_id)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop_event.is_set():
                    lines = "\n".join(
                        "  " + json.dumps(e, ensure_ascii=False) for e in self.transcript(chat_id)
                    )
                    raise TimeoutError(
                        f"chat {chat_id}: waited {timeout}s for {count} bot messages, "
                        f"got {have}; transcript:\n{lines or '  (empty)'}"
                    )
                self._sent_cv.wait(remaining)

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(a) for a in self._callback_answers]

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out = dict(self._stats)
            out["by_status"] = dict(self._stats["by_status"])
            out["pending_updates"] = sum(len(b.updates) for b in self._bots.values())
            return out

    def file_bytes(self, file_id: str) -> tuple[bytes, str | None] | None:
        with self._lock:
            f = self._files.get(file_id)
            return (f.data, f.mime_type) if f else None

    def download(self, token: str, file_path: str) -> bytes | None:
        with self._lock:
            if token not in self._bots:
                return None
            f = self._files_by_path.get(file_path)
            return f.data if f else None

    # --- faults ------------------------------------------------------------------------

    def inject_fault(
        self,
        kind: str,
        method: str | None = None,
        chat_id: int | str | None = None,
        count: int | None = 1,
        retry_after: int = 3,
        delay: float = 2.0,
        probability: float | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}, not {kind!r}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        fault = _Fault(
            kind=kind,
            method=method.lower() if method else None,
            chat_id=None if chat_id is None else str(chat_id),
            remaining=count,
            retry_after=max(1, int(retry_after)),
            delay=float(delay),
            probability=probability,
            rng=random.Random(seed),
        )
        with self._lock:
            self._faults.append(fault)
        return fault.describe()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def _take_fault(self, method: str, params: Mapping[str, Any]) -> _Fault | None:
        lowered = method.lower()
        for fault in self._faults:
            if fault.method is None:
                if lowered not in SEND_METHODS:
                    continue
            elif fault.method != lowered:
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != fault.chat_id:
                continue
            if fault.probability is not None and fault.rng.random() >= fault.probability:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    # --- Bot API dispatch ---------------------------------------------------------------

    def handle_api(
        self,
        token: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Upload] | None = None,
    ) -> ApiResponse:
        """Run one Bot API call; the HTTP layer is a thin shell around this."""
        started = time.time()
        params = self._decode_params(params or {})
        files = dict(files or {})
        entry = _METHODS.get(method.lower())
        name = entry[0] if entry else method
        with self._lock:
            self._stats["requests"] += 1
            bot = self._bots.get(token)
            fault = self._take_fault(name, params) if bot and entry else None
        response: ApiResponse
        if bot is None:
            response = _error_response(ApiError(401, "Unauthorized"))
        elif entry is None:
            response = _error_response(ApiError(404, "Not Found: method not found"))
        elif fault is not None and fault.kind not in ("slow", "lost_response"):
            response = self._fault_response(fault)
        else:
            if fault is not None and fault.kind == "slow":
                self._stop_event.wait(fault.delay)
            response = self._run(bot, entry[1], params, files)
            if fault is not None and fault.kind == "lost_response":
                # The call took effect but the client never hears so: the duplicate-send trap.
                self._stop_event.wait(fault.delay)
                response = ApiResponse(502, raw=_BAD_GATEWAY_HTML, content_type="text/html")
        self._record_call(bot, name, params, files, response.status, started)
        return response

    def _fault_response(self, fault: _Fault) -> ApiResponse:
        if fault.kind == "429":
            return _error_response(
                ApiError(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
            )
        if fault.kind == "500":
            return _error_response(ApiError(500, "Internal Server Error"))
        if fault.kind == "403":
            return _error_response(ApiError(403, MSG_BLOCKED))
        if fault.kind == "timeout":
            self._stop_event.wait(fault.delay)
        # Telegram's 502s come from its nginx front as HTML, not as a JSON error.
        return ApiResponse(502, raw=_BAD_GATEWAY_HTML, content_type="text/html")

    def _run(
        self, bot: _Bot, handler: Any, params: dict[str, Any], files: dict[str, Upload]
    ) -> ApiResponse:
        try:
            with self._lock:
                result = handler(self, bot, params, files)
            return ApiResponse(200, {"ok": True, "result": result})
        except ApiError as exc:
            return _error_response(exc)
        except EntityParseError as exc:
            return _error_response(ApiError(400, str(exc)))
        except (TypeError, ValueError):
            # A malformed parameter slipped past the checks: answer like Telegram does
            # instead of dropping the connection on the bot under test.
            log.debug("bad parameters for %s", params, exc_info=True)
            return _error_response(ApiError(400, "Bad Request: wrong parameter value"))
        except Exception:
            log.exception("telegram emulator failed on %s", params)
            return _error_response(ApiError(500, "Internal Server Error"))

    def _record_call(
        self,
        bot: _Bot | None,
        method: str,
        params: dict[str, Any],
        files: dict[str, Upload],
        status: int,
        started: float,
    ) -> None:
        logged = dict(params)
        for key, upload in files.items():
            logged[key] = {
                "filename": upload.filename,
                "size": len(upload.data),
                "content_type": upload.content_type,
            }
        with self._lock:
            self._calls.append(
                {
                    "method": method,
                    "params": logged,
                    "status": status,
                    "time": started,
                    "duration": time.time() - started,
                    "bot_id": bot.info["id"] if bot else None,
                }
            )
            by_status = self._stats["by_status"]
            by_status[status] = by_status.get(status, 0) + 1
            if status == 429:
                self._stats["http_429"] += 1
            elif status == 403:
                self._stats["http_403"] += 1
            elif status >= 500:
                self._stats["http_5xx"] += 1
            elif status >= 400:
                self._stats["http_4xx"] += 1

    @staticmethod
    def _decode_params(raw: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_PARAMS and isinstance(value, str | bytes):
                # Undecodable text stays as is; the method answers 400 when it needs it.
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            params[key] = value
        return params

    # --- helpers used by the methods (called with the lock held) ---------------------

    def _resolve_bot(self, token: str | None) -> _Bot:
        token = token or self._default_token
        if token is None or token not in self._bots:
            raise RuntimeError("register a bot first: emu.register_bot(token=..., ...)")
        return self._bots[token]

    def _user(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id}")
        return user

    def _private_chat(self, user_id: int) -> _Chat:
        chat = self._chats.get(user_id)
        if chat is None:
            user = self._users[user_id]
            info: dict[str, Any] = {"id": user_id}
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    info[key] = user[key]
            info["type"] = "private"
            chat = self._chats[user_id] = _Chat(chat=info, members={user_id})
        return chat

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        content: dict[str, Any],
        bot_token: str | None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            bot = self._resolve_bot(bot_token)
            user = self._user(user_id)
            if chat_id is None or chat_id == user_id:
                chat = self._private_chat(user_id)
                if user_id in bot.blocked:
                    # The client shows "Restart" instead of the input field for a blocked
                    # bot, so writing again means unblocking first.
                    bot.blocked.discard(user_id)
                    self._chat_member_event(bot, user_id, "member")
                bot.started.add(user_id)
            else:
                found = self._chats.get(chat_id)
                if found is None:
                    raise ValueError(f"unknown chat {chat_id}")
                if user_id not in found.members:
                    raise ValueError(f"user {user_id} is not a member of chat {chat_id}")
                chat = found
            mid = chat.next_message_id
            chat.next_message_id += 1
            message: dict[str, Any] = {
                "message_id": mid,
                "from": dict(user),
                "chat": dict(chat.chat),
                "date": int(time.time()),
            }
            reply_id = reply_to_message_id
            if reply_id is None and chat.force_reply_to is not None:
                reply_id = chat.force_reply_to
            chat.force_reply_to = None
            if reply_id is not None:
                target = chat.records.get(reply_id)
                if target is None or target.deleted:
                    raise ValueError(f"chat {chat.chat['id']} has no message {reply_id}")
                message["reply_to_message"] = _without_reply(target.message)
            message.update(content)
            chat.records[mid] = _Record(message=message, sender="user")
            chat.log.append(mid)
            self._after_user_input(chat, content)
            if not chat.is_private and not self._bot_sees(chat, message):
                # Privacy mode (every bot's default, can_read_all_group_messages false): in
                # a group the bot gets only commands and replies to its own messages.
                return copy.deepcopy(message)
            return copy.deepcopy(self._enqueue(bot, "message", copy.deepcopy(message)))

    @staticmethod
    def _bot_sees(chat: _Chat, message: dict[str, Any]) -> bool:
        if str(message.get("text", "")).startswith("/"):
            return True
        replied = message.get("reply_to_message")
        if replied is None:
            return False
        target = chat.records.get(replied["message_id"])
        return target is not None and target.sender == "bot"

    def _after_user_input(self, chat: _Chat, content: dict[str, Any]) -> None:
        keyboard = chat.reply_keyboard
        if not keyboard or not keyboard.get("one_time_keyboard"):
            return
        buttons = [b for row in keyboard.get("keyboard", []) for b in row]
        used = any(
            ("text" in content and b.get("text") == content["text"])
            or ("contact" in content and b.get("request_contact"))
            for b in buttons
        )
        if used:
            chat.reply_keyboard = None

    def _enqueue(self, bot: _Bot, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        allowed = bot.allowed_updates
        wanted = kind in allowed if allowed else kind not in DEFAULT_EXCLUDED_UPDATES
        if wanted:
            bot.updates.append(update)
            self._stats["updates_created"] += 1
            self._updates_cv.notify_all()
        return update

    def _message_view(self, rec: _Record) -> dict[str, Any]:
        view = copy.deepcopy(rec.message)
        if "reply_markup" not in view and rec.sent_markup is not None:
            view["reply_markup"] = copy.deepcopy(rec.sent_markup)
        if rec.deleted:
            view["deleted"] = True
        return view

    def _transcript_entry(self, rec: _Record) -> dict[str, Any]:
        m = rec.message
        entry: dict[str, Any] = {
            "from": rec.sender,
            "message_id": m["message_id"],
            "date": m["date"],
        }
        for key in ("text", "entities", "caption", "caption_entities", "contact", "edit_date"):
            if key in m:
                entry[key] = copy.deepcopy(m[key])
        if "photo" in m:
            biggest = m["photo"][-1]
            entry["photo"] = {**biggest, "url": f"/_emulator/files/{biggest['file_id']}"}
        if "document" in m:
            doc = m["document"]
            entry["document"] = {**doc, "url": f"/_emulator/files/{doc['file_id']}"}
        if "reply_to_message" in m:
            entry["reply_to_message_id"] = m["reply_to_message"]["message_id"]
        markup = m.get("reply_markup", rec.sent_markup)
        entry["reply_markup"] = copy.deepcopy(markup)
        if rec.deleted:
            entry["deleted"] = True
        return entry

    def _store_file(
        self,
        data: bytes,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> _File:
        n = self._next_file
        self._next_file += 1
        if kind == "photo":
            ext = _image_info(data)[0] or ".jpg"
            mime_type = mimetypes.types_map.get(ext, "image/jpeg")
            path = f"photos/file_{n}{ext}"
            prefix = "AgACAgIAAxkBAAI"
        elif kind == "voice":
            path = f"voice/file_{n}.oga"
            prefix = "AwACAgIAAxkBAAI"
        else:
            ext = mimetypes.guess_extension(mime_type or "") or ""
            if file_name and "." in file_name:
                ext = "." + file_name.rsplit(".", 1)[1]
            # Telegram keeps each kind in its own folder of the bot's files.
            folder = {"video": "videos", "sticker": "stickers", "animation": "animations"}.get(
                kind, "documents"
            )
            path = f"{folder}/file_{n}{ext}"
            prefix = {"video": "BAACAgIAAxkBAAI", "sticker": "CAACAgIAAxkBAAI"}.get(
                kind, "BQACAgIAAxkBAAI"
            )
        stored = _File(
            file_id=f"{prefix}{n:05d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AQAD{n:05d}{secrets.token_urlsafe(6)}",
            file_path=path,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[path] = stored
        return stored

    @staticmethod
    def _photo_size(stored: _File) -> dict[str, Any]:
        _, width, height = _image_info(stored.data)
        return stored.media(
            width=width or 1,
            height=height or 1,
        )

    def _target_chat(self, bot: _Bot, params: Mapping[str, Any]) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            cid = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, MSG_CHAT_NOT_FOUND) from None
        if cid > 0:
            if cid not in self._users:
                raise ApiError(400, MSG_CHAT_NOT_FOUND)
            if cid in bot.blocked:
                raise ApiError(403, MSG_BLOCKED)
            if cid not in bot.started or cid not in self._chats:
                raise ApiError(403, MSG_CANT_INITIATE)
        chat = self._chats.get(cid)
        if chat is None:
            raise ApiError(400, MSG_CHAT_NOT_FOUND)
        return chat

    def _check_limits(self, bot: _Bot, chat: _Chat) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        windows = [(bot.sent_times, 1.0, self.global_per_second)]
        if chat.is_private:
            windows.append((chat.sent_times, 1.0, self.per_chat_per_second))
        else:
            windows.append((chat.sent_times, 60.0, self.group_per_minute))
        for times, span, limit in windows:
            while times and times[0] <= now - span:
                times.popleft()
            if len(times) >= limit:
                wait = max(1, math.ceil(times[0] + span - now))
                raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})

    def _count_sent(self, bot: _Bot, chat: _Chat) -> None:
        if self.enforce_limits:
            now = time.monotonic()
            bot.sent_times.append(now)
            chat.sent_times.append(now)

    def _parse_markup(self, params: Mapping[str, Any], chat: _Chat) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return {"inline_keyboard": _validate_inline_keyboard(markup["inline_keyboard"])}
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            normalized = [
                [b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in rows
            ]
            for row in normalized:
                for button in row:
                    if not button.get("text"):
                        raise ApiError(400, "Bad Request: keyboard button text must be non-empty")
                    if button.get("request_contact") and not chat.is_private:
                        raise ApiError(
                            400, "Bad Request: phone number can be requested in private chats only"
                        )
            return {**markup, "keyboard": normalized}
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return dict(markup)
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")

    def _new_bot_message(
        self, bot: _Bot, chat: _Chat, params: Mapping[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        """Validate the common parts of a send, apply limits, and store the message."""
        markup = self._parse_markup(params, chat)
        reply = self._reply_target(chat, params)
        self._check_limits(bot, chat)
        mid = chat.next_message_id
        chat.next_message_id += 1
        message: dict[str, Any] = {
            "message_id": mid,
            "from": bot.user,
            "chat": dict(chat.chat),
            "date": int(time.time()),
        }
        if reply is not None:
            message["reply_to_message"] = _without_reply(reply.message)
        message.update(content)
        rec = _Record(message=message, sender="bot")
        if markup is not None:
            if "inline_keyboard" in markup:
                message["reply_markup"] = markup
            else:
                rec.sent_markup = markup
                if "keyboard" in markup:
                    chat.reply_keyboard = markup
                elif markup.get("remove_keyboard"):
                    chat.reply_keyboard = None
                if markup.get("force_reply"):
                    chat.force_reply_to = mid
        chat.records[mid] = rec
        chat.log.append(mid)
        chat.bot_message_ids.append(mid)
        self._count_sent(bot, chat)
        self._stats["messages_sent"] += 1
        self._sent_cv.notify_all()
        return copy.deepcopy(message)

    def _reply_target(self, chat: _Chat, params: Mapping[str, Any]) -> _Record | None:
        reply_params = params.get("reply_parameters")
        allow_missing = _bool(params.get("allow_sending_without_reply", False))
        reply_id: Any = params.get("reply_to_message_id")
        if isinstance(reply_params, dict):
            reply_id = reply_params.get("message_id")
            allow_missing = _bool(reply_params.get("allow_sending_without_reply", False))
        elif isinstance(reply_params, str) and reply_params:
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        if reply_id in (None, ""):
            return None
        try:
            rec = chat.records.get(int(reply_id))
        except (TypeError, ValueError):
            rec = None
        if rec is None or rec.deleted:
            if allow_missing:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return rec

    def _text_content(
        self, params: Mapping[str, Any], key: str = "text", entities_key: str = "entities"
    ) -> dict[str, Any]:
        raw = params.get(key)
        if raw is None or str(raw) == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text, entities = parse_text(str(raw), params.get("parse_mode"))
        explicit = params.get(entities_key)
        if isinstance(explicit, list):
            entities = explicit
        text, entities = _strip_text(text, entities)
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(self, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = params.get("caption")
        if raw is None or str(raw) == "":
            return {}
        caption, entities = parse_text(str(raw), params.get("parse_mode"))
        explicit = params.get("caption_entities")
        if isinstance(explicit, list):
            entities = explicit
        caption, entities = _strip_text(caption, entities)
        if len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        content: dict[str, Any] = {"caption": caption} if caption else {}
        if entities and caption:
            content["caption_entities"] = entities
        return content

    def _input_file(
        self, params: Mapping[str, Any], files: Mapping[str, Upload], key: str, kind: str
    ) -> _File:
        value = params.get(key)
        upload = files.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
            value = None
        if upload is not None:
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if kind == "photo" and _image_info(upload.data)[0] is None:
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            return self._store_file(upload.data, kind, upload.filename, mime)
        if not value:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        value = str(value)
        if value in self._files:
            return self._files[value]
        if value.startswith(("http://", "https://")):
            # No internet in the sandbox: keep the URL as an empty placeholder file.
            name = value.rsplit("/", 1)[-1] or None
            return self._store_file(b"", kind, name, mimetypes.guess_type(value)[0])
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _edit_target(self, bot: _Bot, params: Mapping[str, Any]) -> _Record:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._target_chat(bot, params)
        try:
            mid = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            mid = 0
        if not mid:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        rec = chat.records.get(mid)
        if rec is None or rec.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if rec.sender != "bot":
            raise ApiError(400, "Bad Request: message can't be edited")
        return rec

    def _edit_markup(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            raise ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
        return {"inline_keyboard": _validate_inline_keyboard(markup["inline_keyboard"])}

    def _apply_edit(
        self, rec: _Record, changes: dict[str, Any], markup: dict[str, Any] | None
    ) -> Any:
        m = rec.message
        unchanged = all((m.get(k) or None) == (v or None) for k, v in changes.items())
        if unchanged and m.get("reply_markup") == markup:
            raise ApiError(400, MSG_NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                m.pop(key, None)
            else:
                m[key] = value
        # Editing without reply_markup drops the inline keyboard, as on real Telegram.
        if markup is None:
            m.pop("reply_markup", None)
        else:
            m["reply_markup"] = markup
        m["edit_date"] = int(time.time())
        return copy.deepcopy(m)

    # --- methods (each called with the lock held; return the "result") -------------------

    def _m_get_me(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return dict(bot.info)

    def _m_ok(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return True

    def _m_get_updates(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        if bot.webhook:
            raise ApiError(409, MSG_WEBHOOK_ACTIVE)
        try:
            offset = int(params.get("offset") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 100)
            timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_POLL_TIMEOUT)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: wrong parameter in getUpdates request") from None
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed] or None
        if offset > 0:
            while bot.updates and bot.updates[0]["update_id"] < offset:
                bot.updates.popleft()
        elif offset < 0:
            while len(bot.updates) > -offset:
                bot.updates.popleft()
        bot.poll_generation += 1
        generation = bot.poll_generation
        # An older long poll of the same bot is told it was superseded.
        self._updates_cv.notify_all()
        deadline = time.monotonic() + timeout
        while True:
            if bot.updates:
                return [bot.updates[i] for i in range(min(limit, len(bot.updates)))]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop_event.is_set():
                return []
            self._updates_cv.wait(remaining)
            if bot.poll_generation != generation:
                raise ApiError(409, MSG_TERMINATED)
            if bot.webhook:
                raise ApiError(409, MSG_WEBHOOK_ACTIVE)

    def _m_send_message(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat = self._target_chat(bot, params)
        content = self._text_content(params)
        return self._new_bot_message(bot, chat, params, content)

    def _m_send_photo(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat = self._target_chat(bot, params)
        caption = self._caption_content(params)
        stored = self._input_file(params, files, "photo", "photo")
        content = {"photo": [self._photo_size(stored)], **caption}
        return self._new_bot_message(bot, chat, params, content)

    def _m_send_document(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat = self._target_chat(bot, params)
        caption = self._caption_content(params)
        stored = self._input_file(params, files, "document", "document")
        document: dict[str, Any] = stored.media()
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return self._new_bot_message(bot, chat, params, {"document": document, **caption})

    def _m_edit_message_text(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        rec = self._edit_target(bot, params)
        if "text" not in rec.message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        content = self._text_content(params)
        changes = {"text": content["text"], "entities": content.get("entities")}
        return self._apply_edit(rec, changes, self._edit_markup(params))

    def _m_edit_message_caption(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        rec = self._edit_target(bot, params)
        if "text" in rec.message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        content = self._caption_content(params)
        changes = {
            "caption": content.get("caption"),
            "caption_entities": content.get("caption_entities"),
        }
        return self._apply_edit(rec, changes, self._edit_markup(params))

    def _m_edit_message_reply_markup(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        rec = self._edit_target(bot, params)
        return self._apply_edit(rec, {}, self._edit_markup(params))

    def _m_delete_message(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat = self._target_chat(bot, params)
        try:
            rec = chat.records.get(int(params.get("message_id") or 0))
        except (TypeError, ValueError):
            rec = None
        if rec is None or rec.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        rec.deleted = True
        return True

    def _m_answer_callback_query(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        pending = self._callbacks.get(query_id)
        if pending is None or pending["answered"]:
            raise ApiError(400, MSG_QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        pending["answered"] = True
        answer = {
            "callback_query_id": query_id,
            "text": text,
            "show_alert": _bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": params.get("cache_time"),
            "time": time.time(),
        }
        self._callback_answers.append(answer)
        pending["event"]["answer"] = {"text": text, "show_alert": answer["show_alert"]}
        return True

    def _m_get_file(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > GET_FILE_MAX_BYTES:
            # What the Bot API answers for files a bot may not download (over 20 MB).
            raise ApiError(400, "Bad Request: file is too big")
        return stored.as_file()

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_set_my_commands(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        cleaned = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            command = str(item.get("command", "")).lstrip("/")
            description = str(item.get("description", ""))
            if not _BOT_COMMAND_NAME_RE.match(command):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        key = self._commands_key(params)
        if cleaned:
            bot.commands[key] = cleaned
        else:
            bot.commands.pop(key, None)
        return True

    def _m_get_my_commands(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return copy.deepcopy(bot.commands.get(self._commands_key(params), []))

    def _m_delete_my_commands(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        bot.commands.pop(self._commands_key(params), None)
        return True

    _m_set_my_name = _profile_setter("name", 64)
    _m_get_my_name = _profile_getter("name")
    _m_set_my_description = _profile_setter("description", 512)
    _m_get_my_description = _profile_getter("description")
    _m_set_my_short_description = _profile_setter("short_description", 120)
    _m_get_my_short_description = _profile_getter("short_description")

    def _m_set_chat_menu_button(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if isinstance(button, str):
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        bot.menu_buttons[str(params.get("chat_id") or "")] = button
        return True

    def _m_get_chat_menu_button(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        key = str(params.get("chat_id") or "")
        return bot.menu_buttons.get(key, bot.menu_buttons.get("", {"type": "commands"}))

    def _m_set_webhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        url = str(params.get("url") or "")
        if _bool(params.get("drop_pending_updates", False)):
            bot.updates.clear()
        if not url:
            bot.webhook = None
            return True
        if not url.startswith(("http://", "https://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed] or None
        bot.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "max_connections": int(params.get("max_connections") or 40),
            "ip_address": params.get("ip_address"),
            "has_custom_certificate": "certificate" in files,
            "last_error_date": None,
            "last_error_message": None,
        }
        bot.webhook_retry_at = 0.0
        # A waiting long poll must learn that the webhook now owns the updates.
        self._updates_cv.notify_all()
        self._ensure_webhook_thread()
        return True

    def _m_delete_webhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        bot.webhook = None
        if _bool(params.get("drop_pending_updates", False)):
            bot.updates.clear()
        return True

    def _m_get_webhook_info(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        hook = bot.webhook
        if hook:
            info["url"] = hook["url"]
            info["has_custom_certificate"] = hook["has_custom_certificate"]
            info["max_connections"] = hook["max_connections"]
            if hook["ip_address"]:
                info["ip_address"] = hook["ip_address"]
            if hook["last_error_date"]:
                info["last_error_date"] = hook["last_error_date"]
                info["last_error_message"] = hook["last_error_message"]
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
        return info

    def _m_get_chat(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        try:
            chat = self._chats.get(int(params.get("chat_id") or 0))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise ApiError(400, MSG_CHAT_NOT_FOUND)
        return {**chat.chat, "accent_color_id": 0, "max_reaction_count": 11}

    def _m_get_chat_member(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        try:
            chat = self._chats.get(int(params.get("chat_id") or 0))
            user_id = int(params.get("user_id") or 0)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: invalid user_id specified") from None
        if chat is None:
            raise ApiError(400, MSG_CHAT_NOT_FOUND)
        if user_id == bot.info["id"]:
            return {"status": "member", "user": bot.user}
        user = self._users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = "member" if user_id in chat.members else "left"
        return {"status": status, "user": dict(user)}

    def _m_send_chat_action(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        self._target_chat(bot, params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    # --- webhook delivery --------------------------------------------------------------

    def _ensure_webhook_thread(self) -> None:
        if self._webhook_thread is None or not self._webhook_thread.is_alive():
            self._webhook_thread = threading.Thread(
                target=self._webhook_loop, name="telegram-emulator-webhook", daemon=True
            )
            self._webhook_thread.start()

    def _next_webhook_job(self) -> tuple[_Bot, dict[str, Any], dict[str, Any]] | None:
        now = time.monotonic()
        for bot in self._bots.values():
            if bot.webhook and bot.updates and now >= bot.webhook_retry_at:
                return bot, dict(bot.webhook), bot.updates[0]
        return None

    def _webhook_loop(self) -> None:
        import requests

        session = requests.Session()
        while True:
            with self._lock:
                job = None
                while not self._stop_event.is_set():
                    job = self._next_webhook_job()
                    if job is not None:
                        break
                    self._updates_cv.wait(0.5)
                if job is None:
                    return
            bot, hook, update = job
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
            error = None
            try:
                body = json.dumps(update, ensure_ascii=False).encode()
                reply = session.post(hook["url"], data=body, headers=headers, timeout=10)
                if not 200 <= reply.status_code < 300:
                    error = f"Wrong response from the webhook: {reply.status_code} {reply.reason}"
            except requests.RequestException as exc:
                error = f"Connection failed: {type(exc).__name__}"
            with self._lock:
                if bot.updates and bot.updates[0] is update:
                    if error is None:
                        bot.updates.popleft()
                    elif bot.webhook is not None:
                        bot.webhook["last_error_date"] = int(time.time())
                        bot.webhook["last_error_message"] = error
                        bot.webhook_retry_at = time.monotonic() + 1.0


def _error_response(exc: ApiError) -> ApiResponse:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return ApiResponse(exc.code, body)


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    # Telegram nests replies one level deep only.
    nested = copy.deepcopy(message)
    nested.pop("reply_to_message", None)
    return nested


def _validate_inline_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button JSON object")
            actions = [a for a in INLINE_BUTTON_ACTIONS if a in button]
            if not actions:
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if "url" in button and not str(button["url"]).startswith(
                ("http://", "https://", "tg://")
            ):
                raise ApiError(
                    400, f"Bad Request: inline keyboard button URL '{button['url']}' is invalid"
                )
    return rows


_M = TelegramEmulator
_METHODS: dict[str, tuple[str, Any]] = {
    name.lower(): (name, handler)
    for name, handler in (
        ("getMe", _M._m_get_me),
        ("getUpdates", _M._m_get_updates),
        ("sendMessage", _M._m_send_message),
        ("sendPhoto", _M._m_send_photo),
        ("sendDocument", _M._m_send_document),
        ("editMessageText", _M._m_edit_message_text),
        ("editMessageCaption", _M._m_edit_message_caption),
        ("editMessageReplyMarkup", _M._m_edit_message_reply_markup),
        ("deleteMessage", _M._m_delete_message),
        ("answerCallbackQuery", _M._m_answer_callback_query),
        ("getFile", _M._m_get_file),
        ("setMyCommands", _M._m_set_my_commands),
        ("getMyCommands", _M._m_get_my_commands),
        ("deleteMyCommands", _M._m_delete_my_commands),
        ("setWebhook", _M._m_set_webhook),
        ("deleteWebhook", _M._m_delete_webhook),
        ("getWebhookInfo", _M._m_get_webhook_info),
        ("getChat", _M._m_get_chat),
        ("getChatMember", _M._m_get_chat_member),
        ("sendChatAction", _M._m_send_chat_action),
        ("setMyName", _M._m_set_my_name),
        ("getMyName", _M._m_get_my_name),
        ("setMyDescription", _M._m_set_my_description),
        ("getMyDescription", _M._m_get_my_description),
        ("setMyShortDescription", _M._m_set_my_short_description),
        ("getMyShortDescription", _M._m_get_my_short_description),
        ("setChatMenuButton", _M._m_set_chat_menu_button),
        ("getChatMenuButton", _M._m_get_chat_menu_button),
        ("close", _M._m_ok),
        ("logOut", _M._m_ok),
    )
}
