"""A local MAX Bot API for the demo and the tests, speaking HTTP as MAX's schema describes.

Bot API (every request carries ``Authorization: <token>``): ``GET /me``,
``PATCH /me/commands``, ``POST/PUT/DELETE /messages``, ``POST /answers``, ``POST /uploads``
(and the upload URL it hands out), ``GET /updates`` with ``marker`` (long polling: passing a
marker commits every update before it), ``GET/POST/DELETE /subscriptions`` (a webhook
subscription; while one exists long polling answers 405, as MAX says the two cannot be
used at once, and updates are posted to the URL with ``X-Max-Bot-Api-Secret``).

Every request is checked against schema.json (the official schema's shapes); a request that
does not fit gets a 400 naming what is wrong, so the adapter's tests fail on a wrong shape.
Every response and every update the emulator makes is checked too: a response that does not
fit is counted in ``schema_errors`` (``stats()``), an update that does not fit is refused
with SchemaError before anyone sees it.

A person's file is served at the URL its attachment carries (``/_files/<token>``, no token
needed, as MAX's own file links), with the content type it was sent with.

The control side is this class's methods (people, their texts, contacts — their own or
another's —, pictures, files, voice notes, videos, stickers, locations and edits as MAX
delivers them, presses, blocking, faults, transcripts, stats), and the same over HTTP under
``/_emulator/`` with a phone page at ``/phone`` (server.py), in the Telegram emulator's shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import make_server

from sandbox.telegram.server import QuietRequestHandler

from .api import BotApi, _ms
from .schema import SchemaError, errors
from .server import ControlApp

__all__ = ["MaxEmulator"]


@dataclass
class _Person:
    user: dict[str, Any]
    chat_id: int
    locale: str = "ru"
    phone: str | None = None  # what "share my contact" sends without asking
    blocked: bool = False
    transcript: list[dict[str, Any]] = field(default_factory=list)  # the bot's messages
    # Both sides in order, for the phone page: {"bot": mid}, {"user": message},
    # {"press": callback_id, ...}, {"event": "started" | "blocked"}.
    log: list[dict[str, Any]] = field(default_factory=list)


class MaxEmulator(BotApi):
    def __init__(self, token: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.bot = {
            "user_id": 7000001,
            "first_name": "Клиника",
            "username": "kabinet_max_bot",
            "is_bot": True,
        }
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._people: dict[int, _Person] = {}  # by chat_id
        self._messages: dict[str, dict[str, Any]] = {}  # mid -> Message
        self._updates: list[tuple[int, dict[str, Any]]] = []  # (seq, update)
        self._seq = itertools.count(1)
        self._committed = 0  # every update with seq < this is committed
        self._callbacks: dict[str, tuple[int, str]] = {}  # callback_id -> (chat, mid)
        self.answers: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # token -> (data, content type) of users'
        self._sent: dict[str, dict[str, Any]] = {}  # mid -> a person's message, for edits
        self.upload_names: dict[str, str] = {}  # token -> the file name the part carried
        self.not_ready_once: set[str] = set()  # upload tokens that answer attachment.not.ready once
        self.subscription: dict[str, Any] | None = None
        self.commands: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.schema_errors: list[str] = []
        self.formats: dict[str, str | None] = {}
        self.elsewhere: dict[str, str] = {}  # label -> url, linked from the phone page
        self._faults: list[int] = []  # HTTP statuses for the next requests
        self.retry_after = 1
        # Webhook deliveries go one at a time, in order, as MAX's do: a queue and one worker.
        self.deliveries: list[dict[str, Any]] = []  # {"update_type", "status", "attempt"}
        self.delivery_attempts = 3
        self.delivery_retry_wait = 0.2
        self._outgoing: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._deliverer: threading.Thread | None = None
        self.control = ControlApp(self)
        self._server = make_server(
            host, port, self._route, threaded=True, request_handler=QuietRequestHandler
        )
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> MaxEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._deliverer = threading.Thread(target=self._deliver_loop, daemon=True)
        self._deliverer.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._outgoing.put(None)
        with self._lock:
            self._lock.notify_all()

    def _route(self, environ: Any, start_response: Any) -> Any:
        """The control API and the phone page beside the Bot API (no path of MAX's is
        ``/``, ``/phone``, ``/favicon.ico`` or under ``/_emulator/``)."""
        path = environ.get("PATH_INFO", "")
        if path in ("/", "/phone", "/favicon.ico") or path.startswith("/_emulator"):
            return self.control(environ, start_response)
        return self._app(environ, start_response)

    def phone_url(self, chat_id: int) -> str:
        return f"{self.url}/phone?user={self._people[chat_id].user['user_id']}"

    # -- control: people and what they do ------------------------------------------------

    def create_user(
        self, first_name: str, last_name: str = "", locale: str = "ru", phone: str | None = None
    ) -> int:
        """A MAX user who opened a dialog with the bot; returns the dialog's chat id (unlike
        Telegram, MAX's dialog id is not the user's id)."""
        with self._lock:
            n = next(self._ids)
            user = {
                "user_id": 100_000 + n,
                "first_name": first_name,
                "last_name": last_name or None,
                "username": None,
                "is_bot": False,
            }
            chat_id = 900_000_000 + n
            self._people[chat_id] = _Person(user, chat_id, locale, phone)
            return chat_id

    def user(self, chat_id: int) -> dict[str, Any]:
        return dict(self._people[chat_id].user)

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._describe(p) for p in self._people.values()]

    def chat_of(self, user_id: int) -> int:
        """The dialog of the MAX user `user_id` (KeyError if there is none)."""
        with self._lock:
            for chat_id, person in self._people.items():
                if person.user["user_id"] == user_id:
                    return chat_id
        raise KeyError(f"unknown user {user_id}")

    def _describe(self, person: _Person) -> dict[str, Any]:
        return {
            **person.user,
            "chat_id": person.chat_id,
            "locale": person.locale,
            "phone_number": person.phone,
            "blocked": person.blocked,
        }

    def describe(self, chat_id: int) -> dict[str, Any]:
        with self._lock:
            return self._describe(self._people[chat_id])

    def log(self, chat_id: int) -> list[dict[str, Any]]:
        """Both sides of the dialog in order (see _Person.log), as plain JSON."""
        with self._lock:
            return json.loads(json.dumps(self._people[chat_id].log))

    def message(self, mid: str) -> dict[str, Any] | None:
        """A message of the bot's as it is now; None once deleted."""
        with self._lock:
            found = self._messages.get(mid)
            return json.loads(json.dumps(found)) if found is not None else None

    def start_bot(self, chat_id: int, payload: str = "") -> None:
        """The person pressed Start, perhaps through https://max.ru/<bot>?start=<payload>;
        a payload over 128 characters is dropped, as MAX does."""
        person = self._people[chat_id]
        person.blocked = False
        update: dict[str, Any] = {
            "update_type": "bot_started",
            "timestamp": _ms(),
            "chat_id": chat_id,
            "user": person.user,
            "user_locale": person.locale,
        }
        if payload and len(payload) <= 128:
            update["payload"] = payload
        with self._lock:
            person.log.append({"event": "started", "payload": payload, "timestamp": _ms()})
        self._push(update)

    def send_text(self, chat_id: int, text: str) -> str:
        return self._user_message(chat_id, text, [])

    def send_contact(
        self, chat_id: int, phone: str, *, own: bool = True, first_name: str = ""
    ) -> str:
        """A contact card: `own` as a request_contact button sends it (max_info is the
        sender), else someone else's card, forwarded or picked from the address book."""
        person = self._people[chat_id]
        name = first_name or person.user["first_name"]
        vcf = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL;TYPE=cell:{phone}\r\nEND:VCARD\r\n"
        if own:
            max_info: dict[str, Any] | None = person.user
        else:
            max_info = {
                "user_id": person.user["user_id"] + 50_000,
                "first_name": name,
                "is_bot": False,
            }
        payload = {
            "vcf_info": vcf,
            "hash": hashlib.sha256(vcf.encode()).hexdigest(),
            "max_info": max_info,
        }
        return self._user_message(chat_id, None, [{"type": "contact", "payload": payload}])

    def _file(self, data: bytes, content_type: str) -> tuple[str, str]:
        """Keep a person's file; returns its token and the URL it is served at."""
        with self._lock:
            token = f"f{next(self._ids)}{hashlib.sha256(data).hexdigest()[:12]}"
            self.files[token] = (data, content_type or "application/octet-stream")
        return token, f"{self.url}/_files/{token}"

    def send_image(
        self,
        chat_id: int,
        data: bytes,
        caption: str | None = None,
        content_type: str = "image/jpeg",
    ) -> str:
        """A picture (MAX's ``image`` attachment; the caption is the message's text)."""
        token, url = self._file(data, content_type)
        with self._lock:
            photo_id = next(self._ids)
        attachment = {
            "type": "image",
            "payload": {"photo_id": photo_id, "token": token, "url": url},
        }
        return self._user_message(chat_id, caption, [attachment])

    def send_file(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        caption: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> str:
        """A document: MAX's ``file`` attachment names the file and its size."""
        if not file_name:
            raise ValueError("file_name is required")
        token, url = self._file(data, content_type)
        attachment = {
            "type": "file",
            "payload": {"url": url, "token": token},
            "filename": file_name,
            "size": len(data),
        }
        return self._user_message(chat_id, caption, [attachment])

    def send_audio(
        self,
        chat_id: int,
        data: bytes,
        content_type: str = "audio/ogg",
        transcription: str | None = None,
    ) -> str:
        """A voice note: MAX has no voice type of its own, its client sends ``audio``."""
        token, url = self._file(data, content_type)
        attachment: dict[str, Any] = {"type": "audio", "payload": {"url": url, "token": token}}
        if transcription is not None:
            attachment["transcription"] = transcription
        return self._user_message(chat_id, None, [attachment])

    def send_video(
        self,
        chat_id: int,
        data: bytes,
        caption: str | None = None,
        duration: int = 1,
        content_type: str = "video/mp4",
    ) -> str:
        token, url = self._file(data, content_type)
        attachment = {
            "type": "video",
            "payload": {"url": url, "token": token},
            "thumbnail": None,
            "width": 640,
            "height": 360,
            "duration": duration,
        }
        return self._user_message(chat_id, caption, [attachment])

    def send_sticker(self, chat_id: int, code: str = "smile") -> str:
        token, url = self._file(b"RIFF\x1a\x00\x00\x00WEBPVP8L", "image/webp")
        attachment = {
            "type": "sticker",
            "payload": {"url": url, "code": code},
            "width": 512,
            "height": 512,
        }
        return self._user_message(chat_id, None, [attachment])

    def send_location(self, chat_id: int, latitude: float, longitude: float) -> str:
        attachment = {"type": "location", "latitude": latitude, "longitude": longitude}
        return self._user_message(chat_id, None, [attachment])

    def edit_user_text(self, chat_id: int, mid: str, text: str) -> None:
        """The person edits a message of theirs (its text, or a file's caption): the bot
        gets ``message_edited`` with the message as it is now."""
        if not text:
            raise ValueError("text is required")
        with self._lock:
            message = self._sent.get(mid)
            if message is None or message["recipient"]["chat_id"] != chat_id:
                raise KeyError(f"no message {mid} of this user")
            edited = json.loads(json.dumps(message))
            edited["body"]["text"] = text
            self._sent[mid] = edited
            log = self._people[chat_id].log
            for i, item in enumerate(log):  # the page shows the message as it is now
                if "user" in item and item["user"]["body"]["mid"] == mid:
                    log[i] = {"user": edited}
        self._push({"update_type": "message_edited", "timestamp": _ms(), "message": edited})

    def press(self, chat_id: int, mid: str, payload: str) -> str:
        """Press a callback button (any payload: a modified client can send anything)."""
        person = self._people[chat_id]
        with self._lock:
            callback_id = f"cb.{next(self._ids)}"
            self._callbacks[callback_id] = (chat_id, mid)
            message = self._messages.get(mid)
            person.log.append(
                {"press": callback_id, "mid": mid, "payload": payload, "timestamp": _ms()}
            )
        self._push(
            {
                "update_type": "message_callback",
                "timestamp": _ms(),
                "callback": {
                    "timestamp": _ms(),
                    "callback_id": callback_id,
                    "payload": payload,
                    "user": person.user,
                },
                "message": message,
                "user_locale": person.locale,
            }
        )
        return callback_id

    def block(self, chat_id: int) -> None:
        """The person stops the bot: bot_stopped, and sending to them answers 403."""
        person = self._people[chat_id]
        with self._lock:
            person.blocked = True
            person.log.append({"event": "blocked", "timestamp": _ms()})
        self._push(
            {
                "update_type": "bot_stopped",
                "timestamp": _ms(),
                "chat_id": chat_id,
                "user": person.user,
            }
        )

    def note(self, chat_id: int, text: str) -> None:
        """A line on the person's phone that is not the bot's (the demo shows the SMS with
        the one-time code there); the bot sees nothing of it."""
        with self._lock:
            self._people[chat_id].log.append({"event": "note", "text": text, "timestamp": _ms()})

    def chats_with_phone(self, phone: str) -> list[int]:
        """The dialogs of the people whose phone (as given to create_user) is `phone`."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        with self._lock:
            return [
                c
                for c, p in self._people.items()
                if p.phone and "".join(ch for ch in p.phone if ch.isdigit()) == digits
            ]

    def fail_next(self, count: int = 1, status: int = 429) -> None:
        """The next `count` Bot API requests answer `status` (429 with too.many.requests)."""
        if not 400 <= status <= 599:
            raise ValueError("status: expected an HTTP error status, 400-599")
        if count < 1:
            raise ValueError("count: expected at least 1")
        with self._lock:
            self._faults += [status] * count

    def faults(self) -> list[int]:
        """The statuses the next Bot API requests will answer, in order."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- control: what the bot did --------------------------------------------------------

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in this dialog as they are now (edits applied, deleted gone)."""
        with self._lock:
            return [
                json.loads(json.dumps(m))
                for m in self._people[chat_id].transcript
                if m["body"]["mid"] in self._messages
            ]

    def stats(self) -> dict[str, int]:
        with self._lock:
            pending = sum(1 for seq, _ in self._updates if seq >= self._committed)
            return {
                "pending_updates": pending,
                "messages": len(self._messages),
                "requests": len(self.requests),
                "users": len(self._people),
                "faults_pending": len(self._faults),
                "webhook_deliveries": len(self.deliveries),
                "schema_errors": len(self.schema_errors),
            }

    # -- internals ------------------------------------------------------------------------

    def _user_message(self, chat_id: int, text: str | None, attachments: list[Any]) -> str:
        person = self._people[chat_id]
        with self._lock:
            n = next(self._ids)
        mid = f"mid.{n:016x}"
        message = {
            "sender": person.user,
            "recipient": {
                "chat_id": chat_id,
                "chat_type": "dialog",
                "user_id": self.bot["user_id"],
            },
            "timestamp": _ms(),
            "body": {"mid": mid, "seq": n, "text": text, "attachments": attachments or None},
        }
        with self._lock:
            person.log.append({"user": message})
            self._sent[mid] = message
        self._push(
            {
                "update_type": "message_created",
                "timestamp": _ms(),
                "message": message,
                "user_locale": person.locale,
            }
        )
        return mid

    def _push(self, update: dict[str, Any]) -> None:
        problems = errors(update, "Update", "update")
        if problems:
            with self._lock:
                self.schema_errors += problems
            raise SchemaError("; ".join(problems))
        with self._lock:
            hook = self.subscription
            if hook is None:
                self._updates.append((next(self._seq), update))
                self._lock.notify_all()
        # With a webhook set, updates go there and long polling has none (it answers 405).
        if hook is not None:
            self._outgoing.put((hook, update))

    def _deliver_loop(self) -> None:
        while (item := self._outgoing.get()) is not None:
            self._deliver(*item)

    def _deliver(self, hook: dict[str, Any], update: dict[str, Any]) -> None:
        """POST the update with the subscription's secret in X-Max-Bot-Api-Secret; a failed
        delivery is retried (MAX retries for up to 8 hours; the emulator a few times)."""
        headers = {"X-Max-Bot-Api-Secret": hook["secret"]} if hook.get("secret") else {}
        for attempt in range(1, self.delivery_attempts + 1):
            status = 0
            with contextlib.suppress(requests.RequestException):
                status = requests.post(
                    hook["url"], json=update, headers=headers, timeout=5
                ).status_code
            with self._lock:
                self.deliveries.append(
                    {"update_type": update["update_type"], "status": status, "attempt": attempt}
                )
                self._lock.notify_all()
            if status == 200:
                return
            time.sleep(self.delivery_retry_wait)
