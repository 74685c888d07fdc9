"""The emulator's HTTP face: Bot API, file downloads, control API and the phone page.

Plain werkzeug rather than Flask keeps the per-request cost low enough for the
30-messages-per-second benchmarks and avoids an app context nobody needs.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import mimetypes
from collections.abc import Callable, Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .multipart import Upload, parse_multipart

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .emulator import TelegramEmulator

__all__ = ["ControlRoutes", "EmulatorApp", "QuietRequestHandler", "create_app", "phone_html"]

log = logging.getLogger(__name__)


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: at benchmark rates it would cost more than the requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json")


def _bad(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def create_app(emu: TelegramEmulator) -> EmulatorApp:
    return EmulatorApp(emu)


def phone_html(head: str = "") -> str:
    """The phone page (phone.html), with `head` (a theme, window.MESSENGER) put before its
    </head>: the MAX emulator shows its chat with the same page."""
    page = resources.files(__package__).joinpath("phone.html").read_text(encoding="utf-8")
    return page.replace("</head>", head + "</head>", 1) if head else page


class ControlRoutes:
    """The control API's plumbing shared by the emulators (Telegram's, MAX's): a rule table
    mapped to ``c_<endpoint>`` methods, JSON or form bodies, errors as JSON — a missing
    thing 404, a bad value 400, a conflict 409."""

    # The emulator; its `elsewhere` ({label: url}, e.g. the demo's other messenger) is shown
    # as links on the phone page and its form.
    emu: Any

    def __init__(self, rules: list[tuple[str, str, list[str]]]) -> None:
        self.url_map = Map(
            [Rule(path, endpoint=name, methods=methods) for path, name, methods in rules],
            strict_slashes=False,
        )

    def control(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return _bad(f"no such endpoint: {request.method} {request.path}", 404)
        except MethodNotAllowed:
            return _bad(f"method {request.method} not allowed on {request.path}", 405)
        except HTTPException as exc:  # redirects for trailing slashes and the like
            return exc.get_response(request.environ)
        handler: Callable[..., Response] = getattr(self, f"c_{endpoint}")
        try:
            return handler(request, **args)
        except KeyError as exc:
            return _bad(str(exc.args[0]) if exc.args else "not found", 404)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        except RuntimeError as exc:
            return _bad(str(exc), 409)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.mimetype == "application/json":
            data = request.get_json(silent=True)
            if data is None and request.content_length:
                raise ValueError("request body is not valid JSON")
            if data is not None and not isinstance(data, dict):
                raise ValueError("request body must be a JSON object")
            return data or {}
        return dict(request.form.items())

    @staticmethod
    def _opt_int(value: Any) -> int | None:
        return None if value in (None, "") else int(value)

    @staticmethod
    def _flag(value: Any) -> bool:
        return str(value).lower() in ("1", "true", "yes", "on")

    def c_favicon(self, request: Request) -> Response:
        return Response(status=204)

    def _elsewhere(self) -> dict[str, str]:
        return dict(getattr(self.emu, "elsewhere", None) or {})

    def elsewhere_head(self) -> str:
        links = [{"label": label, "url": url} for label, url in self._elsewhere().items()]
        if not links:
            return ""
        data = json.dumps(links, ensure_ascii=False).replace("</", "<\\/")
        return f"<script>window.ELSEWHERE={data};</script>"

    def elsewhere_html(self) -> str:
        links = " · ".join(
            f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
            for label, url in self._elsewhere().items()
        )
        return f"<p class='elsewhere' id='elsewhere'>Попробовать и в {links}</p>" if links else ""

    def phone_page(self, head: str = "") -> str:
        """The phone page with `head` and the links elsewhere, made once per such pair."""
        key = head + self.elsewhere_head()
        cached: dict[str, str] = self.__dict__.setdefault("_phone_pages", {})
        if key not in cached:
            cached[key] = phone_html(key)
        return cached[key]

    def phone_form(self, *, id_key: str, heading: str, title: str) -> Response:
        """/phone without a user: the emulator's users to open, and a form for a new one
        (`id_key`: the field naming a user in this messenger's API)."""
        links = "".join(
            f'<li><a href="/phone?user={u[id_key]}">'
            f"{html.escape(u['first_name'])} {html.escape(u.get('last_name') or '')}</a>"
            f" <small>{id_key} {u[id_key]}</small></li>"
            for u in self.emu.users()
        )
        body = (
            '<form method="post" action="/phone" id="new-user-form">'
            f"<h2>{html.escape(heading)}</h2>"
            '<label>Имя <input name="first_name" id="first-name" value="Анна" required></label>'
            '<label>Фамилия <input name="last_name" id="last-name" value="Иванова"></label>'
            '<label>Телефон (необязательно) <input name="phone_number" id="phone-number"'
            ' placeholder="+79001234567"></label>'
            '<button type="submit" id="create-user-btn">Открыть чат</button>'
            "</form>"
        )
        if links:
            body += f"<h3>Уже есть</h3><ul id='user-list'>{links}</ul>"
        body += self.elsewhere_html()
        return Response(_page(title, body), mimetype="text/html")


class EmulatorApp(ControlRoutes):
    """WSGI application; all state lives in the emulator, none here."""

    def __init__(self, emu: TelegramEmulator) -> None:
        self.emu = emu
        chat = "<int(signed=True):chat_id>"
        user = "/_emulator/users/<int:user_id>"
        rules = [
            ("/", "root", ["GET"]),
            ("/favicon.ico", "favicon", ["GET"]),
            ("/phone", "phone", ["GET", "POST"]),
            ("/_emulator/", "index", ["GET"]),
            ("/_emulator/bots", "bots", ["GET", "POST"]),
            ("/_emulator/users", "users", ["GET", "POST"]),
            (user, "user", ["GET"]),
            (f"{user}/state", "user_state", ["GET"]),
            (f"{user}/text", "user_text", ["POST"]),
            (f"{user}/contact", "user_contact", ["POST"]),
            (f"{user}/photo", "user_photo", ["POST"]),
            (f"{user}/press", "user_press", ["POST"]),
            (f"{user}/reply", "user_reply", ["POST"]),
            (f"{user}/block", "user_block", ["POST"]),
            (f"{user}/unblock", "user_unblock", ["POST"]),
            ("/_emulator/groups", "groups", ["POST"]),
            (f"/_emulator/chats/{chat}/messages", "chat_messages", ["GET"]),
            (f"/_emulator/chats/{chat}/transcript", "chat_transcript", ["GET"]),
            ("/_emulator/faults", "faults", ["GET", "POST", "DELETE"]),
            ("/_emulator/calls", "calls", ["GET"]),
            ("/_emulator/callback-answers", "callback_answers", ["GET"]),
            ("/_emulator/stats", "stats", ["GET"]),
            ("/_emulator/reset", "reset", ["POST"]),
            ("/_emulator/files/<path:file_id>", "file", ["GET"]),
        ]
        super().__init__(rules)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        try:
            if path.startswith("/bot"):
                response = self.bot_api(request, path[4:])
            elif path.startswith("/file/bot"):
                response = self.download(path[9:])
            else:
                response = self.control(request)
        except Exception:  # a bug here must not kill the bot under test with a hang
            log.exception("telegram emulator failed on %s %s", request.method, path)
            response = _json(
                {"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500
            )
        return response(environ, start_response)

    # --- Bot API -------------------------------------------------------------------------

    def bot_api(self, request: Request, rest: str) -> Response:
        token, _, method = rest.partition("/")
        if not method or "/" in method:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        params: dict[str, Any] = dict(request.args.items())
        files: dict[str, Upload] = {}
        mimetype = request.mimetype
        if mimetype == "application/json":
            data = request.get_json(silent=True)
            if isinstance(data, dict):
                params.update(data)
            elif request.content_length:
                return _json(
                    {
                        "ok": False,
                        "error_code": 400,
                        "description": "Bad Request: can't parse JSON object",
                    },
                    400,
                )
        elif mimetype == "multipart/form-data":
            boundary = request.mimetype_params.get("boundary", "")
            fields, files = parse_multipart(request.get_data(), boundary)
            params.update(fields)
        elif mimetype == "application/x-www-form-urlencoded":
            params.update(request.form.items())
        result = self.emu.handle_api(token, method, params, files)
        if result.raw is not None:
            return Response(result.raw, status=result.status, content_type=result.content_type)
        return _json(result.body, result.status)

    def download(self, rest: str) -> Response:
        token, _, file_path = rest.partition("/")
        data = self.emu.download(token, file_path)
        if data is None:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        mime = mimetypes.guess_type(file_path)[0] or "application/octet-stream"
        return Response(data, mimetype=mime)

    # --- control API -----------------------------------------------------------------

    def c_root(self, request: Request) -> Response:
        return redirect("/phone")

    def c_index(self, request: Request) -> Response:
        return _json(
            {
                "api_url": self.emu.api_url,
                "file_url": self.emu.file_url,
                "bots": self.emu.bots(),
                "users": self.emu.users(),
                "stats": self.emu.stats(),
                "faults": self.emu.faults(),
            }
        )

    def c_bots(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(self.emu.bots())
        body = self._body(request)
        kwargs = {k: body[k] for k in ("token", "username", "first_name") if body.get(k)}
        return _json(self.emu.register_bot(**kwargs), 201)

    def c_users(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(self.emu.users())
        body = self._body(request)
        user = self.emu.create_user(
            first_name=str(body.get("first_name") or "Пациент"),
            last_name=body.get("last_name") or None,
            username=body.get("username") or None,
            language_code=body.get("language_code", "ru") or None,
            phone_number=body.get("phone_number") or None,
        )
        return _json({**user, "phone_url": self.emu.phone_url(user["id"])}, 201)

    def _known_user(self, user_id: int) -> dict[str, Any]:
        for user in self.emu.users():
            if user["id"] == user_id:
                return user
        raise KeyError(f"unknown user {user_id}")

    def c_user(self, request: Request, user_id: int) -> Response:
        return _json(self._known_user(user_id))

    def c_user_state(self, request: Request, user_id: int) -> Response:
        user = self._known_user(user_id)
        bots = self.emu.bots()
        keyboard = self.emu.reply_keyboard(user_id)
        transcript = self.emu.transcript(user_id)
        return _json(
            {
                "user": user,
                "phone_number": user.get("phone_number"),
                "bot": bots[0] if bots else None,
                "blocked": self.emu.is_blocked(user_id),
                "reply_keyboard": keyboard,
                "transcript": transcript,
            }
        )

    def c_user_text(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        update = self.emu.send_text(
            user_id,
            str(body.get("text") or ""),
            chat_id=self._opt_int(body.get("chat_id")),
            reply_to_message_id=self._opt_int(body.get("reply_to_message_id")),
        )
        return _json(update, 201)

    def c_user_contact(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        kwargs: dict[str, Any] = {}
        if str(body.get("omit_user_id", "")).lower() in ("1", "true", "yes", "on"):
            kwargs["contact_user_id"] = None
        elif "contact_user_id" in body:
            kwargs["contact_user_id"] = self._opt_int(body["contact_user_id"])
        update = self.emu.send_contact(
            user_id,
            str(body.get("phone_number") or ""),
            first_name=body.get("first_name") or None,
            last_name=body.get("last_name") or None,
            chat_id=self._opt_int(body.get("chat_id")),
            **kwargs,
        )
        return _json(update, 201)

    def c_user_photo(self, request: Request, user_id: int) -> Response:
        storage = request.files.get("photo") or request.files.get("file")
        if storage is not None:
            data = storage.read()
            body = dict(request.form.items())
        else:
            body = self._body(request)
            try:
                data = base64.b64decode(str(body.get("data_base64") or ""), validate=True)
            except binascii.Error:
                raise ValueError("data_base64 is not valid base64") from None
        if not data:
            raise ValueError("send the photo as multipart field 'photo' or as JSON data_base64")
        update = self.emu.send_photo(
            user_id,
            data,
            caption=body.get("caption") or None,
            chat_id=self._opt_int(body.get("chat_id")),
        )
        return _json(update, 201)

    def c_user_press(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        if body.get("message_id") in (None, "") or body.get("data") is None:
            raise ValueError("message_id and data are required")
        update = self.emu.press(
            user_id,
            int(body["message_id"]),
            str(body["data"]),
            chat_id=self._opt_int(body.get("chat_id")),
            force=str(body.get("force", "")).lower() in ("1", "true", "yes", "on"),
        )
        return _json(update, 201)

    def c_user_reply(self, request: Request, user_id: int) -> Response:
        body = self._body(request)
        update = self.emu.press_reply(
            user_id,
            str(body.get("text") or ""),
            chat_id=self._opt_int(body.get("chat_id")),
            phone_number=body.get("phone_number") or None,
        )
        return _json(update, 201)

    def c_user_block(self, request: Request, user_id: int) -> Response:
        self.emu.block_user(user_id)
        return _json({"ok": True})

    def c_user_unblock(self, request: Request, user_id: int) -> Response:
        self.emu.unblock_user(user_id)
        return _json({"ok": True})

    def c_groups(self, request: Request) -> Response:
        body = self._body(request)
        members = body.get("member_ids") or []
        if not isinstance(members, list):
            raise ValueError("member_ids must be a list of user ids")
        chat_id = self.emu.create_group(
            str(body.get("title") or "Группа"), [int(m) for m in members]
        )
        return _json({"chat_id": chat_id}, 201)

    def c_chat_messages(self, request: Request, chat_id: int) -> Response:
        return _json(self.emu.messages(chat_id))

    def c_chat_transcript(self, request: Request, chat_id: int) -> Response:
        return _json(self.emu.transcript(chat_id))

    def c_faults(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(self.emu.faults())
        if request.method == "DELETE":
            self.emu.clear_faults()
            return _json({"ok": True})
        body = self._body(request)
        if not body.get("kind"):
            raise ValueError("kind is required")
        kwargs: dict[str, Any] = {"kind": str(body["kind"])}
        for key in ("method", "chat_id"):
            if body.get(key) not in (None, ""):
                kwargs[key] = body[key]
        if "count" in body:
            kwargs["count"] = self._opt_int(body["count"])
        for key, cast in (("retry_after", int), ("delay", float), ("probability", float)):
            if body.get(key) not in (None, ""):
                kwargs[key] = cast(body[key])
        if body.get("seed") not in (None, ""):
            kwargs["seed"] = int(body["seed"])
        return _json(self.emu.inject_fault(**kwargs), 201)

    def c_calls(self, request: Request) -> Response:
        calls = self.emu.calls
        method = request.args.get("method")
        if method:
            calls = [c for c in calls if c["method"].lower() == method.lower()]
        limit = request.args.get("limit", type=int)
        if limit:
            calls = calls[-limit:]
        return _json(calls)

    def c_callback_answers(self, request: Request) -> Response:
        return _json(self.emu.callback_answers)

    def c_stats(self, request: Request) -> Response:
        return _json(self.emu.stats())

    def c_reset(self, request: Request) -> Response:
        self.emu.reset()
        return _json({"ok": True})

    def c_file(self, request: Request, file_id: str) -> Response:
        found = self.emu.file_bytes(file_id)
        if found is None:
            raise KeyError(f"unknown file {file_id}")
        data, mime = found
        return Response(data, mimetype=mime or "application/octet-stream")

    # --- phone page ------------------------------------------------------------------

    def c_phone(self, request: Request) -> Response:
        if request.method == "POST":
            form = request.form
            user = self.emu.create_user(
                first_name=form.get("first_name", "").strip() or "Пациент",
                last_name=form.get("last_name", "").strip() or None,
                phone_number=form.get("phone_number", "").strip() or None,
            )
            return redirect(f"/phone?user={user['id']}", code=303)
        raw = request.args.get("user", "")
        if not raw:
            return self._phone_form()
        try:
            self._known_user(int(raw))
        except (KeyError, ValueError):
            return Response(
                _page(
                    "Нет такого пользователя",
                    f"<p>Пользователь {html.escape(raw)} не найден.</p>"
                    '<p><a href="/phone">Создать тестового пациента</a></p>',
                ),
                status=404,
                mimetype="text/html",
            )
        return Response(self.phone_page(), mimetype="text/html")

    def _phone_form(self) -> Response:
        return self.phone_form(
            id_key="id", heading="Новый тестовый пациент", title="Телефон — эмулятор Telegram"
        )


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;background:#dfe7ee;margin:0;padding:24px;}"
        "form,ul{background:#fff;max-width:360px;margin:0 auto 16px;padding:16px 20px;"
        "border-radius:12px;box-shadow:0 2px 8px #0002}"
        "label{display:block;margin:10px 0;font-size:14px;color:#555}"
        "input{display:block;width:100%;box-sizing:border-box;padding:8px;margin-top:4px;"
        "border:1px solid #ccd;border-radius:8px;font-size:15px}"
        "button{width:100%;padding:10px;background:#3390ec;color:#fff;border:0;"
        "border-radius:8px;font-size:15px;cursor:pointer}"
        "h2,h3{margin:0 0 8px;text-align:center}li{margin:6px 0 6px 16px}"
        ".elsewhere{text-align:center}"
        f"</style></head><body>{body}</body></html>"
    )
