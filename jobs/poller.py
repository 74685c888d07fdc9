"""Long polling of Telegram: one poller per installation, offset kept across restarts.

The offset is saved after each update is handled, so a crash re-delivers at most the
update in hand, and handlers are idempotent (keyed outbox rows) for exactly that case.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker
from telebot import TeleBot
from telebot.apihelper import ApiTelegramException

from core.config import Config, redact
from core.db import transaction
from core.models import KeyValue

log = logging.getLogger(__name__)

OFFSET_KEY = "telegram.update_offset"


def load_offset(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        row = session.get(KeyValue, OFFSET_KEY)
        return int(row.value) if row is not None else 0


def save_offset(factory: sessionmaker[Session], offset: int) -> None:
    with transaction(factory) as session:
        row = session.get(KeyValue, OFFSET_KEY)
        if row is None:
            session.add(KeyValue(key=OFFSET_KEY, value=offset))
        elif int(row.value) < offset:
            row.value = offset


class Poller:
    def __init__(
        self,
        bot: TeleBot,
        factory: sessionmaker[Session],
        config: Config,
        *,
        long_poll_seconds: int = 25,
    ) -> None:
        self.bot = bot
        self.factory = factory
        self.config = config
        self.long_poll_seconds = long_poll_seconds
        self.errors_in_a_row = 0

    def poll_once(self, timeout: int | None = None) -> int:
        """One getUpdates call; handles what came and returns how many updates."""
        offset = load_offset(self.factory)
        updates = self.bot.get_updates(
            offset=offset or None,
            timeout=self.long_poll_seconds if timeout is None else timeout,
            allowed_updates=["message", "callback_query"],
            long_polling_timeout=self.long_poll_seconds if timeout is None else timeout,
        )
        for update in updates:
            try:
                self.bot.process_new_updates([update])
            except Exception:
                # A handler bug must not wedge the queue: log it and move past the update.
                log.exception("handling update %s failed", update.update_id)
            save_offset(self.factory, update.update_id + 1)
        return len(updates)

    def run(self, stop: threading.Event) -> None:
        try:
            self.bot.delete_webhook(drop_pending_updates=False)
        except Exception as exc:
            log.warning("deleteWebhook failed: %s", redact(str(exc), self.config))
        while not stop.is_set():
            try:
                self.poll_once()
                self.errors_in_a_row = 0
            except ApiTelegramException as exc:
                self.errors_in_a_row += 1
                if exc.error_code == 409:
                    log.error(
                        "Telegram says another poller or a webhook uses this bot token: %s",
                        exc.description,
                    )
                else:
                    log.warning("getUpdates failed: %s", redact(str(exc), self.config))
                stop.wait(self._backoff())
            except Exception as exc:  # network trouble: keep trying, more slowly
                self.errors_in_a_row += 1
                log.warning("getUpdates failed: %s", redact(repr(exc), self.config))
                stop.wait(self._backoff())

    def _backoff(self) -> float:
        return min(2 ** min(self.errors_in_a_row, 6), 60) * (0.75 + 0.5 * (time.monotonic() % 1))
