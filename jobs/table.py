"""The declarative table of scheduled jobs.

Each row: a job id, the Appliance method it runs, its default interval, the config key that
overrides the interval, and how APScheduler treats lateness. Long-running loops (outbox
dispatcher, Telegram poller) are threads, not jobs, and are started by the runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config


@dataclass(frozen=True)
class JobSpec:
    id: str
    method: str
    every_seconds: int
    config_key: str = ""
    misfire_grace_seconds: int = 60
    coalesce: bool = True
    max_instances: int = 1
    run_at_start: bool = False
    description: str = ""

    def interval(self, config: Config) -> int:
        if not self.config_key:
            return self.every_seconds
        section, key = self.config_key.split(".")
        return int(getattr(getattr(config, section), key))


JOBS: tuple[JobSpec, ...] = (
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
        description="queue day-before reminders",
    ),
    JobSpec(
        "outbox_recover",
        "recover_job",
        every_seconds=60,
        description="return messages stuck in 'sending' by a crash to the queue",
    ),
)
