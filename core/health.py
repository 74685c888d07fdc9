"""MIS availability as the panel and the staff see it: since when it is down, alerted once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.db import transaction
from core.models import KeyValue
from core.outbox import PRIORITY_STAFF, enqueue

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


def record_mis_ok(factory: sessionmaker[Session], now: datetime) -> None:
    with transaction(factory) as session:
        _store(session, {"ok": True, "last_ok": now.isoformat(), "since": None, "error": ""})


def record_mis_failure(
    factory: sessionmaker[Session], config: Config, now: datetime, error: str
) -> None:
    with transaction(factory) as session:
        health = mis_health(session)
        since = health.get("since") if health.get("ok") is False else None
        since = since or now.isoformat()
        _store(
            session, {"ok": False, "last_ok": health.get("last_ok"), "since": since, "error": error}
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
