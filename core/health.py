"""MIS availability as the panel and the staff see it: since when it is down, alerted once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.db import transaction
from core.models import KeyValue
from core.outbox import PRIORITY_STAFF, enqueue
from core.texts import render

MIS_HEALTH_KEY = "mis.health"


def mis_health(session: Session) -> dict[str, Any]:
    row = session.get(KeyValue, MIS_HEALTH_KEY)
    return dict(row.value) if row is not None else {"ok": None}


def _store(session: Session, value: dict[str, Any]) -> None:
    row = session.get(KeyValue, MIS_HEALTH_KEY)
    if row is None:
        session.add(KeyValue(key=MIS_HEALTH_KEY, value=value))
    else:
        row.value = value


def record_mis_ok(
    factory: sessionmaker[Session], now: datetime, config: Config | None = None
) -> None:
    with transaction(factory) as session:
        before = mis_health(session)
        _store(session, {"ok": True, "last_ok": now.isoformat(), "since": None, "error": ""})
        since = before.get("since")
        if before.get("ok") is False and since and config and config.telegram.staff_chat_id:
            # The staff were told it went down; tell them it is back, once per outage.
            enqueue(
                session,
                key=f"mis-up:{since}",
                chat_id=config.telegram.staff_chat_id,
                text=render("mis_back", config.clinic.language, since=since[:16].replace("T", " ")),
                kind="alert",
                priority=PRIORITY_STAFF,
                respect_quiet_hours=False,
            )


def check_stale(factory: sessionmaker[Session], config: Config, now: datetime) -> bool:
    """A read that hangs never fails: no successful read for ten poll intervals (at least
    five minutes) is an outage too. True when it was just recorded as one."""
    limit = timedelta(seconds=max(10 * config.mis.poll_seconds, 300))
    with factory() as session:
        health = mis_health(session)
    last_ok = health.get("last_ok")
    if health.get("ok") is not True or not last_ok:
        return False
    quiet_for = now - datetime.fromisoformat(last_ok)
    if quiet_for <= limit:
        return False
    minutes = int(quiet_for.total_seconds() // 60)
    record_mis_failure(factory, config, now, f"no successful read for {minutes} min")
    return True


def retry_delay(config: Config, failures: int, *, retryable: bool = True) -> timedelta:
    """How long to leave the MIS alone after `failures` failed reads in a row.

    The poll interval, doubled with each failure, up to mis.retry_max_seconds: a dead or
    overloaded server is not hammered every 15 s for ever, and one that is back is read
    again within minutes. A failure retrying cannot fix (a revoked grant, a missing column)
    waits the longest, in case someone fixes it on the MIS side.
    """
    cap = max(config.mis.retry_max_seconds, config.mis.poll_seconds)
    if not retryable:
        return timedelta(seconds=cap)
    exponent = min(max(failures - 1, 0), 30)
    return timedelta(seconds=min(cap, config.mis.poll_seconds * 2**exponent))


def mis_retry_due(factory: sessionmaker[Session], now: datetime) -> bool:
    """False while an outage's back-off says to leave the MIS alone."""
    with factory() as session:
        retry_at = mis_health(session).get("retry_at")
    return not retry_at or now >= datetime.fromisoformat(retry_at)


def record_mis_failure(
    factory: sessionmaker[Session],
    config: Config,
    now: datetime,
    error: str,
    *,
    retryable: bool = True,
) -> None:
    with transaction(factory) as session:
        health = mis_health(session)
        down = health.get("ok") is False
        since = (health.get("since") if down else None) or now.isoformat()
        failures = int(health.get("failures") or 0) + 1 if down else 1
        retry_at = now + retry_delay(config, failures, retryable=retryable)
        _store(
            session,
            {
                "ok": False,
                "last_ok": health.get("last_ok"),
                "since": since,
                "error": error,
                "failures": failures,
                "retry_at": retry_at.isoformat(),
            },
        )
        if config.telegram.staff_chat_id:
            # Keyed by the start of the outage: one alert per outage, however long it lasts.
            enqueue(
                session,
                key=f"mis-down:{since}",
                chat_id=config.telegram.staff_chat_id,
                text=f"⚠️ МИС недоступна с {since[:16].replace('T', ' ')} UTC: {error[:300]}",
                kind="alert",
                priority=PRIORITY_STAFF,
                respect_quiet_hours=False,
            )


HEARTBEAT_KEY = "runner.heartbeat"


def record_heartbeat(factory: sessionmaker[Session], value: dict[str, Any]) -> None:
    with transaction(factory) as session:
        row = session.get(KeyValue, HEARTBEAT_KEY)
        if row is None:
            session.add(KeyValue(key=HEARTBEAT_KEY, value=value))
        else:
            row.value = value


def heartbeat(session: Session) -> dict[str, Any] | None:
    row = session.get(KeyValue, HEARTBEAT_KEY)
    return dict(row.value) if row is not None else None


def mis_stale_after(config: Config) -> timedelta:
    """No successful read for this long is an outage (check_stale) and fails /healthz."""
    return timedelta(seconds=max(10 * config.mis.poll_seconds, 300))
