"""Telegram updates in: long polling (default) or a webhook, both through one inbox.

Either way an update is first stored in the `telegram_updates` table, then handled by the
runner alone, in update_id order:

- Long polling stores each batch together with the next offset in one transaction, so
  after a crash Telegram is never asked for an update already stored, and nothing stored
  is lost.
- The webhook route (app/views/telegram.py) stores what Telegram posts, in any web
  worker; the runner's thread handles it, so handlers never run concurrently.
- Handling one update and marking it handled commit together (bot_handlers.context
  AMBIENT_SESSION), so no update is handled twice, even across a crash.

Long polling survives network errors and Telegram's 409 (another poller, or a webhook set
by someone else) by backing off and trying again, forever.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from telebot import TeleBot, apihelper, types
from telebot.apihelper import ApiTelegramException

from core import updates
from core.clock import utcnow
from core.config import Config, redact
from core.db import transaction
from core.models import TelegramUpdate
from jobs.inbound import handle_stored_update

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


class UpdateProcessor:
    """Handles stored updates one by one, in order, each exactly once."""

    def __init__(
        self,
        bot: TeleBot,
        factory: sessionmaker[Session],
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        self.factory = factory
        self.wake = wake
        self.clock = clock
        self._lock = threading.Lock()

    def process_pending(self, limit: int = 100) -> int:
        with self._lock:  # one handler at a time, whoever calls
            with self.factory() as session:
                ids = updates.pending_ids(session, limit)
            for update_id in ids:
                self._process(update_id)
            return len(ids)

    def _process(self, update_id: int) -> None:
        def handle(session: Session, row: TelegramUpdate) -> None:
            self.bot.process_new_updates([types.Update.de_json(row.payload)])

        if handle_stored_update(self.factory, TelegramUpdate, update_id, handle, self.clock, log):
            self.wake()


class Poller:
    def __init__(
        self,
        bot: TeleBot,
        factory: sessionmaker[Session],
        config: Config,
        *,
        processor: UpdateProcessor | None = None,
        long_poll_seconds: int = 25,
    ) -> None:
        self.bot = bot
        self.factory = factory
        self.config = config
        self.processor = processor or UpdateProcessor(bot, factory)
        self.long_poll_seconds = long_poll_seconds
        self.errors_in_a_row = 0
        self.conflicts = 0
        self.backoff_base = 1.0
        # When getUpdates last answered: the runner's heartbeat reports the polling lag.
        self.last_ok: datetime | None = None

    def poll_once(self, timeout: int | None = None) -> int:
        """One getUpdates call; stores what came with the new offset, then handles every
        stored update. Returns how many updates Telegram gave."""
        wait = self.long_poll_seconds if timeout is None else timeout
        with self.factory() as session:
            offset = updates.load_offset(session)
        raw = apihelper.get_updates(
            self.bot.token,
            offset=offset or None,
            limit=100,
            timeout=wait + 10,  # the HTTP read timeout; the long poll itself is `wait`
            allowed_updates=ALLOWED_UPDATES,
            long_polling_timeout=wait,
        )
        self.last_ok = utcnow()
        if raw:
            with transaction(self.factory) as session:
                updates.store_updates(session, raw, "polling")
                updates.save_offset(session, max(int(u["update_id"]) for u in raw) + 1)
        self.processor.process_pending()
        return len(raw)

    def run(self, stop: threading.Event) -> None:
        # Updates stored but not handled before a restart go first.
        self.processor.process_pending()
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
                    self.conflicts += 1
                    log.error(
                        "Telegram says another poller or a webhook uses this bot token "
                        "(%s); retrying",
                        exc.description,
                    )
                    if "webhook" in (exc.description or ""):
                        # Someone set a webhook: polling is this installation's mode.
                        try:
                            self.bot.delete_webhook(drop_pending_updates=False)
                        except Exception as err:
                            log.warning("deleteWebhook failed: %s", redact(str(err), self.config))
                else:
                    log.warning("getUpdates failed: %s", redact(str(exc), self.config))
                stop.wait(self._backoff())
            except Exception as exc:  # network trouble, a 5xx: keep trying, more slowly
                self.errors_in_a_row += 1
                log.warning("getUpdates failed: %s", redact(repr(exc), self.config))
                stop.wait(self._backoff())

    def _backoff(self) -> float:
        delay = self.backoff_base * 2 ** min(self.errors_in_a_row, 6)
        return float(min(delay, 60.0) * random.uniform(0.5, 1.0))


class WebhookKeeper:
    """telegram.mode = "webhook": sets the webhook (with its secret) at start, then
    handles what the web workers store."""

    def __init__(
        self,
        bot: TeleBot,
        config: Config,
        processor: UpdateProcessor,
        *,
        interval: float = 0.25,
    ) -> None:
        self.bot = bot
        self.config = config
        self.processor = processor
        self.interval = interval
        self.registered = False

    def register(self) -> None:
        t = self.config.telegram
        self.bot.set_webhook(
            url=t.webhook_url,
            secret_token=t.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            # One delivery at a time: updates arrive, and are stored, in order.
            max_connections=1,
            drop_pending_updates=False,
        )
        self.registered = True
        log.info("webhook set to %s", t.webhook_url)

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            if not self.registered:
                try:
                    self.register()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    log.warning("setWebhook failed: %s", redact(str(exc), self.config))
                    stop.wait(min(2**failures, 60))
                    continue
            try:
                self.processor.process_pending()
            except Exception:
                log.exception("handling stored updates failed")
            stop.wait(self.interval)
