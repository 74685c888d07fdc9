"""The no-show sweep: a scheduled visit whose end passed `grace` ago with no arrival is a
no-show, once per visit.

IDENT and Infodent have no "did not come" status: nothing in the MIS changes when a
patient stays away, so no read of the MIS can report it. This is the clinic's rule
about time passing over the mirror, run after each sync (jobs/runner.py) — not part of
the sync: it marks the mirror's visit `no_show` and records `appointment.no_show`
(core/events.py) in one transaction.

Only visits whose end (plus the grace) passed since the previous sweep count, so the
initial import's stale history and a visit typed in after the fact stay quiet, while an
outage's missed no-shows still come out once the MIS is back (the runner sweeps only
after a sync that read the MIS).

The previous sweep's time is kept in memory; the stored copy (the `_no_show_sweep` sync
cursor) is a checkpoint, written with the sweep's events, and otherwise at most every
CHECKPOINT, so a poll with nothing due writes nothing. After a restart the sweep starts
from the checkpoint: it looks back over those few minutes again, like after an outage
that long; a visit already marked (status no_show) or an event already stored (its key)
is not produced again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, utcnow
from core.db import transaction
from core.events import AppointmentEvent, EventKind
from core.models import Appointment, DomainEvent, SyncCursor

# The stored checkpoint: a sync cursor's row, as it always was, so an installation that
# updates keeps its sweep's place.
CURSOR = "_no_show_sweep"
# How often the sweep stores its time when it has nothing to record.
CHECKPOINT = timedelta(minutes=5)


class NoShowSweep:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        grace: timedelta = timedelta(minutes=60),
        clock: Clock = utcnow,
    ) -> None:
        self.factory = factory
        self.grace = grace
        self.clock = clock
        # The previous sweep's time, and the checkpoint stored last.
        self._since: datetime | None = None
        self._saved: datetime | None = None

    def run(self, *, live: bool) -> list[tuple[str, str]]:
        """Sweep up to now; returns the (kind, subject) of the events recorded.

        `live`: the appointments' initial import had finished before the sync just run
        (SyncReport.live). Until then the sweep only moves its checkpoint: a visit the
        import brought is history, whatever it says.
        """
        now = self.clock()
        since = self._since
        if since is None:
            with self.factory() as session:
                since = _parse_time(
                    session.scalar(select(SyncCursor.value).where(SyncCursor.entity == CURSOR))
                )
            self._saved = since
        sweep = since is not None and live and since < now
        low, high = (since or now) - self.grace, now - self.grace
        if sweep:
            with self.factory() as session:  # a read: most polls find nothing due
                sweep = bool(session.execute(_due(low, high).limit(1)).first())
        recorded: list[tuple[str, str]] = []
        saved = self._saved
        if sweep or saved is None or not live or now - saved >= CHECKPOINT:
            recorded = self._save(now, (low, high) if sweep else None)
        self._since = now
        return recorded

    def _save(
        self, now: datetime, due_between: tuple[datetime, datetime] | None
    ) -> list[tuple[str, str]]:
        """Store the sweep's time and, given a range, mark what is due in it and record
        the events, all in one transaction."""
        recorded: list[tuple[str, str]] = []
        with transaction(self.factory) as session:
            _save_checkpoint(session, now)
            if due_between is not None:
                recorded = _mark(session, now, due_between)
        self._saved = now
        return recorded


def _due(low: datetime, high: datetime) -> Any:
    """Scheduled visits that ended in (low, high]."""
    table = cast(Table, Appointment.__table__)
    return select(
        table.c.id,
        table.c.mis_id,
        table.c.patient_mis_id,
        table.c.doctor_mis_id,
        table.c.starts_at,
    ).where(
        table.c.status == "scheduled",
        table.c.deleted.is_(False),
        table.c.ends_at > low,
        table.c.ends_at <= high,
        # Bounds on the start too, so the index on starts_at serves the query
        # (no visit lasts a day).
        table.c.starts_at > low - timedelta(days=1),
        table.c.starts_at <= high,
    )


def _mark(
    session: Session, now: datetime, due_between: tuple[datetime, datetime]
) -> list[tuple[str, str]]:
    due = session.execute(_due(*due_between)).all()
    if not due:
        return []
    table = cast(Table, Appointment.__table__)
    session.execute(
        update(table).where(table.c.id.in_([appt.id for appt in due])).values(status="no_show")
    )
    kind = EventKind.APPOINTMENT_NO_SHOW
    events = {f"{kind}:{appt.mis_id}:{appt.starts_at.isoformat()}": appt for appt in due}
    events_table = cast(Table, DomainEvent.__table__)
    known = set(session.scalars(select(events_table.c.key).where(events_table.c.key.in_(events))))
    rows = [
        {
            "key": key,
            "kind": str(kind),
            "subject": appt.mis_id,
            "payload": AppointmentEvent(
                appt.patient_mis_id, appt.doctor_mis_id, appt.starts_at, "no_show"
            ).payload(),
            "created_at": now,
        }
        for key, appt in events.items()
        if key not in known
    ]
    if rows:
        session.execute(insert(events_table), rows)
    return [(str(kind), row["subject"]) for row in rows]


def _save_checkpoint(session: Session, now: datetime) -> None:
    table = cast(Table, SyncCursor.__table__)
    values = {"value": now.isoformat(), "baseline_done": True, "updated_at": now}
    result = session.execute(update(table).where(table.c.entity == CURSOR).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        session.execute(insert(table).values(entity=CURSOR, **values))


def _parse_time(stored: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stored) if stored else None
    except ValueError:
        return None
