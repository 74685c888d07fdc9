"""The MAX emulator's Bot API over HTTP: each operation of schema.json, after the request
was checked against it (see emulator.py for the state these methods work on)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from .schema import check_request, check_response


def _ms() -> int:
    # The emulator stands in for MAX's servers, whose clock is theirs: wall time is right.
    return int(time.time() * 1000)


class BotApi:
    """Mixed into MaxEmulator, which holds this state."""

    token: str
    bot: dict[str, Any]
    retry_after: int
    _lock: threading.Condition
    _ids: Iterator[int]
    _people: dict[int, Any]
    _messages: dict[str, dict[str, Any]]
    _updates: list[tuple[int, dict[str, Any]]]
    _committed: int
    _callbacks: dict[str, tuple[int, str]]
    _faults: list[int]
    answers: list[dict[str, Any]]
    uploads: dict[str, bytes]
    files: dict[str, tuple[bytes, str]]
    upload_names: dict[str, str]
    not_ready_once: set[str]
    subscription: dict[str, Any] | None
    commands: list[dict[str, Any]]
    requests: list[tuple[str, str, dict[str, str], Any]]
    schema_errors: list[str]
    formats: dict[str, str | None]  # mid -> the format its text was sent in

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.startswith("/_upload/"):
            return self._upload(request, path.removeprefix("/_upload/"))
        if path.startswith("/_files/") and method == "GET":
            return self._served(path.removeprefix("/_files/"))
        query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        body: Any = None
        if request.data:
            try:
                body = json.loads(request.data)
            except ValueError:
                return _error(400, "bad.request", "the body is not JSON")
        self.requests.append((method, path, query, body))
        if request.headers.get("Authorization") != self.token:
            return _error(401, "verify.token", "Invalid access_token")
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault == 429:
            return _error(429, "too.many.requests", "Too many requests", self.retry_after)
        if fault is not None:
            return _error(fault, "internal.error", f"injected {fault}")
        try:
            problems = check_request(method, path, query, body)
        except ValueError:
            return _error(404, "not.found", f"{method} {path}: no such method")
        if problems:
            self.schema_errors += problems
            return _error(400, "proto.payload", "; ".join(problems))
        handler = getattr(self, "_op_" + method.lower() + path.replace("/", "_"))
        status, result = handler(query, body)
        # What MAX would answer must fit its schema too: a misfit is counted, and the
        # tests that read stats() fail on it.
        self.schema_errors += check_response(method, path, status, result)
        return _json(result, status)

    def _op_get_me(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {**self.bot, "commands": self.commands or None}

    def _op_patch_me_commands(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        self.commands = body.get("commands") or []
        return 200, {**self.bot, "commands": self.commands}

    def _keyboard_and_files(self, body: dict[str, Any]) -> tuple[list[Any], str | None]:
        attachments: list[dict[str, Any]] = []
        for a in body.get("attachments") or []:
            if a["type"] in ("file", "image"):
                token = a["payload"].get("token") or ""
                if token not in self.uploads:
                    return [], "attachment.not.found"
                if token in self.not_ready_once:
                    self.not_ready_once.discard(token)
                    return [], "attachment.not.ready"
                url = f"{self.url}/_upload/{token}"
                if a["type"] == "image":
                    attachments.append(
                        {
                            "type": "image",
                            "payload": {"photo_id": next(self._ids), "token": token, "url": url},
                        }
                    )
                else:
                    attachments.append(
                        {
                            "type": "file",
                            "payload": {"url": url, "token": token},
                            "filename": "file",
                            "size": len(self.uploads[token]),
                        }
                    )
            else:
                attachments.append(a)
        return attachments, None

    def _op_post_messages(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        chat_id = int(query.get("chat_id") or 0)
        if not chat_id and query.get("user_id"):
            chat_id = next(
                (c for c, p in self._people.items() if p.user["user_id"] == int(query["user_id"])),
                0,
            )
        person = self._people.get(chat_id)
        if person is None:
            return 404, {"code": "chat.not.found", "message": f"Chat {chat_id} not found"}
        if person.blocked:
            return 403, {"code": "chat.denied", "message": "dialog.suspended"}
        with self._lock:
            attachments, problem = self._keyboard_and_files(body)
            if problem:
                return 400, {"code": problem, "message": problem.replace(".", " ")}
            n = next(self._ids)
            message = {
                "sender": self.bot,
                "recipient": {
                    "chat_id": chat_id,
                    "chat_type": "dialog",
                    "user_id": person.user["user_id"],
                },
                "timestamp": _ms(),
                "body": {
                    "mid": f"mid.{n:016x}",
                    "seq": n,
                    "text": body.get("text"),
                    "attachments": attachments or None,
                },
            }
            self._messages[f"mid.{n:016x}"] = message
            person.transcript.append(message)
            person.log.append({"bot": f"mid.{n:016x}"})
            self.formats[f"mid.{n:016x}"] = body.get("format")
        return 200, {"message": message}

    def _op_put_messages(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            message = self._messages.get(query["message_id"])
            if message is None:
                return 404, {"code": "message.not.found", "message": "Message not found"}
            if body.get("text") is not None:
                message["body"]["text"] = body["text"]
                self.formats[query["message_id"]] = body.get("format")
            if body.get("attachments") is not None:  # null keeps them, [] removes them
                attachments, problem = self._keyboard_and_files(body)
                if problem:
                    return 400, {"code": problem, "message": problem}
                message["body"]["attachments"] = attachments or None
        return 200, {"success": True}

    def _op_delete_messages(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            if self._messages.pop(query["message_id"], None) is None:
                return 404, {"code": "message.not.found", "message": "Message not found"}
        return 200, {"success": True}

    def _op_post_answers(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if query["callback_id"] not in self._callbacks:
            return 400, {"code": "callback.not.found", "message": "Unknown callback_id"}
        self.answers.append({"callback_id": query["callback_id"], **body})
        return 200, {"success": True}

    def _op_post_uploads(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if query["type"] not in ("image", "video", "audio", "file"):
            return 400, {"code": "bad.request", "message": "type: image, video, audio or file"}
        with self._lock:
            token = f"up{next(self._ids)}"
            self.uploads[token] = b""
        return 200, {"url": f"{self.url}/_upload/{token}"}

    def _upload(self, request: Request, token: str) -> Response:
        if token not in self.uploads or "data" not in request.files:
            return _error(400, "bad.request", "multipart field 'data' expected")
        part = request.files["data"]
        self.uploads[token] = part.read()
        self.upload_names[token] = part.filename or ""
        return _json({"token": token})

    def _served(self, token: str) -> Response:
        """A person's file at the URL of its attachment (MAX's file links need no token)."""
        found = self.files.get(token)
        if found is None:
            return _error(404, "not.found", "no such file")
        data, content_type = found
        return Response(data, mimetype=content_type)

    def _op_get_updates(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.subscription is not None:
            return 405, {
                "code": "method.not.allowed",
                "message": "Long polling is not available while a webhook is set",
            }
        limit = int(query.get("limit") or 100)
        timeout = min(int(query.get("timeout") or 30), 90)
        deadline = time.monotonic() + timeout
        with self._lock:
            if query.get("marker"):
                self._committed = max(self._committed, int(query["marker"]))
            start = self._committed
            while True:
                batch = [(s, u) for s, u in self._updates if s >= start][:limit]
                left = deadline - time.monotonic()
                if batch or left <= 0:
                    break
                self._lock.wait(left)
        marker = batch[-1][0] + 1 if batch else start
        return 200, {"updates": [u for _, u in batch], "marker": marker or None}

    def _op_get_subscriptions(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        subs = (
            []
            if self.subscription is None
            else [
                {
                    "url": self.subscription["url"],
                    "time": self.subscription["time"],
                    "update_types": self.subscription.get("update_types"),
                }
            ]
        )
        return 200, {"subscriptions": subs}

    def _op_post_subscriptions(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        url = body["url"]
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            return 400, {"code": "bad.request", "message": "url must start with https://"}
        self.subscription = {**body, "time": _ms()}
        return 200, {"success": True}

    def _op_delete_subscriptions(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            if self.subscription is None or self.subscription["url"] != query["url"]:
                return 200, {"success": False, "message": "no subscription for this url"}
            self.subscription = None
        return 200, {"success": True}


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json"
    )


def _error(status: int, code: str, message: str, retry_after: int = 0) -> Response:
    response = _json({"code": code, "message": message}, status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response
