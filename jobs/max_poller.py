"""MAX updates in: long polling (``GET /updates`` with ``marker``) through a durable inbox,
like Telegram's (jobs/poller.py).

MAX numbers its updates only through the marker: the answer's ``marker`` points to the next
update, and passing it *commits* every update before it at MAX, which will not give them
again. So a batch is stored together with the marker that follows it in one transaction,
and only that stored marker is ever passed:

- a crash after the answer but before the commit stores nothing and saves no marker; the
  next request passes the old marker, so MAX gives the same updates again: none lost;
- a crash after the commit: the next request passes the new marker, so MAX gives none of
  the stored ones again: none twice; the stored ones not yet handled are handled first.

Handling one update and marking it handled commit together (bot_handlers.context
AMBIENT_SESSION), so none is handled twice, even across a crash.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot_handlers.channels.base import DeliveryError
from bot_handlers.channels.max import UPDATE_TYPES, MaxClient, local_id, update_event
from bot_handlers.channels.router import Router
from core.clock import utcnow
from core.config import Config, redact
from core.db import transaction
from core.models import KeyValue, MaxUpdate
from jobs.inbound import handle_stored_update

log = logging.getLogger(__name__)

MARKER_KEY = "max.updates_marker"


def load_marker(session: Session) -> int | None:
    row = session.get(KeyValue, MARKER_KEY)
    return int(row.value) if row is not None and row.value is not None else None


def store_batch(session: Session, updates: list[dict[str, Any]], marker: int | None) -> None:
    now = utcnow()
    for update in updates:
        session.add(MaxUpdate(payload=update, source="polling", received_at=now))
    if marker is not None:
        row = session.get(KeyValue, MARKER_KEY)
        if row is None:
            session.add(KeyValue(key=MARKER_KEY, value=marker))
        else:
            row.value = marker
    session.flush()


class MaxUpdateProcessor:
    """Handles stored MAX updates one by one, in arrival order, each exactly once."""

    def __init__(
        self,
        router: Router,
        factory: sessionmaker[Session],
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.router = router
        self.factory = factory
        self.wake = wake
        self.clock = clock
        self._lock = threading.Lock()

    def process_pending(self, limit: int = 100) -> int:
        with self._lock:
            with self.factory() as session:
                ids = list(
                    session.scalars(
                        select(MaxUpdate.id)
                        .where(MaxUpdate.processed_at.is_(None))
                        .order_by(MaxUpdate.id)
                        .limit(limit)
                    )
                )
            for update_id in ids:
                self._process(update_id)
            return len(ids)

    def _process(self, update_id: int) -> None:
        def handle(session: Session, row: MaxUpdate) -> None:
            event = update_event(row.payload, lambda mid: local_id(session, mid))
            if event is not None:
                self.router.dispatch(event)

        if handle_stored_update(self.factory, MaxUpdate, update_id, handle, self.clock, log):
            self.wake()


class MaxPoller:
    def __init__(
        self,
        client: MaxClient,
        factory: sessionmaker[Session],
        config: Config,
        processor: MaxUpdateProcessor,
        *,
        long_poll_seconds: int = 25,
    ) -> None:
        self.client = client
        self.factory = factory
        self.config = config
        self.processor = processor
        self.long_poll_seconds = long_poll_seconds
        self.errors_in_a_row = 0
        self.last_ok: datetime | None = None

    def poll_once(self, timeout: int | None = None) -> int:
        """One ``GET /updates``; stores what came with the next marker, then handles every
        stored update. Returns how many updates MAX gave."""
        wait = self.long_poll_seconds if timeout is None else timeout
        with self.factory() as session:
            marker = load_marker(session)
        answer = self.client.call(
            "GET",
            "/updates",
            {"marker": marker, "timeout": wait, "limit": 100, "types": ",".join(UPDATE_TYPES)},
            timeout=wait + 10,  # the HTTP read timeout; the long poll itself is `wait`
        )
        self.last_ok = utcnow()
        updates = list(answer.get("updates") or [])
        new_marker = answer.get("marker")
        if updates or (new_marker is not None and new_marker != marker):
            with transaction(self.factory) as session:
                store_batch(session, updates, new_marker)
        self.processor.process_pending()
        return len(updates)

    def unsubscribe(self) -> None:
        """Long polling is this installation's mode: a webhook left from max.mode = "webhook"
        would make MAX refuse every GET /updates (the two cannot be used at once)."""
        try:
            subscriptions = self.client.call("GET", "/subscriptions").get("subscriptions") or []
            for sub in subscriptions:
                self.client.call("DELETE", "/subscriptions", {"url": sub["url"]})
                log.info("MAX webhook %s removed: long polling is the mode", sub["url"])
        except Exception as exc:
            log.warning("removing MAX webhooks failed: %s", redact(str(exc), self.config))

    def run(self, stop: threading.Event) -> None:
        self.processor.process_pending()  # what was stored before a restart goes first
        self.unsubscribe()
        while not stop.is_set():
            try:
                self.poll_once()
                self.errors_in_a_row = 0
                # MAX's minimum polling time is 300 ms.
                stop.wait(0.3)
            except DeliveryError as exc:
                self.errors_in_a_row += 1
                if "405" in exc.detail:
                    log.error(
                        "MAX refuses long polling: a webhook subscription is set (%s)", exc.detail
                    )
                else:
                    log.warning("MAX getUpdates failed: %s", redact(str(exc), self.config))
                stop.wait(exc.retry_after or self._backoff())
            except Exception as exc:
                self.errors_in_a_row += 1
                log.warning("MAX getUpdates failed: %s", redact(repr(exc), self.config))
                stop.wait(self._backoff())

    def _backoff(self) -> float:
        delay = 2 ** min(self.errors_in_a_row, 6)
        return float(min(delay, 60.0) * random.uniform(0.5, 1.0))


class MaxWebhookKeeper:
    """max.mode = "webhook": subscribes max.webhook_url (with its secret) at start, then
    handles what the web workers store (app/views/max.py) — the same inbox and processor
    as long polling, so an update is handled once, by the runner alone."""

    def __init__(
        self,
        client: MaxClient,
        config: Config,
        processor: MaxUpdateProcessor,
        *,
        interval: float = 0.25,
    ) -> None:
        self.client = client
        self.config = config
        self.processor = processor
        self.interval = interval
        self.subscribed = False

    def subscribe(self) -> None:
        m = self.config.max
        # MAX takes only HTTPS (config.py allows http:// only towards the sandbox emulator).
        body = {"url": m.webhook_url, "secret": m.webhook_secret, "update_types": UPDATE_TYPES}
        self.client.call("POST", "/subscriptions", body=body)
        self.subscribed = True
        log.info("MAX webhook subscribed: %s", m.webhook_url)

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            if not self.subscribed:
                try:
                    self.subscribe()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    log.warning("MAX subscription failed: %s", redact(str(exc), self.config))
                    stop.wait(min(2**failures, 60))
                    continue
            try:
                self.processor.process_pending()
            except Exception:
                log.exception("handling stored MAX updates failed")
            stop.wait(self.interval)
