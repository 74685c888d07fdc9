"""The appliance's background half: sync, rules, reminders, the dispatcher and the poller.

`Appliance` wires the parts together; `kabinet run` starts it once per installation under
the runner lock, beside the web workers (which never run jobs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from telebot import TeleBot

from bot_handlers import register_all
from bot_handlers.bot import build_bot
from bot_handlers.context import BotContext
from connectors.base import Connector, ConnectorError
from connectors.registry import open_connector
from connectors.sync import SyncEngine, SyncReport
from core.config import Config, redact
from core.db import make_engine, session_factory, transaction, utcnow
from core.health import record_mis_failure, record_mis_ok
from core.reminders import plan_reminders
from core.rules import Rules
from jobs.dispatcher import Dispatcher
from jobs.poller import Poller
from jobs.table import JOBS
from jobs.transports import TelegramTransport, Transport

log = logging.getLogger(__name__)


class Appliance:
    def __init__(
        self,
        config: Config,
        *,
        factory: sessionmaker[Session] | None = None,
        bot: TeleBot | None = None,
        connector: Connector | None = None,
        transport: Transport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.clock = clock
        # The appliance owns (and disposes of) its engine unless a factory is handed in.
        self.engine: Engine | None = None
        if factory is None:
            self.engine = make_engine(config.storage.url)
            factory = session_factory(self.engine)
        self.factory = factory
        self.bot = bot or build_bot(config)
        self.dispatcher = Dispatcher(
            factory, transport or TelegramTransport(self.bot), config, clock=clock
        )
        self.ctx = BotContext(config, factory, wake=self.dispatcher.wake)
        register_all(self.bot, self.ctx)
        self.poller = Poller(self.bot, factory, config)
        self.connector = connector or open_connector(config)
        self.sync = SyncEngine(self.connector, factory, clock=clock)
        self.rules = Rules(config, clock=clock)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sync_lock = threading.Lock()

    # -- jobs (named in jobs/table.py) ----------------------------------------------------

    def sync_job(self) -> SyncReport | None:
        with self._sync_lock:
            report = None
            try:
                report = self.sync.run_once()
                record_mis_ok(self.factory, self.clock())
            except ConnectorError as exc:
                message = redact(str(exc), self.config)
                log.warning(
                    "MIS read failed (%s, retry %s): %s",
                    exc.kind,
                    "may help" if exc.retryable else "will not help",
                    message,
                )
                record_mis_failure(self.factory, self.config, self.clock(), message)
            # Events already recorded are handled even when this read failed.
            self.rules.process_pending(self.factory)
            self.dispatcher.wake()
            return report

    def reminders_job(self) -> int:
        with transaction(self.factory) as session:
            queued = plan_reminders(session, self.config, self.clock)
        if queued:
            self.dispatcher.wake()
        return queued

    def recover_job(self) -> int:
        return self.dispatcher.recover()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, *, poll_telegram: bool = True) -> None:
        self._stop.clear()
        threads: list[tuple[str, Callable[[threading.Event], None]]] = [
            ("dispatcher", self.dispatcher.run)
        ]
        if poll_telegram and self.config.telegram.mode == "polling":
            threads.append(("telegram-poller", self.poller.run))
        for name, target in threads:
            thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        scheduler = BackgroundScheduler(timezone=self.config.clinic.tz)
        for spec in JOBS:
            trigger = IntervalTrigger(seconds=spec.interval(self.config))
            kwargs: dict[str, Any] = {}
            if spec.run_at_start:
                kwargs["next_run_time"] = datetime.now(self.config.clinic.tz) + timedelta(seconds=1)
            scheduler.add_job(
                getattr(self, spec.method),
                trigger,
                id=spec.id,
                name=spec.description or spec.id,
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
                misfire_grace_time=spec.misfire_grace_seconds,
                **kwargs,
            )
        scheduler.start()
        self.scheduler = scheduler
        log.info("runner started: %s", ", ".join(spec.id for spec in JOBS))

    def stop(self) -> None:
        self._stop.set()
        self.dispatcher.wake()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        for thread in self._threads:
            # The poller may sit in a long poll; it is a daemon and ends with the process.
            thread.join(timeout=5 if thread.name != "telegram-poller" else 1)
        self._threads.clear()
        self.connector.close()
        if self.engine is not None:
            self.engine.dispose()
