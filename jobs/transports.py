"""How an outbox row leaves the building. One interface, errors that say whether to retry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import requests
from telebot import TeleBot
from telebot.apihelper import ApiTelegramException

from core.models import OutboxMessage


@dataclass
class DeliveryError(Exception):
    """kind: rate_limited (wait retry_after) | transient (back off) | forbidden (stop) |
    rejected (the message itself is wrong; retrying cannot help)."""

    kind: str
    detail: str
    retry_after: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Transport(Protocol):
    def send(self, message: OutboxMessage) -> int | None: ...


class TelegramTransport:
    def __init__(self, bot: TeleBot) -> None:
        self.bot = bot

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
                )
                return message.edit_message_id
            if message.edit_message_id:
                self.bot.edit_message_text(
                    message.text,
                    message.chat_id,
                    message.edit_message_id,
                    reply_markup=markup,  # type: ignore[arg-type]
                    parse_mode=message.parse_mode or None,
                )
                return message.edit_message_id
            sent = self.bot.send_message(
                message.chat_id,
                message.text,
                reply_markup=markup,  # type: ignore[arg-type]
                parse_mode=message.parse_mode or None,
            )
            return sent.message_id
        except ApiTelegramException as exc:
            raise classify(exc) from None
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
