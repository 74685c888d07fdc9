"""The MAX emulator's control API and phone page, in the Telegram emulator's shape.

Under ``/_emulator/``: users (``GET/POST users``, one user, its ``state``), what a user does
(``start`` — the Start button, with a deep link's payload —, ``text``, ``contact`` — their
own or another's —, ``image``, ``file``, ``audio`` — a voice note —, ``video``, ``sticker``,
``location``, ``edit`` of a message of theirs, ``press``, ``block``, ``unblock``; a file as
multipart field ``file`` or JSON ``data_base64``), what the bot did (a chat's
``messages`` and ``transcript``, ``calls``, ``callback-answers``, ``webhook``), ``faults``
and ``stats``. ``/phone`` shows a MAX dialog with the Telegram emulator's page
(sandbox/telegram/phone.html), fed a state in that page's shape.

Users are addressed by their MAX ``user_id`` (as Telegram's by theirs); a MAX dialog has a
chat id of its own, which POST users returns beside it.
"""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from sandbox.telegram.formatting import EntityParseError, parse_text
from sandbox.telegram.multipart import parse_multipart
from sandbox.telegram.server import ControlRoutes, _json, _page

if TYPE_CHECKING:
    from .emulator import MaxEmulator

__all__ = ["ControlApp"]

# MAX's colours on the shared page; Start is MAX's bot_started, not a "/start" text; the
# photo button sends MAX's image attachment (POST .../photo).
_THEME = (
    "<style>header{background:linear-gradient(90deg,#3d5afe,#8e44ef)}"
    "#avatar{background:#b9a7ff}.inline-btn{background:#5b6cffcc}"
    ".inline-btn:hover{background:#4a59e0dd}.msg.user .bubble{background:#e4e9ff}"
    ".msg.user .meta{color:#5b6cff}</style>"
    "<script>window.MESSENGER={name:'MAX',startEvent:true};</script>"
)


class ControlApp(ControlRoutes):
    """WSGI application; all state lives in the emulator, none here."""

    def __init__(self, emu: MaxEmulator) -> None:
        self.emu = emu
        self._title = "<title>Клиника — бот в MAX</title>"
        user = "/_emulator/users/<int:user_id>"
        chat = "/_emulator/chats/<int:chat_id>"
        super().__init__(
            [
                ("/", "root", ["GET"]),
                ("/favicon.ico", "favicon", ["GET"]),
                ("/phone", "phone", ["GET", "POST"]),
                ("/_emulator/", "index", ["GET"]),
                ("/_emulator/users", "users", ["GET", "POST"]),
                (user, "user", ["GET"]),
                (f"{user}/state", "user_state", ["GET"]),
                (f"{user}/start", "user_start", ["POST"]),
                (f"{user}/text", "user_text", ["POST"]),
                (f"{user}/contact", "user_contact", ["POST"]),
                (f"{user}/image", "user_image", ["POST"]),
                (f"{user}/photo", "user_image", ["POST"]),  # the phone page's photo button
                (f"{user}/file", "user_file", ["POST"]),
                (f"{user}/audio", "user_audio", ["POST"]),
                (f"{user}/video", "user_video", ["POST"]),
                (f"{user}/sticker", "user_sticker", ["POST"]),
                (f"{user}/location", "user_location", ["POST"]),
                (f"{user}/edit", "user_edit", ["POST"]),
                (f"{user}/press", "user_press", ["POST"]),
                (f"{user}/block", "user_block", ["POST"]),
                (f"{user}/unblock", "user_unblock", ["POST"]),
                (f"{chat}/messages", "chat_messages", ["GET"]),
                (f"{chat}/transcript", "chat_transcript", ["GET"]),
                ("/_emulator/faults", "faults", ["GET", "POST", "DELETE"]),
                ("/_emulator/calls", "calls", ["GET"]),
                ("/_emulator/callback-answers", "callback_answers", ["GET"]),
                ("/_emulator/webhook", "webhook", ["GET"]),
                ("/_emulator/stats", "stats", ["GET"]),
            ]
        )

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        response = self.control(Request(environ))
        return response(environ, start_response)

    # --- users and what they do ----------------------------------------------------------

    def _chat(self, user_id: int) -> int:
        return self.emu.chat_of(user_id)

    def c_root(self, request: Request) -> Response:
        return redirect("/phone")

    def c_index(self, request: Request) -> Response:
        return _json(
            {
                "api_url": self.emu.url,
                "bot": self.emu.bot,
                "users": self.emu.users(),
                "subscription": self._subscription(),
                "stats": self.emu.stats(),
                "faults": self.emu.faults(),
            }
        )

    def c_users(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(self.emu.users())
        body = self._body(request)
        chat_id = self.emu.create_user(
            str(body.get("first_name") or "Пациент"),
            str(body.get("last_name") or ""),
            str(body.get("locale") or "ru"),
            phone=body.get("phone_number") or None,
        )
        return _json({**self.emu.describe(chat_id), "phone_url": self.emu.phone_url(chat_id)}, 201)

    def c_user(self, request: Request, user_id: int) -> Response:
        return _json(self.emu.describe(self._chat(user_id)))

    def c_user_start(self, request: Request, user_id: int) -> Response:
        payload = str(self._body(request).get("payload") or "")
        self.emu.start_bot(self._chat(user_id), payload)
        return _json({"ok": True, "payload_kept": 0 < len(payload) <= 128}, 201)

    def c_user_text(self, request: Request, user_id: int) -> Response:
        text = str(self._body(request).get("text") or "")
        if not text:
            raise ValueError("text is required")
        return _json({"mid": self.emu.send_text(self._chat(user_id), text)}, 201)

    def c_user_contact(self, request: Request, user_id: int) -> Response:
        """``own`` (default true): the card a request_contact button sends, whose max_info
        is the sender; false, or ``contact_user_id`` / ``omit_user_id`` as on the Telegram
        emulator's page: someone else's card."""
        body = self._body(request)
        phone = str(body.get("phone_number") or "")
        if not phone:
            raise ValueError("phone_number is required")
        own = self._flag(body.get("own", True))
        if "contact_user_id" in body or self._flag(body.get("omit_user_id", "")):
            own = self._opt_int(body.get("contact_user_id")) == user_id
        mid = self.emu.send_contact(
            self._chat(user_id), phone, own=own, first_name=str(body.get("first_name") or "")
        )
        return _json({"mid": mid, "own": own}, 201)

    @staticmethod
    def _upload_of(request: Request) -> tuple[bytes, dict[str, Any], str, str]:
        """A person's file: multipart field ``file`` or ``photo`` (with its name and content
        type), or JSON ``data_base64`` with ``file_name`` and ``content_type``. Returns the
        bytes, the other fields, the name and the content type."""
        # The Telegram emulator's parser, not werkzeug's: once pyTelegramBotAPI has sent a
        # file in the process it makes requests write non-ASCII names raw, which werkzeug
        # reads as a text field (sandbox/telegram/multipart.py).
        upload, body = None, {}
        if request.mimetype == "multipart/form-data":
            fields, files = parse_multipart(
                request.get_data(), request.mimetype_params.get("boundary", "")
            )
            upload, body = files.get("file") or files.get("photo"), dict(fields)
        if upload is not None:
            data, name, content_type = upload.data, upload.filename, upload.content_type or ""
        else:
            body = ControlApp._body(request)
            try:
                data = base64.b64decode(str(body.get("data_base64") or ""), validate=True)
            except binascii.Error:
                raise ValueError("data_base64 is not valid base64") from None
            name, content_type = "", ""
        if not data:
            raise ValueError("send the file as multipart field 'file' or as JSON data_base64")
        name = str(body.get("file_name") or name)
        content_type = str(body.get("content_type") or content_type)
        return data, body, name, content_type

    def c_user_image(self, request: Request, user_id: int) -> Response:
        data, body, _, content_type = self._upload_of(request)
        mid = self.emu.send_image(
            self._chat(user_id),
            data,
            caption=body.get("caption") or None,
            content_type=content_type or "image/jpeg",
        )
        return _json({"mid": mid}, 201)

    def c_user_file(self, request: Request, user_id: int) -> Response:
        data, body, name, content_type = self._upload_of(request)
        if not name:
            raise ValueError("file_name is required")
        mid = self.emu.send_file(
            self._chat(user_id),
            data,
            name,
            caption=body.get("caption") or None,
            content_type=content_type or "application/octet-stream",
        )
        return _json({"mid": mid}, 201)

    def c_user_audio(self, request: Request, user_id: int) -> Response:
        """A voice note (MAX sends one as an ``audio`` attachment)."""
        data, body, _, content_type = self._upload_of(request)
        mid = self.emu.send_audio(
            self._chat(user_id),
            data,
            content_type=content_type or "audio/ogg",
            transcription=body.get("transcription"),
        )
        return _json({"mid": mid}, 201)

    def c_user_video(self, request: Request, user_id: int) -> Response:
        data, body, _, content_type = self._upload_of(request)
        mid = self.emu.send_video(
            self._chat(user_id),
            data,
            caption=body.get("caption") or None,
            duration=int(body.get("duration") or 1),
            content_type=content_type or "video/mp4",
        )
        return _json({"mid": mid}, 201)

    def c_user_sticker(self, request: Request, user_id: int) -> Response:
        code = str(self._body(request).get("code") or "smile")
        return _json({"mid": self.emu.send_sticker(self._chat(user_id), code)}, 201)

    def c_user_location(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        try:
            lat, lon = float(body["latitude"]), float(body["longitude"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("latitude and longitude are required numbers") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("latitude: -90..90, longitude: -180..180")
        return _json({"mid": self.emu.send_location(self._chat(user_id), lat, lon)}, 201)

    def c_user_edit(self, request: Request, user_id: int) -> Response:
        """The person edits a message of theirs: ``mid`` and the new ``text``."""
        body = self._body(request)
        mid, text = (
            str(body.get("mid") or body.get("message_id") or ""),
            str(body.get("text") or ""),
        )
        if not mid or not text:
            raise ValueError("mid and text are required")
        self.emu.edit_user_text(self._chat(user_id), mid, text)
        return _json({"ok": True}, 201)

    def c_user_press(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        mid = body.get("message_id") or body.get("mid")
        payload = body.get("data", body.get("payload"))
        if not mid or payload is None:
            raise ValueError("message_id and data are required")
        callback_id = self.emu.press(self._chat(user_id), str(mid), str(payload))
        return _json({"callback_id": callback_id}, 201)

    def c_user_block(self, request: Request, user_id: int) -> Response:
        self.emu.block(self._chat(user_id))
        return _json({"ok": True})

    def c_user_unblock(self, request: Request, user_id: int) -> Response:
        # MAX has no "unblock": the person starts the bot again.
        self.emu.start_bot(self._chat(user_id))
        return _json({"ok": True})

    # --- what the bot did ----------------------------------------------------------------

    def c_chat_messages(self, request: Request, chat_id: int) -> Response:
        return _json(self.emu.messages(chat_id))

    def c_chat_transcript(self, request: Request, chat_id: int) -> Response:
        return _json(self.transcript(chat_id))

    def c_calls(self, request: Request) -> Response:
        calls = [
            {"method": m, "path": p, "query": q, "body": b} for m, p, q, b in self.emu.requests
        ]
        path = request.args.get("path")
        if path:
            calls = [c for c in calls if c["path"] == path]
        limit = request.args.get("limit", type=int)
        return _json(calls[-limit:] if limit else calls)

    def c_callback_answers(self, request: Request) -> Response:
        return _json(self.emu.answers)

    def _subscription(self) -> dict[str, Any] | None:
        sub = self.emu.subscription
        return None if sub is None else {k: v for k, v in sub.items() if k != "secret"}

    def c_webhook(self, request: Request) -> Response:
        return _json({"subscription": self._subscription(), "deliveries": self.emu.deliveries})

    def c_faults(self, request: Request) -> Response:
        """POST {"status": 429 | 5xx | 403 ..., "count": n, "retry_after": s}: the next n
        Bot API requests answer that status; DELETE clears them."""
        if request.method == "POST":
            body = self._body(request)
            if body.get("retry_after") not in (None, ""):
                self.emu.retry_after = int(body["retry_after"])
            count = body.get("count")
            count = 1 if count in (None, "") else int(count)
            self.emu.fail_next(count, int(body.get("status") or 429))
            return _json(self.emu.faults(), 201)
        if request.method == "DELETE":
            self.emu.clear_faults()
        return _json(self.emu.faults())

    def c_stats(self, request: Request) -> Response:
        return _json(self.emu.stats())

    # --- the phone page ------------------------------------------------------------------

    def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        """The dialog in the Telegram page's shape: bot messages as they are now (edited,
        or marked deleted), the person's texts and contacts, presses with their answers."""
        answers = {a["callback_id"]: a for a in self.emu.answers}
        out: list[dict[str, Any]] = []
        seen: dict[str, dict[str, Any]] = {}
        for item in self.emu.log(chat_id):
            if "bot" in item:
                mid = item["bot"]
                entry = _bot_entry(mid, self.emu.message(mid), self.emu.formats.get(mid))
                seen[item["bot"]] = entry
                out.append(entry)
            elif "user" in item:
                out.append(_user_entry(item["user"]))
            elif "press" in item:
                press: dict[str, Any] = {
                    "from": "user",
                    "message_id": item["mid"],
                    "callback_data": item["payload"],
                    "callback_query_id": item["press"],
                    "date": item["timestamp"] // 1000,
                }
                label = _label(seen.get(item["mid"]), item["payload"])
                if label:
                    press["button_text"] = label
                answer = answers.get(item["press"])
                if answer is not None:
                    press["answer"] = {"text": answer.get("notification") or ""}
                out.append(press)
            else:
                event = {"event": item["event"], "date": item["timestamp"] // 1000}
                if item.get("text"):
                    event["text"] = item["text"]
                out.append(event)
        return out

    def c_user_state(self, request: Request, user_id: int) -> Response:
        chat_id = self._chat(user_id)
        person = self.emu.describe(chat_id)
        bot = self.emu.bot
        return _json(
            {
                "user": {**person, "id": person["user_id"]},
                "phone_number": person["phone_number"],
                "bot": {"first_name": bot["first_name"], "username": bot["username"]},
                "blocked": person["blocked"],
                "reply_keyboard": None,  # MAX has inline keyboards only
                "transcript": self.transcript(chat_id),
            }
        )

    def c_phone(self, request: Request) -> Response:
        if request.method == "POST":
            form = request.form
            chat_id = self.emu.create_user(
                form.get("first_name", "").strip() or "Пациент",
                form.get("last_name", "").strip(),
                phone=form.get("phone_number", "").strip() or None,
            )
            return redirect(self.emu.phone_url(chat_id).removeprefix(self.emu.url), code=303)
        raw = request.args.get("user", "")
        if not raw:
            return self._phone_form()
        try:
            self._chat(int(raw))
        except (KeyError, ValueError):
            return Response(
                _page(
                    "Нет такого пользователя",
                    f"<p>Пользователь MAX {html.escape(raw)} не найден.</p>"
                    '<p><a href="/phone">Создать тестового пациента</a></p>',
                ),
                status=404,
                mimetype="text/html",
            )
        page = self.phone_page(_THEME).replace("<title>Клиника — бот</title>", self._title)
        return Response(page, mimetype="text/html")

    def _phone_form(self) -> Response:
        return self.phone_form(
            id_key="user_id",
            heading="Новый тестовый пациент в MAX",
            title="Телефон — эмулятор MAX",
        )


def _buttons(attachments: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = []
    for a in attachments:
        if a.get("type") != "inline_keyboard":
            continue
        for row in a["payload"]["buttons"]:
            shown = []
            for b in row:
                if b["type"] == "callback":
                    shown.append({"text": b["text"], "callback_data": b["payload"]})
                elif b["type"] == "link":
                    shown.append({"text": b["text"], "url": b["url"]})
                elif b["type"] == "request_contact":
                    shown.append({"text": b["text"], "request_contact": True})
                else:
                    shown.append({"text": b["text"]})
            rows.append(shown)
    return rows


def _label(entry: dict[str, Any] | None, payload: str) -> str:
    rows = ((entry or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    for row in rows:
        for b in row:
            if b.get("callback_data") == payload:
                return str(b["text"])
    return ""


def _bot_entry(mid: str, message: dict[str, Any] | None, markup: str | None) -> dict[str, Any]:
    """`markup`: the format the bot sent the text in (MAX renders html and markdown; the
    page shows html's marks, and markdown as typed)."""
    if message is None:
        return {"from": "bot", "message_id": mid, "deleted": True, "text": "", "date": 0}
    body = message["body"]
    attachments = body.get("attachments") or []
    text = body.get("text") or ""
    entities: list[dict[str, Any]] = []
    if text and markup == "html":
        try:
            text, entities = parse_text(text, "HTML")
        except EntityParseError:
            entities = []
    entry: dict[str, Any] = {
        "from": "bot",
        "message_id": mid,
        "date": message["timestamp"] // 1000,
        "text": text,
        "entities": entities,
    }
    for a in attachments:
        if a["type"] == "image":
            entry["photo"] = {"url": a["payload"]["url"]}
        elif a["type"] == "file":
            entry["document"] = {"url": a["payload"]["url"], "file_name": a.get("filename")}
    rows = _buttons(attachments)
    if rows:
        entry["reply_markup"] = {"inline_keyboard": rows}
    return entry


def _user_entry(message: dict[str, Any]) -> dict[str, Any]:
    body = message["body"]
    entry: dict[str, Any] = {
        "from": "user",
        "message_id": body["mid"],
        "date": message["timestamp"] // 1000,
    }
    if body.get("text"):
        entry["text"] = body["text"]
    for a in body.get("attachments") or []:
        if a["type"] == "image":
            entry["photo"] = {"url": a["payload"]["url"]}
        elif a["type"] == "file":
            entry["document"] = {"url": a["payload"]["url"], "file_name": a.get("filename")}
        elif a["type"] == "location":
            entry["location"] = {"latitude": a["latitude"], "longitude": a["longitude"]}
        elif a["type"] == "contact":
            vcf = a["payload"].get("vcf_info") or ""
            phone = next(
                (line.split(":", 1)[1] for line in vcf.splitlines() if line.startswith("TEL")), ""
            )
            name = next(
                (line[3:] for line in vcf.splitlines() if line.startswith("FN:")), "Контакт"
            )
            info = a["payload"].get("max_info") or {}
            entry["contact"] = {"first_name": name, "phone_number": phone}
            if info.get("user_id") is not None:
                entry["contact"]["user_id"] = info["user_id"]
    return entry
