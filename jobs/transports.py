"""How an outbox row leaves the building. One interface, errors that say whether to retry.

Two channels: Telegram (the bot) and SMS (reminders for patients with no working bot chat,
through SMS.ru's HTTP API). The dispatcher only sees `Transport.send` and `DeliveryError`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from telebot import TeleBot
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from core.models import OutboxMessage

log = logging.getLogger(__name__)

# Seconds for one send. Telegram answers in well under a second; a request that takes
# longer is treated like a 5xx (backed off and retried).
SEND_TIMEOUT = 15


@dataclass
class DeliveryError(Exception):
    """kind: rate_limited (wait retry_after) | transient (back off) | forbidden (stop) |
    rejected (the message itself is wrong; retrying cannot help) | already_done."""

    kind: str
    detail: str
    retry_after: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Transport(Protocol):
    def send(self, message: OutboxMessage) -> int | None: ...


class TelegramTransport:
    def __init__(self, bot: TeleBot, timeout: int = SEND_TIMEOUT) -> None:
        self.bot = bot
        self.timeout = timeout

    def send(self, message: OutboxMessage) -> int | None:
        markup = (
            json.dumps(message.reply_markup, ensure_ascii=False) if message.reply_markup else None
        )
        try:
            if message.kind == "edit_markup" and message.edit_message_id:
                self.bot.edit_message_reply_markup(
                    message.chat_id,
                    message.edit_message_id,
                    reply_markup=markup,  # type: ignore[arg-type]
                    timeout=self.timeout,
                )
                return message.edit_message_id
            if message.edit_message_id:
                self.bot.edit_message_text(
                    message.text,
                    message.chat_id,
                    message.edit_message_id,
                    reply_markup=markup,  # type: ignore[arg-type]
                    parse_mode=message.parse_mode or None,
                    timeout=self.timeout,
                )
                return message.edit_message_id
            sent = self.bot.send_message(
                message.chat_id,
                message.text,
                reply_markup=markup,  # type: ignore[arg-type]
                parse_mode=message.parse_mode or None,
                timeout=self.timeout,
            )
            return sent.message_id
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


# --- SMS -----------------------------------------------------------------------------------

# SMS.ru's status codes (https://sms.ru/api/send) grouped by what to do about them.
SMSRU_RETRY = {
    201: "not enough money on the SMS.ru account",
    206: "the account's daily limit is reached",
    220: "SMS.ru is temporarily unavailable",
    500: "SMS.ru server error",
}
SMSRU_CONFIG = {
    200: "wrong api_id",
    204: "the sender name is not approved by SMS.ru",
    300: "wrong token",
    301: "wrong api_id, or login and password",
    302: "the SMS.ru account is not confirmed",
}


class SmsRuTransport:
    """SMS.ru's HTTP API: POST /sms/send with api_id, to, msg, json=1 (and `from`).

    The answer has an overall status and one per number; status_code 100 means accepted.
    """

    def __init__(
        self,
        api_url: str,
        api_id: str,
        sender: str = "",
        *,
        timeout: int = SEND_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.url = api_url.rstrip("/") + "/sms/send"
        self.api_id = api_id
        self.sender = sender
        self.timeout = timeout
        self.session = session or requests.Session()

    def send(self, message: OutboxMessage) -> int | None:
        to = message.phone.lstrip("+")
        if not to.isdigit():
            raise DeliveryError("rejected", f"not a phone number: {message.phone!r}")
        data: dict[str, Any] = {"api_id": self.api_id, "to": to, "msg": message.text, "json": 1}
        if self.sender:
            data["from"] = self.sender
        try:
            reply = self.session.post(self.url, data=data, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DeliveryError("transient", f"SMS.ru network: {exc.__class__.__name__}") from None
        if reply.status_code >= 500:
            raise DeliveryError("transient", f"SMS.ru HTTP {reply.status_code}")
        try:
            body = reply.json()
        except ValueError:
            raise DeliveryError(
                "transient", f"SMS.ru answered HTTP {reply.status_code} without JSON"
            ) from None
        overall = int(body.get("status_code") or 0)
        if overall != 100:
            raise _smsru_error(overall, str(body.get("status_text") or ""))
        per_number = (body.get("sms") or {}).get(to) or {}
        code = int(per_number.get("status_code") or 0)
        if code != 100:
            raise _smsru_error(code, str(per_number.get("status_text") or ""))
        log.debug("SMS.ru accepted %s as %s", message.key, per_number.get("sms_id"))
        return None


def _smsru_error(code: int, text: str) -> DeliveryError:
    if code in SMSRU_RETRY:
        return DeliveryError("transient", f"SMS.ru {code}: {SMSRU_RETRY[code]}")
    if code in SMSRU_CONFIG:
        # A configuration problem: retrying with backoff gives IT time to fix the key
        # before the message is given up.
        return DeliveryError("transient", f"SMS.ru {code}: {SMSRU_CONFIG[code]}")
    # 202 wrong number, 207 cannot send there, 209 stop list, 230-233 per-number limits,
    # 203/205/212 the text itself: sending again cannot help.
    return DeliveryError("rejected", f"SMS.ru {code}: {text or 'refused'}")
