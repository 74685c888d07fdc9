"""The no-show sweep over the mirror: once per visit, quiet about history, a checkpoint that
survives a restart and costs no write on a poll with nothing due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.db import transaction
from core.events import AppointmentEvent, EventKind
from core.models import Appointment, DomainEvent, SyncCursor
from core.visits.no_show_sweep import CURSOR, NoShowSweep

pytestmark = pytest.mark.clock

START = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
GRACE = timedelta(minutes=60)


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _visit(
    factory: sessionmaker[Session], mis_id: str, ends_in: timedelta, status: str = "scheduled"
) -> None:
    """A visit of half an hour that ends `ends_in` from now."""
    ends = utcnow() + ends_in
    with transaction(factory) as s:
        s.add(
            Appointment(
                mis_id=mis_id,
                patient_mis_id="p1",
                doctor_mis_id="d1",
                starts_at=ends - timedelta(minutes=30),
                ends_at=ends,
                status=status,
            )
        )


def _stored(factory: sessionmaker[Session]) -> str | None:
    with factory() as s:
        return s.scalar(select(SyncCursor.value).where(SyncCursor.entity == CURSOR))


def _events(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        return [
            (e.kind, e.subject) for e in s.scalars(select(DomainEvent).order_by(DomainEvent.id))
        ]


def test_a_visit_nobody_came_to_is_one_no_show_after_the_grace(
    factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    _visit(factory, "v1", timedelta(minutes=10))
    _visit(factory, "came", timedelta(minutes=10), status="arrived")
    sweep = NoShowSweep(factory, grace=GRACE)
    assert sweep.run(live=True) == []  # the first sweep only sets its place
    frozen.shift(timedelta(minutes=65))  # ended 55 minutes ago: inside the grace
    assert sweep.run(live=True) == []
    frozen.shift(timedelta(minutes=10))
    assert sweep.run(live=True) == [("appointment.no_show", "v1")]
    frozen.shift(timedelta(minutes=10))
    assert sweep.run(live=True) == []
    # Restarted: the new sweep starts from the stored checkpoint and looks back over the
    # minutes since, which hold v1's no-show already.
    with transaction(factory) as s:
        s.execute(
            update(SyncCursor)
            .where(SyncCursor.entity == CURSOR)
            .values(value=(utcnow() - timedelta(minutes=30)).isoformat())
        )
        # v1 as a re-read of the MIS (which has no such status) leaves it.
        s.execute(update(Appointment).where(Appointment.mis_id == "v1").values(status="scheduled"))
    assert NoShowSweep(factory, grace=GRACE).run(live=True) == []
    assert _events(factory) == [("appointment.no_show", "v1")]
    with factory() as s:
        event = s.scalars(select(DomainEvent)).one()
        visit = s.scalar(select(Appointment).where(Appointment.mis_id == "v1"))
        came = s.scalar(select(Appointment).where(Appointment.mis_id == "came"))
    assert event.kind == EventKind.APPOINTMENT_NO_SHOW
    assert AppointmentEvent.from_payload(event.payload) == AppointmentEvent(
        "p1", "d1", visit.starts_at, "no_show"
    )
    assert event.created_at == START + timedelta(minutes=75)
    assert came.status == "arrived"


def test_visits_that_ended_before_the_appointments_were_live_stay_history(
    factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    _visit(factory, "old", timedelta(minutes=-300))
    _visit(factory, "during-import", timedelta(minutes=5))
    sweep = NoShowSweep(factory, grace=GRACE)
    sweep.run(live=False)
    frozen.shift(timedelta(minutes=70))
    assert sweep.run(live=False) == []  # the import still runs: its checkpoint moves on
    assert _stored(factory) == utcnow().isoformat()
    frozen.shift(timedelta(minutes=1))
    assert sweep.run(live=True) == []
    assert _events(factory) == []


def test_a_poll_with_no_show_due_writes_nothing_but_a_checkpoint_now_and_then(
    factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    sweep = NoShowSweep(factory, grace=GRACE)
    sweep.run(live=True)
    first = _stored(factory)
    assert first == START.isoformat()
    frozen.shift(timedelta(seconds=15))
    assert sweep.run(live=True) == []
    assert _stored(factory) == first  # nothing due: no write
    frozen.shift(timedelta(minutes=5))
    sweep.run(live=True)
    assert _stored(factory) == utcnow().isoformat()  # the checkpoint


def test_an_outage_s_missed_no_shows_come_out_from_the_stored_checkpoint(
    factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    """The checkpoint is the sync cursor row it always was: a sweep started after an
    update (or an outage) covers every end since it."""
    with transaction(factory) as s:
        s.add(SyncCursor(entity=CURSOR, value=(utcnow() - timedelta(hours=3)).isoformat()))
    _visit(factory, "v1", timedelta(minutes=-150))  # ended after the checkpoint's grace
    _visit(factory, "v2", timedelta(minutes=-250))  # before it: already swept then
    assert NoShowSweep(factory, grace=GRACE).run(live=True) == [("appointment.no_show", "v1")]
