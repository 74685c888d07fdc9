"""The contract every profile keeps: the same scenario in the MIS gives the same events.

The scenario runs on each engine through its own writer (the MIS's application), with a
sync after each step, in batches of three rows so every cursor pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import Config
from core.db import transaction
from core.models import Appointment, DomainEvent, Patient, Payment, SyncCursor
from core.patients.linking import patients_by_phone
from core.visits.no_show_sweep import NoShowSweep
from tests.conftest import WallClock
from tests.connectors.contract.engines import MIS_TZ, MisEngine, mis_now

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def _kind_of(event: str) -> str:
    return event.split(".", 1)[0]


def test_the_same_scenario_gives_the_same_events(
    mis: MisEngine, config: Config, factory: sessionmaker[Session], clock: WallClock
) -> None:
    writer = mis.writer_factory()
    connector = open_connector(config)
    # Kabinet's clock is the wall clock, moved by the `clock` fixture (time-machine).
    sync = SyncEngine(connector, factory, batch_size=3)
    # After each sync, as the runner's sync job does.
    no_shows = NoShowSweep(factory, grace=timedelta(minutes=60))
    ids: dict[str, set[str]] = {"appointment": set(), "payment": set(), "patient": set()}
    seen: list[tuple[str, str]] = []

    def run(step: Callable[[], Any] | None = None) -> Any:
        result = step() if step else None
        report = sync.run_once()
        report.events.extend(no_shows.run(live="appointment" in report.live))
        assert report.problems == []
        seen.extend(report.events)
        return result

    def ours(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # The MIS database is shared by the session's tests: their visits are not ours.
        return [e for e in events if e[1] in ids[_kind_of(e[0])]]

    def visit(value: str) -> str:
        ids["appointment"].add(value)
        return value

    def payment(value: str) -> str:
        ids["payment"].add(value)
        return value

    try:
        first = writer.add_doctor("Зубова", "Ирина", "Петровна")
        second = writer.add_doctor("Клыков", "Олег", "Сергеевич")
        mother = writer.add_patient(
            "Петрова", "Мария", "Ивановна", "8 (912) 555-01-02", date(1985, 4, 12)
        )
        son = writer.add_patient("Петров", "Иван", "Андреевич", "+7 912 5550102", date(2015, 9, 1))
        ids["patient"].add(mother)
        day = (mis_now() + timedelta(days=2)).replace(hour=7, minute=0, second=0)

        run()  # the initial import: history, no news
        assert seen == []

        a = visit(run(lambda: writer.book(mother, first, day)))
        run(lambda: writer.move(a, start=day + timedelta(minutes=30)))
        run(lambda: writer.move(a, doctor=second))
        run(lambda: writer.cancel(a))
        a2 = visit(run(lambda: writer.rebook(a)))
        run(lambda: writer.arrive(a2))
        run(lambda: writer.complete(a2))
        paid = payment(run(lambda: writer.pay(mother, "2500.00", a2)))
        run(lambda: writer.refund(paid))
        c = visit(run(lambda: writer.book(mother, first, day + timedelta(days=1))))
        run(lambda: writer.delete_visit(c))
        run(lambda: writer.change_phone(mother, "+7 (912) 555-77-88"))
        run(lambda: writer.refuse_messages(mother))
        q = payment(run(lambda: writer.pay(mother, "700.00", None)))
        run(lambda: writer.delete_payment(q))
        soon = (mis_now() + timedelta(hours=1)).replace(second=0)
        d = visit(
            run(lambda: writer.book(mother, second, soon.replace(minute=soon.minute // 5 * 5)))
        )
        clock.advance(timedelta(hours=3))  # the visit ended and nobody came
        run()
    finally:
        writer.close()

    assert ours(seen) == [
        ("appointment.created", a),
        ("appointment.moved", a),
        ("appointment.moved", a),
        ("appointment.cancelled", a),
        ("appointment.created", a2),
        ("appointment.arrived", a2),
        ("appointment.completed", a2),
        ("payment.received", paid),
        ("payment.reversed", paid),
        ("appointment.created", c),
        ("appointment.cancelled", c),
        ("patient.changed", mother),
        ("patient.changed", mother),
        ("payment.received", q),
        ("payment.reversed", q),
        ("appointment.created", d),
        ("appointment.no_show", d),
    ]

    with factory() as s:
        created = s.scalar(
            select(DomainEvent).where(
                DomainEvent.kind == "appointment.created", DomainEvent.subject == a
            )
        )
        # The MIS keeps Yekaterinburg time; the visit is at 07:00 there, 05:00 in Moscow.
        assert datetime.fromisoformat(created.payload["starts_at"]) == day.replace(tzinfo=MIS_TZ)
        moved = s.scalar(select(Appointment).where(Appointment.mis_id == a2))
        assert (moved.status, moved.doctor_mis_id) == ("completed", second)
        assert moved.starts_at == (day + timedelta(minutes=30)).replace(tzinfo=MIS_TZ)
        assert s.scalar(select(Appointment).where(Appointment.mis_id == c)).deleted is True
        assert s.scalar(select(Appointment).where(Appointment.mis_id == d)).status == "no_show"
        assert s.scalar(select(Payment).where(Payment.mis_id == paid)).reversed is True
        assert s.scalar(select(Payment).where(Payment.mis_id == q)).reversed is True
        maria = s.scalar(select(Patient).where(Patient.mis_id == mother))
        assert (maria.last_name, maria.first_name, maria.middle_name) == (
            "Петрова",
            "Мария",
            "Ивановна",
        )
        assert maria.phones == ["+79125557788"] and maria.messaging_allowed is False
        assert maria.birth_date == date(1985, 4, 12)
        # The son kept the family's old number: it finds him alone now.
        assert [p.mis_id for p in patients_by_phone(s, "+79125550102")] == [son]
        assert [p.mis_id for p in patients_by_phone(s, "+79125557788")] == [mother]

    # Nothing changed: nothing new. A lost cursor re-reads everything: still nothing new.
    before = len(seen)
    run()
    with transaction(factory) as s:
        s.execute(update(SyncCursor).values(value=""))
    run()
    connector.close()
    assert len(seen) == before


def test_a_shared_phone_finds_every_patient(
    mis: MisEngine, config: Config, factory: sessionmaker[Session]
) -> None:
    writer = mis.writer_factory()
    try:
        head = writer.add_patient(
            "Кузнецова", "Елена", "Олеговна", "8-912-700-11-22 доб. 12", date(1979, 1, 30)
        )
        kid = writer.add_patient("Кузнецов", "Артём", "Игоревич", "9127001122", date(2016, 6, 5))
        other = writer.add_patient(
            "Кузнецов", "Игорь", "Павлович", "8 912 700 11 22, 8 495 123-45-67", date(1977, 3, 3)
        )
    finally:
        writer.close()
    connector = open_connector(config)
    SyncEngine(connector, factory).run_once()
    connector.close()
    with factory() as s:
        found = {p.mis_id for p in patients_by_phone(s, "+79127001122")}
        assert found == {head, kid, other}
        assert [p.mis_id for p in patients_by_phone(s, "+74951234567")] == [other]
