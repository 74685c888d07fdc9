"""Is this installation working? One report for /healthz, /metrics and `kabinet status`.

Each check says ok (True), bad (False) or does not apply (None), with a sentence for
clinic IT and the numbers behind it. The installation is healthy only if no check is bad:
a dead runner, an MIS not read for a while, Telegram not polled, messages due long ago and
not sent, or no recent backup each make it unhealthy, not just a store that does not open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core import __version__
from core.backup import BACKUP_KEY, newest_backup, stamp_of
from core.config import Config
from core.health import heartbeat, mis_health, mis_stale_after
from core.migrate import head_revision
from core.models import KeyValue, OutboxMessage, TelegramUpdate

# A heartbeat is written every 10 s: six missed ones are a dead or wedged runner.
RUNNER_STALE = timedelta(seconds=60)
# A long poll returns within ~35 s; three minutes without an answer is an outage.
TELEGRAM_LAG = timedelta(minutes=3)
UPDATES_WAITING = timedelta(minutes=2)
# A big campaign drains at Telegram's ~30 messages/s; half an hour late is stuck.
OUTBOX_LATE = timedelta(minutes=30)
# Nightly, and caught up within the hour after a missed night (jobs/backups.py).
BACKUP_MAX_AGE = timedelta(hours=27)


@dataclass
class Check:
    name: str
    ok: bool | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _age(now: datetime, iso: str | None) -> float | None:
    if not iso:
        return None
    return round((now - datetime.fromisoformat(iso)).total_seconds(), 1)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def check_store(session: Session) -> Check:
    rows = session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    revision = "+".join(sorted(rows))
    if revision == head_revision():
        return Check(
            "store", True, "the store opens and its schema is current", {"schema": "current"}
        )
    return Check(
        "store",
        False,
        f"the store's schema {revision or '(none)'} is not this release's {head_revision()}",
        {"schema": f"outdated ({revision})"},
    )


def check_runner(beat: dict[str, Any] | None, now: datetime) -> Check:
    if beat is None:
        return Check("runner", False, "the runner has never run (no heartbeat)", {})
    age = _age(now, beat.get("at"))
    details = {
        "heartbeat_age_seconds": age,
        "pid": beat.get("pid"),
        "host": beat.get("host"),
        "version": beat.get("version"),
        "started_at": beat.get("started_at"),
    }
    where = f"pid {beat.get('pid')} on {beat.get('host')}"
    if age is None or age > RUNNER_STALE.total_seconds():
        return Check(
            "runner",
            False,
            f"the runner is not running: last heartbeat {_ago(age)} ({where})",
            details,
        )
    return Check("runner", True, f"the runner is running ({where}, heartbeat {_ago(age)})", details)


def check_mis(session: Session, config: Config, now: datetime) -> Check:
    health = mis_health(session)
    age = _age(now, health.get("last_ok"))
    details = {
        "profile": config.mis.profile,
        "reachable": health.get("ok"),
        "last_read": health.get("last_ok"),
        "last_read_age_seconds": age,
        "down_since": health.get("since"),
        "error": health.get("error", ""),
    }
    limit = mis_stale_after(config).total_seconds()
    if health.get("ok") is None:
        return Check("mis", False, "the MIS has not been read yet", details)
    if health.get("ok") is False:
        error = str(health.get("error", ""))[:200]
        return Check(
            "mis", False, f"the MIS cannot be read since {health.get('since')}: {error}", details
        )
    if age is None or age > limit:
        return Check(
            "mis", False, f"no successful MIS read for a while (last {_ago(age)})", details
        )
    return Check(
        "mis", True, f"the MIS is read ({config.mis.profile}, last read {_ago(age)})", details
    )


def check_telegram(
    session: Session, config: Config, beat: dict[str, Any] | None, now: datetime
) -> Check:
    mode = config.telegram.mode
    waiting, oldest = session.execute(
        select(func.count(), func.min(TelegramUpdate.received_at)).where(
            TelegramUpdate.processed_at.is_(None)
        )
    ).one()
    waiting_age = round((now - oldest).total_seconds(), 1) if oldest is not None else None
    details: dict[str, Any] = {
        "mode": mode,
        "updates_waiting": waiting,
        "oldest_waiting_age_seconds": waiting_age,
    }
    if mode == "off":
        return Check("telegram", None, "the bot is switched off (telegram.mode = off)", details)
    if waiting_age is not None and waiting_age > UPDATES_WAITING.total_seconds():
        return Check(
            "telegram",
            False,
            f"{waiting} patient messages wait to be handled, oldest {_ago(waiting_age)}",
            details,
        )
    if mode == "webhook":
        return Check("telegram", True, "webhook mode: no updates waiting", details)
    last_poll = (beat or {}).get("telegram_last_poll")
    # Before the first answer, the lag counts from the runner's start.
    lag = _age(now, last_poll or (beat or {}).get("started_at"))
    details["poll_lag_seconds"] = lag
    details["last_poll"] = last_poll
    if lag is None or lag > TELEGRAM_LAG.total_seconds():
        return Check(
            "telegram",
            False,
            f"Telegram has not answered the long poll for a while (last {_ago(_age(now, last_poll))})",
            details,
        )
    return Check("telegram", True, f"Telegram is polled (last answer {_ago(lag)})", details)


def check_outbox(session: Session, now: datetime) -> Check:
    due, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.due_at)).where(
            OutboxMessage.state == "pending", OutboxMessage.due_at <= now
        )
    ).one()
    age = round((now - oldest).total_seconds(), 1) if oldest is not None else None
    details = {
        "due": due,
        "oldest_due": oldest.isoformat() if oldest else None,
        "oldest_due_age_seconds": age,
    }
    if age is not None and age > OUTBOX_LATE.total_seconds():
        return Check(
            "outbox",
            False,
            f"{due} messages are due and not sent; the oldest was due {_ago(age)}",
            details,
        )
    if due:
        return Check("outbox", True, f"{due} messages being sent (oldest due {_ago(age)})", details)
    return Check("outbox", True, "no message waits to be sent", details)


def check_backup(session: Session, config: Config, now: datetime) -> Check:
    row = session.get(KeyValue, BACKUP_KEY)
    last = dict(row.value) if row is not None else {}
    newest = newest_backup(config)
    taken = stamp_of(newest) if newest is not None else None
    age = round((now - taken).total_seconds(), 1) if taken is not None else None
    details = {
        "newest": str(newest) if newest else None,
        "age_seconds": age,
        "last_error": last.get("error", ""),
        "copy_dir": config.storage.backup_copy_dir,
        "copy_error": last.get("copy_error", ""),
    }
    if age is None or age > BACKUP_MAX_AGE.total_seconds():
        why = f": {last['error']}" if last.get("error") else ""
        return Check("backup", False, f"no backup for a while (newest {_ago(age)}){why}", details)
    if last.get("copy_error"):
        return Check("backup", False, f"backed up {_ago(age)}, but {last['copy_error']}", details)
    return Check("backup", True, f"backed up {_ago(age)} ({newest})", details)


@dataclass
class Report:
    checks: list[Check]
    mis: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def by_name(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "error",
            "version": __version__,
            "schema": self.by_name("store").details["schema"],
            "mis": self.mis,
            "checks": {
                c.name: {"ok": c.ok, "summary": c.summary, **c.details} for c in self.checks
            },
        }


def report(session: Session, config: Config, now: datetime) -> Report:
    """Every check; the installation is healthy only if none is bad."""
    beat = heartbeat(session)
    checks = [
        check_store(session),
        check_runner(beat, now),
        check_mis(session, config, now),
        check_telegram(session, config, beat, now),
        check_outbox(session, now),
        check_backup(session, config, now),
    ]
    return Report(checks, mis_health(session))
