"""Which visits a reminder reached, beyond the outbox's retention.

The outbox forgets sent messages after messaging.keep_days (core.outbox.prune); before it
does, the nightly prune job calls `archive`, which keeps, per visit, whether a reminder
reached it in a messenger or only by SMS and when the first one went out. `reached`
reads both: the outbox for what it still holds, this table for the rest.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import OutboxMessage
from core.visits.models import ReminderReach

# core.reminders keys a reminder "reminder:<visit>:<starts_at ISO>:<step>".
_KEY = re.compile(
    r"reminder:(?P<visit>.+?):\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?:"
)


def visit_of(key: str) -> str | None:
    found = _KEY.match(key)
    return found["visit"] if found else None


def _from_outbox(session: Session, *conditions: object) -> dict[str, tuple[bool, datetime]]:
    """Visit -> (reached in a messenger, first sent) from the outbox's sent reminders."""
    visits: dict[str, tuple[bool, datetime]] = {}
    rows = session.execute(
        select(OutboxMessage.key, OutboxMessage.channel, OutboxMessage.sent_at).where(
            OutboxMessage.kind == "reminder",
            OutboxMessage.state == "sent",
            OutboxMessage.sent_at.is_not(None),
            *conditions,  # type: ignore[arg-type]
        )
    )
    for key, channel, sent_at in rows:
        visit = visit_of(key)
        if visit is None or sent_at is None:
            continue
        messenger, first = visits.get(visit, (False, sent_at))
        visits[visit] = (messenger or channel != "sms", min(first, sent_at))
    return visits


def archive(session: Session, older_than: datetime) -> int:
    """Keep the reach of the sent reminders the prune is about to forget; how many visits."""
    found = _from_outbox(session, OutboxMessage.created_at < older_than)
    for visit, (messenger, first) in found.items():
        row = session.get(ReminderReach, visit)
        if row is None:
            session.add(
                ReminderReach(appointment_mis_id=visit, messenger=messenger, first_sent_at=first)
            )
        else:
            row.messenger = row.messenger or messenger
            row.first_sent_at = min(row.first_sent_at, first)
    session.flush()
    return len(found)


def reached(session: Session, since: datetime, until: datetime) -> dict[str, bool]:
    """Visit (MIS id) -> reached in a messenger (True) or only by SMS (False), for the
    reminders sent in [since, until), whether the outbox still holds them or not."""
    visits = {
        visit: messenger
        for visit, messenger in session.execute(
            select(ReminderReach.appointment_mis_id, ReminderReach.messenger).where(
                ReminderReach.first_sent_at >= since, ReminderReach.first_sent_at < until
            )
        )
    }
    recent = _from_outbox(session, OutboxMessage.sent_at >= since, OutboxMessage.sent_at < until)
    for visit, (messenger, _first) in recent.items():
        visits[visit] = visits.get(visit, False) or messenger
    return visits


def oldest(session: Session) -> datetime | None:
    """When the oldest reminder still known (in either place) was sent."""
    firsts = [
        session.scalar(select(func.min(ReminderReach.first_sent_at))),
        session.scalar(
            select(func.min(OutboxMessage.sent_at)).where(
                OutboxMessage.kind == "reminder", OutboxMessage.state == "sent"
            )
        ),
    ]
    known = [f for f in firsts if f is not None]
    return min(known) if known else None
