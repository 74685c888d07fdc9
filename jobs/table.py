"""The declarative table of the runner's work: scheduled jobs and long-running loops.

Each row: an id, the function it runs, its default schedule, the config key that overrides
the schedule, and how APScheduler treats lateness (misfire grace, coalescing, at most one
instance at a time). `method` names an Appliance method, or a "package.module:function"
that is called with the Appliance. Schedules:

- `every_seconds`: an interval;
- `cron`: a crontab line ("minute hour day month weekday") in the clinic's time zone;
  its `config_key` may hold a crontab line or a daily "HH:MM";
- `thread=True`: a loop started once (the outbox dispatcher, Telegram updates), called
  with the runner's stop event.

Every job is safe to run twice or late: what it writes is keyed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.config import Config

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class JobSpec:
    id: str
    method: str
    every_seconds: int = 0
    config_key: str = ""
    misfire_grace_seconds: int = 60
    coalesce: bool = True
    max_instances: int = 1
    run_at_start: bool = False
    description: str = ""
    cron: str = ""
    thread: bool = False
    # A boolean config key that switches the job off, e.g. "messaging.birthday_enabled".
    enabled_key: str = ""

    def _setting(self, config: Config, dotted: str) -> object:
        section, key = dotted.split(".")
        return getattr(getattr(config, section), key)

    def enabled(self, config: Config) -> bool:
        return not self.enabled_key or bool(self._setting(config, self.enabled_key))

    def interval(self, config: Config) -> int:
        if not self.config_key or self.cron:
            return self.every_seconds
        return int(self._setting(config, self.config_key))  # type: ignore[call-overload]

    def crontab(self, config: Config) -> str:
        """The effective crontab line; a daily "HH:MM" override becomes "M H * * *"."""
        value = str(self._setting(config, self.config_key)) if self.config_key else self.cron
        match = _HHMM.match(value)
        if match:
            return f"{int(match.group(2))} {int(match.group(1))} * * *"
        return value

    def trigger(self, config: Config) -> BaseTrigger:
        if self.thread:
            raise ValueError(f"{self.id} is a loop, not a scheduled job")
        if self.cron:
            return CronTrigger.from_crontab(self.crontab(config), timezone=config.clinic.tz)
        return IntervalTrigger(seconds=self.interval(config), timezone=config.clinic.tz)


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "outbox_dispatcher",
        "dispatcher_loop",
        thread=True,
        description="send due messages within Telegram's limits; drain gracefully on stop",
    ),
    JobSpec(
        "telegram_updates",
        "updates_loop",
        thread=True,
        description="long polling or webhook: store updates, handle them in order, once",
    ),
    JobSpec(
        "max_updates",
        "max_updates_loop",
        thread=True,
        enabled_key="max.enabled",
        description="MAX long polling or webhook: store updates, handle them in order, once",
    ),
    JobSpec(
        "mis_sync",
        "sync_job",
        every_seconds=15,
        config_key="mis.poll_seconds",
        misfire_grace_seconds=30,
        run_at_start=True,
        description="read MIS changes, apply the rules to the events they produce",
    ),
    JobSpec(
        "reminders",
        "reminders_job",
        every_seconds=300,
        run_at_start=True,
        description="queue day-before reminders (SMS for patients without the bot, if on)",
    ),
    JobSpec(
        "ratings",
        "ratings_job",
        every_seconds=300,
        run_at_start=True,
        enabled_key="messaging.rating_enabled",
        description="ask for a 1-5 rating after each completed visit",
    ),
    JobSpec(
        "birthdays",
        "birthdays_job",
        cron="0 10 * * *",
        config_key="messaging.birthday_send_at",
        # Started late in the day (after downtime) it still greets today's birthdays.
        misfire_grace_seconds=12 * 3600,
        run_at_start=True,
        enabled_key="messaging.birthday_enabled",
        description="birthday greetings, clinic time, once a year",
    ),
    JobSpec(
        "holidays",
        "holidays_job",
        cron="0 10 * * *",
        config_key="messaging.holiday_send_at",
        misfire_grace_seconds=12 * 3600,
        run_at_start=True,
        description="holiday greetings from messaging.holidays, as campaigns",
    ),
    JobSpec(
        "campaigns",
        "campaigns_job",
        every_seconds=15,
        run_at_start=True,
        description="expand due campaigns into the outbox in resumable chunks; close finished",
    ),
    JobSpec(
        "task_escalation",
        "escalation_job",
        every_seconds=60,
        description="announce a task nobody took within N minutes to the staff group, once",
    ),
    JobSpec(
        "staff_posts",
        "jobs.staff_posts:refresh",
        every_seconds=5,
        misfire_grace_seconds=5,
        description="edit staff-group posts that changed while on the wire; report replies "
        "that could not be delivered",
    ),
    JobSpec(
        "bot_commands",
        "jobs.bot_commands:refresh",
        every_seconds=60,
        run_at_start=True,
        description="the «/» command menu in each messenger: at start and within a minute "
        "of an edit of its descriptions; never re-sent unchanged",
    ),
    JobSpec(
        "no_show",
        "no_show_job",
        every_seconds=60,
        description="offer to book again after a no-show when due; close tasks the MIS made moot",
    ),
    JobSpec(
        "mis_confirm_writeback",
        "core.visits.confirm_writeback:job",
        every_seconds=60,
        enabled_key="mis.write_back_confirmations",
        description="write patients' confirmations back to the MIS (where the profile can); "
        "retry what the MIS refused for now, a task for what it cannot take",
    ),
    JobSpec(
        "documents_first_visit",
        "jobs.documents:first_visit",
        every_seconds=300,
        enabled_key="documents.enabled",
        description="the clinic's chosen document to sign to each patient before a first visit",
    ),
    JobSpec(
        "mis_health",
        "mis_health_job",
        every_seconds=60,
        description="alert the staff when the MIS has not been read for a while",
    ),
    JobSpec(
        "loyalty_nightly",
        "loyalty_nightly_job",
        cron="15 3 * * *",
        # Started after downtime it still runs that night's work, once (core.loyalty.nightly).
        misfire_grace_seconds=20 * 3600,
        run_at_start=True,
        description="expire bonus lots, remind of expiring points, birthday bonuses, tiers",
    ),
    JobSpec(
        "backup",
        "jobs.backups:nightly",
        cron="30 3 * * *",
        misfire_grace_seconds=6 * 3600,
        description="nightly backup: store, config, secret key (core.backup), pruned, copied",
    ),
    JobSpec(
        "backup_catch_up",
        "jobs.backups:catch_up",
        every_seconds=3600,
        run_at_start=True,
        description="back up at once when the newest backup is over 25 h old (or none yet)",
    ),
    JobSpec(
        "heartbeat",
        "jobs.heartbeat:beat",
        every_seconds=10,
        run_at_start=True,
        misfire_grace_seconds=10,
        description="the runner's heartbeat for /healthz: a dead runner shows within a minute",
    ),
    JobSpec(
        "outbox_prune",
        "prune_job",
        cron="50 4 * * *",
        misfire_grace_seconds=6 * 3600,
        description="forget settled messages and handled updates after messaging.keep_days",
    ),
)
