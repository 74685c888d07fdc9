"""The outbox dispatcher: sends due messages in priority order within Telegram's limits."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core import outbox
from core.config import Config, redact
from core.db import transaction, utcnow
from core.models import OutboxMessage
from core.ratelimit import PerKeySpacer, Spacer
from jobs.transports import DeliveryError, Transport

log = logging.getLogger(__name__)

# A message claimed longer ago than this was lost with a crashed process.
STALE_AFTER = timedelta(minutes=2)


class Dispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        transport: Transport,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.factory = factory
        self.transport = transport
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        m = config.messaging
        self.global_spacer = Spacer(m.global_per_second)
        # A small margin over Telegram's 1 s: its window and our clock are not the same.
        self.chat_spacer = PerKeySpacer(1.0 / (1.0 / m.per_chat_per_second + 0.05))
        self.group_spacer = PerKeySpacer(m.group_per_minute / 60.0)
        self.quiet = outbox.QuietHours(m.quiet_start, m.quiet_end, config.clinic.tz)
        self.wake_event = threading.Event()

    def wake(self) -> None:
        self.wake_event.set()

    def recover(self) -> int:
        with transaction(self.factory) as session:
            return outbox.recover_stale(session, self.clock() - STALE_AFTER)

    def _spacer_ready(self, chat_id: int) -> bool:
        spacers = self.group_spacer if chat_id < 0 else self.chat_spacer
        return spacers.ready(chat_id)

    def dispatch_once(self, limit: int = 200) -> int:
        """One pass over due messages; returns how many were sent (or finally settled)."""
        now = self.clock()
        with self.factory() as session:
            due = outbox.claim_due(session, now, limit)
            session.expunge_all()
        done = 0
        busy_chats: set[int] = set()
        for message in due:
            if message.respect_quiet_hours and message.priority > outbox.PRIORITY_REPLY:
                resume = self.quiet.next_allowed(now)
                if resume is not None:
                    self._defer(message.id, resume, "quiet hours")
                    continue
            if message.chat_id in busy_chats or not self._spacer_ready(message.chat_id):
                busy_chats.add(message.chat_id)  # keep this chat's messages in order
                continue
            while not self.global_spacer.take():
                time.sleep(self.global_spacer.wait_time())
            spacers = self.group_spacer if message.chat_id < 0 else self.chat_spacer
            spacers.take(message.chat_id)
            busy_chats.add(message.chat_id)
            if self._send(message):
                done += 1
        return done

    def _defer(self, message_id: int, until: datetime, why: str) -> None:
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None and row.state == "pending":
                row.due_at, row.last_error = until, why

    def _send(self, message: OutboxMessage) -> bool:
        with transaction(self.factory) as session:
            if not outbox.mark_claimed(session, message.id, self.clock()):
                return False
        try:
            telegram_id = self.transport.send(message)
        except DeliveryError as err:
            return self._failed(message, err)
        except Exception as err:  # an unknown failure is treated as transient, and logged
            log.exception("sending outbox message %s failed", message.id)
            return self._failed(message, DeliveryError("transient", redact(repr(err), self.config)))
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, message.id)
            assert row is not None
            row.state, row.sent_at, row.telegram_message_id = "sent", self.clock(), telegram_id
            row.last_error = ""
        return True

    def _failed(self, message: OutboxMessage, err: DeliveryError) -> bool:
        now = self.clock()
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, message.id)
            assert row is not None
            row.last_error = redact(str(err), self.config)[:2000]
            if err.kind == "already_done":
                row.state, row.sent_at = "sent", now
                return True
            if err.kind == "forbidden":
                outbox.mark_unreachable(session, row.chat_id, err.detail, now)
                row.state = "unreachable"
                return True
            if err.kind == "rejected":
                row.state = "failed"
                return True
            if err.kind == "rate_limited":
                # Telegram says exactly how long; waiting less only earns another 429.
                row.state, row.due_at = "pending", now + timedelta(seconds=err.retry_after)
                row.attempts = max(row.attempts - 1, 0)  # not the message's fault
                return False
            if row.attempts >= self.config.messaging.max_attempts:
                row.state = "failed"
                return True
            backoff = min(2**row.attempts, 600) * self.rng.uniform(0.5, 1.5)
            row.state, row.due_at = "pending", now + timedelta(seconds=backoff)
            return False

    def run(self, stop: threading.Event) -> None:
        """The dispatcher thread: send, then sleep until woken or briefly idle."""
        self.recover()
        while not stop.is_set():
            try:
                sent = self.dispatch_once()
            except Exception:
                log.exception("dispatcher pass failed")
                sent = 0
            if sent == 0:
                self.wake_event.wait(timeout=0.25)
                self.wake_event.clear()
