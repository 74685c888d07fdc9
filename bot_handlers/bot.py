"""Building the TeleBot, pointed at Telegram or at the sandbox emulator."""

from __future__ import annotations

from telebot import TeleBot, apihelper

from core.config import Config


def build_bot(config: Config) -> TeleBot:
    if config.telegram.api_url:
        base = config.telegram.api_url.rstrip("/")
        # pyTelegramBotAPI keeps these process-wide; one clinic per process makes that fine.
        apihelper.API_URL = base + "/bot{0}/{1}"  # type: ignore[assignment]
        apihelper.FILE_URL = base + "/file/bot{0}/{1}"  # type: ignore[assignment]
    # threaded=False: handlers run in the poller's thread, one update at a time, in order.
    return TeleBot(config.telegram.token or "0:unset", threaded=False, parse_mode=None)
