"""A local stand-in for SMS.ru's HTTP API, for the demo and the tests.

Speaks the documented protocol (https://sms.ru/api/send): `sms/send` with api_id, to
(comma-separated numbers), msg, json=1 and an optional `from`; answers with an overall
status and one status per number, status_code 100 meaning "accepted". Also `sms/status`
and `my/balance`. It records every accepted message, keeps a balance, refuses numbers that
are not Russian mobiles (202) or are on the stop list (209), and, like SMS.ru, refuses the
same text to the same number twice within a minute (231). Faults can be injected.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

__all__ = ["SmsRuEmulator", "SentSms"]

STATUS_TEXT = {
    100: "Сообщение принято к отправке",
    200: "Неправильный api_id",
    201: "Не хватает средств на лицевом счету",
    202: "Неправильно указан номер телефона получателя, либо на него нет маршрута",
    203: "Нет текста сообщения",
    205: "Сообщение слишком длинное (превышает 8 СМС)",
    207: "На этот номер (или один из номеров) нельзя отправлять сообщения",
    209: "Вы добавили этот номер (или один из номеров) в стоп-лист",
    211: "Метод не найден",
    213: "Указано более 100 номеров в списке получателей",
    220: "Сервис временно недоступен, попробуйте чуть позже",
    231: "Превышен лимит одинаковых сообщений на этот номер в минуту",
}
_MOBILE = re.compile(r"^79\d{9}$")
PRICE_RUB = 4.0


@dataclass
class SentSms:
    sms_id: str
    to: str
    msg: str
    sender: str
    at: float


@dataclass
class _Fault:
    code: int  # an SMS.ru status code, or 500 for an HTTP error
    remaining: int | None
    probability: float | None
    rng: random.Random = field(default_factory=random.Random)


class SmsRuEmulator:
    def __init__(
        self,
        api_ids: Iterable[str] = ("TEST-API-ID",),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        balance: float = 1000.0,
    ) -> None:
        self.api_ids = set(api_ids)
        self.host, self.port = host, port
        self.balance = balance
        self.stop_list: set[str] = set()
        self.sent: list[SentSms] = []
        self.requests = 0
        self._faults: list[_Fault] = []
        self._ids = itertools.count(10_000_001)
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SmsRuEmulator:
        self._server = make_server(self.host, self.port, self._app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"smsru:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SmsRuEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control ---------------------------------------------------------------------------

    def inject_fault(
        self, code: int, *, count: int | None = 1, probability: float | None = None, seed: int = 0
    ) -> None:
        """`code` 500 answers HTTP 500; any other is an SMS.ru status for the number."""
        with self._lock:
            self._faults.append(_Fault(code, count, probability, random.Random(seed)))

    def messages_to(self, phone: str) -> list[SentSms]:
        digits = phone.lstrip("+")
        with self._lock:
            return [m for m in self.sent if m.to == digits]

    # -- protocol --------------------------------------------------------------------------

    def _take_fault(self) -> int | None:
        for fault in self._faults:
            if fault.probability is not None and fault.rng.random() >= fault.probability:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault.code
        return None

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        params = {**request.args.to_dict(), **request.form.to_dict()}
        with self._lock:
            self.requests += 1
            if request.path == "/sms/send":
                status, body = self._send(params)
            elif request.path == "/my/balance":
                status, body = self._balance(params)
            elif request.path == "/sms/status":
                status, body = self._status(params)
            else:
                status, body = (
                    200,
                    {"status": "ERROR", "status_code": 211, "status_text": STATUS_TEXT[211]},
                )
        if status != 200:
            response = Response("Internal Server Error", status=status)
        elif params.get("json") == "1":
            response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")
        else:
            response = Response(_plain(body), mimetype="text/plain")
        return response(environ, start_response)

    def _authorised(self, params: dict[str, str]) -> dict[str, Any] | None:
        if params.get("api_id") not in self.api_ids:
            return {"status": "ERROR", "status_code": 200, "status_text": STATUS_TEXT[200]}
        return None

    def _send(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refused = self._authorised(params)
        if refused:
            return 200, refused
        fault = self._take_fault()
        if fault == 500:
            return 500, {}
        if fault in (201, 220):
            return 200, {"status": "ERROR", "status_code": fault, "status_text": STATUS_TEXT[fault]}
        msg = params.get("msg", "")
        numbers = [n.strip().lstrip("+") for n in params.get("to", "").split(",") if n.strip()]
        if not msg:
            return 200, {"status": "ERROR", "status_code": 203, "status_text": STATUS_TEXT[203]}
        if len(numbers) > 100:
            return 200, {"status": "ERROR", "status_code": 213, "status_text": STATUS_TEXT[213]}
        result: dict[str, Any] = {}
        now = time.time()
        for number in numbers:
            code = fault if fault is not None else self._check_number(number, msg, now)
            if code != 100:
                result[number] = {
                    "status": "ERROR",
                    "status_code": code,
                    "status_text": STATUS_TEXT.get(code, ""),
                }
                continue
            if self.balance < PRICE_RUB:
                result[number] = {
                    "status": "ERROR",
                    "status_code": 201,
                    "status_text": STATUS_TEXT[201],
                }
                continue
            self.balance -= PRICE_RUB
            sms_id = f"{next(self._ids):06d}-{len(self.sent) + 1:08d}"
            self.sent.append(SentSms(sms_id, number, msg, params.get("from", ""), now))
            result[number] = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        return 200, {
            "status": "OK",
            "status_code": 100,
            "sms": result,
            "balance": round(self.balance, 2),
        }

    def _check_number(self, number: str, msg: str, now: float) -> int:
        if not _MOBILE.match(number):
            return 202
        if number in self.stop_list:
            return 209
        if len(msg) > 8 * 70:
            return 205
        if any(m.to == number and m.msg == msg and now - m.at < 60 for m in self.sent):
            return 231
        return 100

    def _balance(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refused = self._authorised(params)
        return 200, refused or {
            "status": "OK",
            "status_code": 100,
            "balance": round(self.balance, 2),
        }

    def _status(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        refused = self._authorised(params)
        if refused:
            return 200, refused
        ids = [i for i in params.get("sms_id", "").split(",") if i]
        known = {m.sms_id for m in self.sent}
        return 200, {
            "status": "OK",
            "status_code": 100,
            "sms": {
                i: {"status": "OK", "status_code": 103, "status_text": "Сообщение доставлено"}
                if i in known
                else {"status": "ERROR", "status_code": -1, "status_text": "Сообщение не найдено"}
                for i in ids
            },
            "balance": round(self.balance, 2),
        }


def _plain(body: dict[str, Any]) -> str:
    """The answer without json=1: the overall code, then one line per number."""
    lines = [str(body.get("status_code", ""))]
    for answer in (body.get("sms") or {}).values():
        lines.append(answer.get("sms_id") or str(answer.get("status_code")))
    if "balance" in body:
        lines.append(f"balance={body['balance']}")
    return "\n".join(lines)
