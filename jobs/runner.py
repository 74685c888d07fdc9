"""The appliance's background half: every row of jobs/table.py, run by one runner.

`Appliance` wires the parts together; `kabinet run` starts it once per installation under
the runner lock (jobs/lock.py), beside the web workers, which never run jobs or handlers.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from telebot import TeleBot

from bot_handlers import register_all
from bot_handlers.bot import build_bot
from bot_handlers.channels.max import MaxChannel
from bot_handlers.channels.max import open_channel as open_max
from bot_handlers.context import BotContext
from connectors.base import Connector, ConnectorError
from connectors.registry import open_connector
from connectors.sync import SyncEngine, SyncReport
from core import campaigns, outbox
from core.clock import local_now, utcnow
from core.config import Config, redact
from core.conversations.files import outgoing_file
from core.db import make_engine, session_factory, transaction
from core.greetings import plan_birthdays, plan_holidays
from core.health import check_stale, mis_retry_due, record_mis_failure, record_mis_ok
from core.loyalty import nightly
from core.loyalty.nightly import NightlyReport
from core.patients.referral_qr import outgoing_qr
from core.ratings.survey import plan_rating_requests
from core.reminders import plan_reminders_in_batches
from core.rules import Rules
from core.settings import store as settings_store
from core.tasks import escalate_stale
from core.visits import no_show, reminder_reach
from core.visits.no_show_sweep import NoShowSweep
from jobs.bot_commands import CommandMenus
from jobs.dispatcher import Dispatcher
from jobs.max_poller import MaxPoller, MaxUpdateProcessor, MaxWebhookKeeper
from jobs.poller import Poller, UpdateProcessor, WebhookKeeper
from jobs.table import JOBS, JobSpec
from jobs.transports import ChannelTransport, SmsRuTransport, TelegramTransport, Transport

log = logging.getLogger(__name__)

# How long a stop waits for the dispatcher to finish the requests it has in flight.
DRAIN_SECONDS = 30


class Appliance:
    def __init__(
        self,
        config: Config,
        *,
        factory: sessionmaker[Session] | None = None,
        bot: TeleBot | None = None,
        connector: Connector | None = None,
        transport: Transport | None = None,
        sms_transport: Transport | None = None,
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
        m = config.messaging
        if sms_transport is None and m.sms_enabled:
            sms_transport = SmsRuTransport(m.sms_api_url, m.sms_api_id, m.sms_sender)
        # MAX, when enabled: its adapter, its outbox transport and its poller.
        self.max_channel: MaxChannel | None = None
        others: dict[str, Transport] = {}
        if config.max.enabled:
            self.max_channel = open_max(config, factory)
            others["max"] = ChannelTransport(
                self.max_channel,
                files=lambda message: (
                    outgoing_qr(config, message) or outgoing_file(factory, config, message)
                ),
            )
        self.dispatcher = Dispatcher(
            factory,
            transport
            or TelegramTransport(
                self.bot,
                files=lambda message: (
                    outgoing_qr(config, message) or outgoing_file(factory, config, message)
                ),
            ),
            config,
            sms=sms_transport,
            others=others,
            clock=clock,
        )
        self.ctx = BotContext(config, factory, wake=self.dispatcher.wake)
        if self.max_channel is not None:
            self.ctx.channels["max"] = self.max_channel
        self.router = register_all(self.bot, self.ctx)
        self.max_poller: MaxPoller | None = None
        self.max_webhook: MaxWebhookKeeper | None = None
        if self.max_channel is not None:
            max_updates = MaxUpdateProcessor(
                self.router, factory, wake=self.dispatcher.wake, clock=clock
            )
            if config.max.mode == "webhook":
                self.max_webhook = MaxWebhookKeeper(self.max_channel.client, config, max_updates)
            else:
                self.max_poller = MaxPoller(self.max_channel.client, factory, config, max_updates)
        self.updates = UpdateProcessor(self.bot, factory, wake=self.dispatcher.wake, clock=clock)
        self.poller = Poller(self.bot, factory, config, processor=self.updates)
        self.webhook = WebhookKeeper(self.bot, config, self.updates)
        # The MIS connection checked and kept on «Настройки → Подключение к МИС», if any;
        # one kept there later is followed from the next read (_follow_mis_setting).
        self._own_connector = connector is None
        in_force = settings_store.mis_in_force(factory, config)
        self._mis = in_force.mis
        self.connector = connector or open_connector(in_force)
        self.sync = SyncEngine(self.connector, factory, clock=clock)
        self.no_shows = NoShowSweep(
            factory, grace=timedelta(minutes=config.mis.no_show_grace_minutes), clock=clock
        )
        self.rules = Rules(config, clock=clock)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sync_lock = threading.Lock()
        self._poll_telegram = True
        self.command_menus = CommandMenus()  # the «/» menu each messenger has (bot_commands)

    # -- loops (threads in jobs/table.py) -------------------------------------------------

    def dispatcher_loop(self, stop: threading.Event) -> None:
        self.dispatcher.run(stop)

    def updates_loop(self, stop: threading.Event) -> None:
        mode = self.config.telegram.mode
        if not self._poll_telegram or mode == "off":
            return
        if mode == "webhook":
            self.webhook.run(stop)
        else:
            self.poller.run(stop)

    def max_updates_loop(self, stop: threading.Event) -> None:
        if self.max_webhook is not None:
            self.max_webhook.run(stop)
        elif self.max_poller is not None:
            self.max_poller.run(stop)

    # -- jobs -----------------------------------------------------------------------------

    def sync_job(self) -> SyncReport | None:
        with self._sync_lock:
            report = None
            try:
                self._follow_mis_setting()
                # During an outage the back-off decides when the MIS is tried again.
                if mis_retry_due(self.factory, self.clock()):
                    report = self.sync.run_once()
                    # Only after a read of the MIS: during an outage a visit's end passing
                    # proves nothing, since the MIS may have its arrival.
                    report.events.extend(self.no_shows.run(live="appointment" in report.live))
                    record_mis_ok(self.factory, self.clock(), self.config)
            except ConnectorError as exc:
                message = redact(str(exc), self.config)
                log.warning(
                    "MIS read failed (%s, retry %s): %s",
                    exc.kind,
                    "may help" if exc.retryable else "will not help",
                    message,
                )
                record_mis_failure(
                    self.factory, self.config, self.clock(), message, retryable=exc.retryable
                )
            # Events already recorded are handled even when this read failed.
            self.rules.process_pending(self.factory)
            self.dispatcher.wake()
            return report

    def _follow_mis_setting(self) -> None:
        """A MIS connection kept on «Подключение к МИС» (only after its «Проверить» passed)
        is read from at the next poll, without restarting the runner. The cursors stay:
        the panel changes how the same MIS is reached (a moved server, another account),
        and a clinic that changes MIS altogether starts a new store (README)."""
        if not self._own_connector:
            return
        in_force = settings_store.mis_in_force(self.factory, self.config)
        if in_force.mis == self._mis:
            return
        connector = open_connector(in_force)  # a ConnectorError is the read's failure
        previous, self.connector = self.connector, connector
        self.sync = SyncEngine(connector, self.factory, clock=self.clock)
        self._mis = in_force.mis
        previous.close()
        log.info(
            "reading the MIS through the connection kept in the panel (profile %s)",
            in_force.mis.profile,
        )

    def _woke(self, count: int) -> int:
        if count:
            self.dispatcher.wake()
        return count

    def reminders_job(self) -> int:
        return self._woke(plan_reminders_in_batches(self.factory, self.config, self.clock))

    def ratings_job(self) -> int:
        return self._woke(plan_rating_requests(self.factory, self.config, self.clock))

    def birthdays_job(self) -> int:
        return self._woke(plan_birthdays(self.factory, self.config, self.clock))

    def holidays_job(self) -> int:
        created = plan_holidays(self.factory, self.config, self.clock)
        if created:
            self.campaigns_job()
        return created

    def campaigns_job(self) -> int:
        return self._woke(campaigns.advance(self.factory, self.config, self.clock).queued)

    def escalation_job(self) -> int:
        with transaction(self.factory) as session:
            count = escalate_stale(session, self.config, self.clock())
        return self._woke(count)

    def no_show_job(self) -> int:
        return self._woke(no_show.run(self.factory, self.config, self.clock))

    def mis_health_job(self) -> bool:
        stale = check_stale(self.factory, self.config, self.clock())
        if stale:
            self.dispatcher.wake()
        return stale

    def loyalty_nightly_job(self, force: bool = False) -> NightlyReport | None:
        now = self.clock()
        with self.factory() as session:
            if not force and not nightly.is_due(session, self.config, now):
                return None
        report = nightly.run(self.factory, self.config, now)
        log.info("loyalty nightly run: %s", report.as_dict())
        self.dispatcher.wake()
        return report

    def prune_job(self) -> int:
        older_than = self.clock() - timedelta(days=self.config.messaging.keep_days)
        with transaction(self.factory) as session:
            # What the reports still need of the reminders, before they are forgotten.
            reminder_reach.archive(session, older_than)
            return outbox.prune(session, older_than)

    # -- lifecycle ------------------------------------------------------------------------

    def function(self, spec: JobSpec) -> Callable[..., Any]:
        """What a table row runs: an Appliance method, or module:function(appliance)."""
        if ":" not in spec.method:
            return getattr(self, spec.method)
        module_name, _, name = spec.method.partition(":")
        target = getattr(importlib.import_module(module_name), name)
        return lambda *args: target(self, *args)

    def start(self, *, poll_telegram: bool = True) -> None:
        self._stop.clear()
        self._poll_telegram = poll_telegram
        enabled = [spec for spec in JOBS if spec.enabled(self.config)]
        for spec in enabled:
            if not spec.thread:
                continue
            thread = threading.Thread(
                target=self._guarded(spec), args=(self._stop,), name=spec.id, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        scheduler = BackgroundScheduler(timezone=self.config.clinic.tz)
        for spec in enabled:
            if spec.thread:
                continue
            kwargs: dict[str, Any] = {}
            if spec.run_at_start:
                kwargs["next_run_time"] = local_now(self.config.clinic.tz) + timedelta(seconds=1)
            scheduler.add_job(
                self.function(spec),
                spec.trigger(self.config),
                id=spec.id,
                name=spec.description or spec.id,
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
                misfire_grace_time=spec.misfire_grace_seconds,
                **kwargs,
            )
        scheduler.start()
        self.scheduler = scheduler
        log.info("runner started: %s", ", ".join(spec.id for spec in enabled))

    def _guarded(self, spec: JobSpec) -> Callable[[threading.Event], None]:
        target = self.function(spec)

        def run(stop: threading.Event) -> None:
            try:
                target(stop)
            except Exception:
                log.exception("%s stopped with an error", spec.id)

        return run

    def stop(self) -> None:
        """Graceful: the scheduler finishes its running jobs, the dispatcher stops claiming
        and finishes (and records) the requests it has in flight."""
        self._stop.set()
        self.dispatcher.wake()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        for thread in self._threads:
            # The poller may sit in a long poll: it is a daemon, and what it stored is safe.
            thread.join(timeout=DRAIN_SECONDS if thread.name == "outbox_dispatcher" else 1)
        self._threads.clear()
        self.connector.close()
        if self.engine is not None:
            self.engine.dispose()
