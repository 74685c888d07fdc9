"""How an outbox row leaves the building. One interface, errors that say whether to retry.

Two channels: Telegram (the bot) and SMS (reminders for patients with no working bot chat,
through SMS.ru's HTTP API). The dispatcher only sees `Transport.send` and `DeliveryError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import requests
from telebot import TeleBot

from bot_handlers.channels.base import Channel, DeliveryError, as_keyboard
from bot_handlers.channels.telegram import SEND_TIMEOUT, TelegramChannel, classify
from core.models import OutboxMessage

log = logging.getLogger(__name__)

__all__ = [
    "ChannelTransport",
    "DeliveryError",
    "SmsRuTransport",
    "TelegramTransport",
    "Transport",
    "classify",
]


class Transport(Protocol):
    def send(self, message: OutboxMessage) -> int | None: ...


# A "file" row's bytes, name and whether it goes as a photo (core.conversations.files).
FileSource = Callable[[OutboxMessage], "tuple[bytes, str, bool] | None"]


class ChannelTransport:
    """An outbox row out through a messenger adapter's operations (bot_handlers/channels/):
    the only code that calls a messenger's API for patients is its adapter."""

    def __init__(self, channel: Channel, files: FileSource | None = None) -> None:
        self.channel = channel
        self.files = files

    def send(self, message: OutboxMessage) -> int | None:
        keyboard = as_keyboard(message.reply_markup)
        if message.kind == "file":
            # The row carries the caption; the file stays on disk with its thread line.
            found = self.files(message) if self.files is not None else None
            if found is None:
                raise DeliveryError("rejected", "the file of this message is no longer kept")
            data, name, image = found
            return self.channel.send_file(
                message.chat_id, data, name, caption=message.text, image=image, keyboard=keyboard
            )
        if message.kind == "edit_markup" and message.edit_message_id:
            return self.channel.edit_keyboard(message.chat_id, message.edit_message_id, keyboard)
        if message.edit_message_id:
            return self.channel.edit_text(
                message.chat_id,
                message.edit_message_id,
                message.text,
                keyboard,
                parse_mode=message.parse_mode,
            )
        return self.channel.send_text(
            message.chat_id, message.text, keyboard, parse_mode=message.parse_mode
        )


class TelegramTransport(ChannelTransport):
    """Telegram's (bot_handlers/channels/telegram.py); MAX's is a ChannelTransport of
    bot_handlers/channels/max.py."""

    def __init__(
        self, bot: TeleBot, timeout: int = SEND_TIMEOUT, files: FileSource | None = None
    ) -> None:
        self.bot = bot
        super().__init__(TelegramChannel(bot, timeout), files)


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
