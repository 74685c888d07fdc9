"""MAX (by VK) as one adapter of the conversation layer: a thin client on `requests`.

Why not the official ``maxapi``: it is asyncio and aiohttp throughout (its bot, its polling,
its every call), while the appliance has one synchronous runner whose outbox dispatcher
calls each transport from worker threads and whose updates are stored before they are
handled. Running an event loop per call, or a second runner just for MAX, would cost more
than the dozen requests this needs; their shapes follow MAX's official OpenAPI schema
(sandbox/max/schema.json holds the part used, and the tests check this adapter's requests
against it through the emulator).

Identity (what a MAX contact proves), settled from the schema: a ``contact`` attachment's
payload is ``vcf_info`` (a vCard), ``hash`` ("User info in VCF format hash", with no
algorithm or key published, so a bot cannot check it) and ``max_info`` (a User, when the
card is a MAX user's). A ``request_contact`` button makes the client send "the current
user's contact", but the schema promises nothing about the vCard's number being the
account's verified one, and a card picked from the address book looks the same apart from
``max_info``. So:

- ``own`` = ``max_info.user_id`` equals the sender's ``user_id`` (the card is the sender's
  own account, as Telegram's ``contact.user_id == from.id``); anything else is refused.
- ``number_proven`` is always False: even an own card does not prove the phone, so
  linking needs a one-time code sent by SMS to the number in the MIS
  (bot_handlers/phone_code.py). Never a typed number.

Message ids: MAX's are strings (``mid.…``); the outbox and the button check keep integers,
so each mid gets a local integer (core.models.MaxMessage), the same one every time.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

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
from core.db import make_engine, session_factory, transaction
from core.models import MaxMessage

log = logging.getLogger(__name__)

NAME = "max"
API_URL = "https://platform-api2.max.ru"
SEND_TIMEOUT = 15
# A just-uploaded file may not be attachable for a moment; MAX's own client waits 2 s.
NOT_READY_RETRIES = 5
NOT_READY_WAIT = 2.0
UPDATE_TYPES = [
    "bot_started",
    "bot_stopped",
    "message_created",
    "message_callback",
    "message_edited",
]
# The attachments a patient's message is filed as; others (a link's preview, "share", the
# bot's own keyboard) leave the message its text.
_FILED = ("image", "file", "audio", "video", "sticker", "location")
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE | re.IGNORECASE)


def deep_link(bot_name: str, payload: str) -> str:
    """https://max.ru/<bot>?start=<payload>; MAX drops (does not cut) a payload over 128."""
    if len(payload) > 128:
        raise ValueError("a MAX start payload is at most 128 characters")
    return f"https://max.ru/{bot_name}?start={payload}"


# --- the HTTP client ------------------------------------------------------------------------


def multipart_file(field: str, file_name: str, data: bytes) -> tuple[bytes, str]:
    """One file as a multipart/form-data body, written here rather than by requests: once
    pyTelegramBotAPI has sent a file it rewrites urllib3's header formatting for the whole
    process (file names unquoted, so «Договор на услуги.pdf» breaks the part's header).
    The name is written the way RFC 7578 and browsers do: UTF-8, quoted, with the quote and
    line breaks percent-escaped."""
    boundary = uuid.uuid4().hex
    quoted = file_name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class MaxClient:
    def __init__(self, token: str, api_url: str = "", timeout: float = SEND_TIMEOUT) -> None:
        self.base = (api_url or API_URL).rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        # The token goes in the header only: MAX no longer accepts it in the query string.
        self.http.headers["Authorization"] = token

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        try:
            response = self.http.request(
                method,
                self.base + path,
                params=params,
                json=body,
                timeout=timeout or self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryError("transient", f"network: {exc.__class__.__name__}") from None
        if response.status_code == 200:
            return response.json()
        raise classify(response)


def classify(response: requests.Response) -> DeliveryError:
    status = response.status_code
    try:
        error = response.json()
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except ValueError:
        code, message = "", response.text[:200]
    detail = f"HTTP {status} {code}: {message}".strip()
    if status == 429:
        retry = response.headers.get("Retry-After", "")
        return DeliveryError("rate_limited", detail, float(retry) if retry.isdigit() else 1.0)
    if status == 403:
        return DeliveryError("forbidden", detail)
    if status == 400 and code == "attachment.not.ready":
        return DeliveryError("transient", detail)
    if 400 <= status < 500:
        return DeliveryError("rejected", detail)
    return DeliveryError("transient", detail)


# --- message ids -----------------------------------------------------------------------------


def local_id(session: Session, mid: str) -> int:
    """The local integer of a MAX message id (made the first time it is seen)."""
    found = session.scalar(select(MaxMessage.id).where(MaxMessage.mid == mid))
    if found is not None:
        return int(found)
    row = MaxMessage(mid=mid)
    session.add(row)
    session.flush()
    return int(row.id)


def mid_of(session: Session, message_id: int) -> str:
    row = session.get(MaxMessage, message_id)
    if row is None:
        raise DeliveryError("rejected", f"no MAX message known as {message_id}")
    return row.mid


# --- inbound --------------------------------------------------------------------------------


def _user(user: Mapping[str, Any], locale: str = "") -> User:
    return User(
        id=int(user["user_id"]),
        first_name=user.get("first_name") or "",
        last_name=user.get("last_name") or "",
        username=user.get("username") or "",
        language=locale or "",
    )


def _vcf_phone(vcf: str) -> str:
    found = _TEL.search(vcf or "")
    return found.group(1).strip() if found else ""


def update_event(update: Mapping[str, Any], ids: Callable[[str], int]) -> Event | None:
    """The event a MAX update is, or None for what the layer does not handle. `ids` gives
    the local integer of a mid."""
    kind = update.get("update_type")
    locale = update.get("user_locale") or ""
    if kind in ("bot_started", "bot_stopped"):
        user = _user(update["user"], locale)
        chat = Chat(id=int(update["chat_id"]), private=True)  # only dialogs have these
        if kind == "bot_stopped":
            return Membership(channel=NAME, chat=chat, user=user, blocked=True)
        # A Start has no message; its time stands in for the id the answer's key is made of
        # (a second Start in the dialog — another deep link, a restart — is answered too,
        # and the same update handled again keeps its key).
        return Start(
            channel=NAME,
            chat=chat,
            user=user,
            payload=update.get("payload") or "",
            message_id=int(update.get("timestamp") or 0),
        )
    if kind == "message_callback":
        callback = update["callback"]
        message = update.get("message") or {}
        recipient = message.get("recipient") or {}
        body = message.get("body") or {}
        dialog = recipient.get("chat_type") == "dialog"
        presser = callback["user"]["user_id"]
        # A mid names one message anywhere in MAX (Telegram's ids are per chat), so a press
        # names its chat through the message. In a dialog only its person can press: a
        # press on someone else's dialog message (a modified client) gets no chat, and the
        # router refuses it like any button the outbox never put there.
        if dialog and recipient.get("user_id") not in (None, presser):
            chat = Chat(id=0, private=False)
        else:
            chat = Chat(id=int(recipient.get("chat_id") or 0), private=dialog)
        return Press(
            channel=NAME,
            chat=chat,
            user=_user(callback["user"], locale),
            message_id=ids(body["mid"]) if body.get("mid") else 0,
            press_id=str(callback["callback_id"]),
            data=callback.get("payload") or "",
            message_text=body.get("text") or "",
            keyboard=keyboard_of(body.get("attachments") or []),
        )
    if kind not in ("message_created", "message_edited"):
        return None
    message = update["message"]
    sender = message.get("sender")
    if not sender:  # posted on behalf of a channel: nobody to answer
        return None
    recipient = message["recipient"]
    body = message["body"]
    base: dict[str, Any] = {
        "channel": NAME,
        "chat": Chat(
            id=int(recipient.get("chat_id") or 0), private=recipient.get("chat_type") == "dialog"
        ),
        "user": _user(sender, locale),
        "message_id": ids(body["mid"]),
    }
    text = body.get("text") or ""
    if kind == "message_edited":
        return Edited(**base, text=text)
    for attachment in body.get("attachments") or []:
        if attachment.get("type") == "contact":
            payload = attachment.get("payload") or {}
            info = payload.get("max_info") or {}
            return Contact(
                **base,
                phone=_vcf_phone(payload.get("vcf_info") or ""),
                own=bool(info) and info.get("user_id") == sender["user_id"],
                first_name=info.get("first_name") or "",
                last_name=info.get("last_name") or "",
                number_proven=False,  # see the module's docstring
            )
        if attachment.get("type") in _FILED:
            return _attachment(base, attachment, text)
    if not text and body.get("attachments"):  # only kinds nobody at the clinic can act on
        kinds = ",".join(str(a.get("type")) for a in body["attachments"])
        return Attachment(**base, kind="unsupported", extra={"type": kinds})
    if text.startswith("/"):
        head, _, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        if name == "start":
            return Start(**base, payload=args.strip())
        return Command(**base, name=name, args=args.strip())
    return Text(**base, text=text)


def _attachment(base: dict[str, Any], attachment: Mapping[str, Any], text: str) -> Attachment:
    kind = str(attachment.get("type"))
    payload = attachment.get("payload") or {}
    if kind == "location":
        lat, lon = attachment.get("latitude", 0.0), attachment.get("longitude", 0.0)
        return Attachment(**base, kind="location", text=f"{lat:.6f}, {lon:.6f}")
    if kind == "sticker":
        # As Telegram's: a line saying "sticker", nothing downloaded (MAX gives a code, no
        # emoji).
        return Attachment(**base, kind="sticker", extra={"emoji": ""})
    # MAX has no voice type: its client sends a voice note as ``audio`` (a music file goes
    # as a ``file``), so audio is the thread's voice note, as Telegram's voice.
    mapped = {"image": "photo", "file": "document", "audio": "voice"}.get(kind, kind)
    return Attachment(
        **base,
        kind=mapped,
        text=text,
        # fetch_file downloads it. (For a video the schema says the URL may not be a direct
        # link — GET /videos/{token} lists those —; not handled yet: a failed download
        # leaves the line "failed" with the reason, the staff still see it.)
        file_id=str(payload.get("url") or ""),
        file_name=str(attachment.get("filename") or ""),
        mime_type="image/jpeg" if kind == "image" else "",
        file_size=attachment.get("size"),  # a file's, known before the download
    )


# --- outbound: keyboards --------------------------------------------------------------------


def buttons_of(keyboard: Keyboard | None) -> list[list[dict[str, Any]]]:
    """The layer's keyboard as MAX's button rows (see base.py for the mapping)."""
    rows: list[list[dict[str, Any]]] = []
    for row in (keyboard or {}).get("inline_keyboard") or []:
        out: list[dict[str, Any]] = []
        for b in row:
            if "url" in b:
                out.append({"type": "link", "text": b["text"], "url": b["url"]})
            else:
                out.append(
                    {"type": "callback", "text": b["text"], "payload": b.get("callback_data", "")}
                )
        rows.append(out)
    # MAX has no keyboard below the input field: its buttons go under the message.
    for reply_row in (keyboard or {}).get("keyboard") or []:
        rows.append(
            [
                {
                    "type": "request_contact" if b.get("request_contact") else "message",
                    "text": b["text"],
                }
                for b in reply_row
            ]
        )
    return [r for r in rows if r]


def keyboard_attachments(keyboard: Keyboard | None) -> list[dict[str, Any]]:
    rows = buttons_of(keyboard)
    return [{"type": "inline_keyboard", "payload": {"buttons": rows}}] if rows else []


def keyboard_of(attachments: Sequence[Mapping[str, Any]]) -> Keyboard | None:
    """A message's MAX buttons back in the layer's shape (callback and link buttons)."""
    for a in attachments:
        if a.get("type") == "inline_keyboard":
            rows = []
            for row in (a.get("payload") or {}).get("buttons") or []:
                out: list[Any] = []
                for b in row:
                    if b.get("type") == "callback":
                        out.append({"text": b["text"], "callback_data": b.get("payload", "")})
                    elif b.get("type") == "link":
                        out.append({"text": b["text"], "url": b.get("url", "")})
                if out:
                    rows.append(out)
            return {"inline_keyboard": rows}
    return None


def _format(parse_mode: str) -> str | None:
    return {"HTML": "html", "Markdown": "markdown", "MarkdownV2": "markdown"}.get(parse_mode)


# --- the channel ----------------------------------------------------------------------------


class MaxChannel:
    name = NAME

    def __init__(self, client: MaxClient, factory: sessionmaker[Session]) -> None:
        self.client = client
        self.factory = factory

    def _local(self, mid: str) -> int:
        try:
            with transaction(self.factory) as session:
                return local_id(session, mid)
        except IntegrityError:  # made meanwhile by the inbound side: read it
            with self.factory() as session:
                return local_id(session, mid)

    def _mid(self, message_id: int) -> str:
        with self.factory() as session:
            return mid_of(session, message_id)

    def send_text(
        self, chat_id: int, text: str, keyboard: Keyboard | None = None, parse_mode: str = ""
    ) -> int:
        return self._send(chat_id, text, keyboard_attachments(keyboard), parse_mode)

    def _send(
        self, chat_id: int, text: str, attachments: list[dict[str, Any]], parse_mode: str = ""
    ) -> int:
        body: dict[str, Any] = {"text": text or None, "attachments": attachments or None}
        if _format(parse_mode):
            body["format"] = _format(parse_mode)
        for attempt in range(NOT_READY_RETRIES + 1):
            try:
                result = self.client.call("POST", "/messages", {"chat_id": chat_id}, body)
                break
            except DeliveryError as err:
                if "attachment.not.ready" not in err.detail or attempt == NOT_READY_RETRIES:
                    raise
                time.sleep(NOT_READY_WAIT)
        return self._local(result["message"]["body"]["mid"])

    def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        keyboard: Keyboard | None = None,
        parse_mode: str = "",
    ) -> int:
        body: dict[str, Any] = {"text": text, "attachments": keyboard_attachments(keyboard)}
        if _format(parse_mode):
            body["format"] = _format(parse_mode)
        self.client.call("PUT", "/messages", {"message_id": self._mid(message_id)}, body)
        return message_id

    def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> int:
        # text null keeps the text; an empty list of attachments removes the buttons.
        body = {"text": None, "attachments": keyboard_attachments(keyboard)}
        self.client.call("PUT", "/messages", {"message_id": self._mid(message_id)}, body)
        return message_id

    def delete(self, message_id: int) -> None:
        self.client.call("DELETE", "/messages", {"message_id": self._mid(message_id)})

    def answer_press(self, press_id: str, text: str = "") -> None:
        body = {"notification": text} if text else {}
        self.client.call("POST", "/answers", {"callback_id": press_id}, body)

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
        kind = "image" if image else "file"
        endpoint = self.client.call("POST", "/uploads", {"type": kind})
        body, content_type = multipart_file("data", file_name, data)
        try:
            uploaded = requests.post(
                endpoint["url"],
                data=body,
                headers={"Content-Type": content_type},
                timeout=self.client.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryError("transient", f"upload: {exc.__class__.__name__}") from None
        if uploaded.status_code != 200:
            raise classify(uploaded)
        info = uploaded.json()
        token = endpoint.get("token") or info.get("token")
        payload: dict[str, Any] = (
            {"photos": info["photos"]} if "photos" in info else {"token": token}
        )
        attachments = [{"type": kind, "payload": payload}, *keyboard_attachments(keyboard)]
        return self._send(chat_id, caption, attachments)

    def fetch_file(self, file_id: str, limit: int) -> tuple[bytes, str]:
        """A MAX attachment carries its URL: file_id is that URL. Read no more than `limit`
        bytes (a declared Content-Length over it is refused before reading). The name
        returned gives the stored file its extension: the URL's own when it has one, else
        one for the content type the link answers with."""
        with requests.get(file_id, stream=True, timeout=self.client.timeout) as response:
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FileTooBig
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FileTooBig
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        name = urlsplit(file_id).path.rsplit("/", 1)[-1]
        if not PurePosixPath(name).suffix:
            name += mimetypes.guess_extension(content_type) or ""
        return b"".join(chunks), name

    def set_commands(
        self, commands: Mapping[str, Sequence[tuple[str, str]]], default_language: str
    ) -> None:
        # MAX has one command list per bot, not one per language: the clinic's own.
        items = commands.get(default_language) or next(iter(commands.values()), [])
        body = {"commands": [{"name": n, "description": d} for n, d in items]}
        self.client.call("PATCH", "/me/commands", body=body)


def open_channel(config: Config, factory: sessionmaker[Session] | None = None) -> MaxChannel:
    if factory is None:
        factory = session_factory(make_engine(config.storage.url))
    return MaxChannel(MaxClient(config.max.token, config.max.api_url), factory)
