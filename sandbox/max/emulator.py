"""A local MAX Bot API for the demo and the tests, speaking HTTP as MAX's schema describes.

Bot API (every request carries ``Authorization: <token>``): ``GET /me``,
``PATCH /me/commands``, ``POST/PUT/DELETE /messages``, ``POST /answers``, ``POST /uploads``
(and the upload URL it hands out), ``GET /updates`` with ``marker`` (long polling: passing a
marker commits every update before it), ``GET/POST/DELETE /subscriptions`` (a webhook
subscription; while one exists long polling answers 405, as MAX says the two cannot be
used at once, and updates are posted to the URL with ``X-Max-Bot-Api-Secret``).

Every request is checked against schema.json (the official schema's shapes); a request that
does not fit gets a 400 naming what is wrong, so the adapter's tests fail on a wrong shape.

The control side is this class's methods (people, their texts, contacts — their own or
another's — presses, blocking, faults, transcripts, stats).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import make_server

from .api import BotApi, _ms

__all__ = ["MaxEmulator"]


@dataclass
class _Person:
    user: dict[str, Any]
    chat_id: int
    locale: str = "ru"
    blocked: bool = False
    transcript: list[dict[str, Any]] = field(default_factory=list)  # the bot's messages


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
        self.upload_names: dict[str, str] = {}  # token -> the file name the part carried
        self.not_ready_once: set[str] = set()  # upload tokens that answer attachment.not.ready once
        self.subscription: dict[str, Any] | None = None
        self.commands: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.schema_errors: list[str] = []
        self._faults: list[int] = []  # HTTP statuses for the next requests
        self.retry_after = 1
        self._server = make_server(host, port, self._app, threaded=True)
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> MaxEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        with self._lock:
            self._lock.notify_all()

    # -- control: people and what they do ------------------------------------------------

    def create_user(self, first_name: str, last_name: str = "", locale: str = "ru") -> int:
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
            self._people[chat_id] = _Person(user, chat_id, locale)
            return chat_id

    def user(self, chat_id: int) -> dict[str, Any]:
        return dict(self._people[chat_id].user)

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

    def press(self, chat_id: int, mid: str, payload: str) -> str:
        """Press a callback button (any payload: a modified client can send anything)."""
        person = self._people[chat_id]
        with self._lock:
            callback_id = f"cb.{next(self._ids)}"
            self._callbacks[callback_id] = (chat_id, mid)
            message = self._messages.get(mid)
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
        person.blocked = True
        self._push(
            {
                "update_type": "bot_stopped",
                "timestamp": _ms(),
                "chat_id": chat_id,
                "user": person.user,
            }
        )

    def fail_next(self, count: int = 1, status: int = 429) -> None:
        """The next `count` Bot API requests answer `status` (429 with too.many.requests)."""
        with self._lock:
            self._faults += [status] * count

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
        with self._lock:
            self._updates.append((next(self._seq), update))
            self._lock.notify_all()
            hook = self.subscription
        if hook is not None:
            threading.Thread(target=self._deliver, args=(hook, update), daemon=True).start()

    def _deliver(self, hook: dict[str, Any], update: dict[str, Any]) -> None:
        headers = {"X-Max-Bot-Api-Secret": hook["secret"]} if hook.get("secret") else {}
        # MAX retries for hours; the emulator does not.
        with contextlib.suppress(requests.RequestException):
            requests.post(hook["url"], json=update, headers=headers, timeout=5)
