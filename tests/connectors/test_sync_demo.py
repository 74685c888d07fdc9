"""The sync engine over the demo clinic through the demo profile (IDENT T-SQL -> SQLite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.db import transaction
from core.models import Appointment, DomainEvent, Patient, Payment, SyncCursor
from core.patients import patients_by_phone
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import clinic_now, make_config


@pytest.fixture
def engine(config, factory, demo_clinic):  # type: ignore[no-untyped-def]
    connector = open_connector(config)
    yield SyncEngine(connector, factory, batch_size=50)
    connector.close()


def _events(factory) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return [
            (e.kind, e.subject) for e in s.scalars(select(DomainEvent).order_by(DomainEvent.id))
        ]


def test_initial_import_mirrors_history_without_events(
    engine, factory, demo_clinic: DemoClinic
) -> None:  # type: ignore[no-untyped-def]
    report = engine.run_once()
    assert report.read["appointment"] > 100 and report.events == []
    with factory() as s:
        anna = s.scalar(select(Patient).where(Patient.mis_id == str(persona("anna").patient_id)))
        assert (anna.first_name, anna.middle_name, anna.phones) == (
            "Анна",
            "Сергеевна",
            ["+79123456789"],
        )
        nomsg = s.scalar(select(Patient).where(Patient.mis_id == str(persona("nomsg").patient_id)))
        assert nomsg.messaging_allowed is False
        family = patients_by_phone(s, "+79160001122")
        assert {p.first_name for p in family} >= {"Олег", "Мария"}
        assert all(c.baseline_done for c in s.scalars(select(SyncCursor)))
    assert engine.run_once().events == []


def test_every_change_produces_exactly_one_event(engine, factory, demo_clinic: DemoClinic) -> None:  # type: ignore[no-untyped-def]
    engine.run_once()
    anna = persona("anna").patient_id
    doctor = demo_clinic.doctors()[0][0]
    start = (clinic_now() + timedelta(days=5)).replace(hour=11, minute=0, second=0)
    visit = demo_clinic.book(anna, doctor, start, minutes=30)
    engine.run_once()
    demo_clinic.move(visit, start + timedelta(hours=2))
    engine.run_once()
    demo_clinic.arrive(visit)
    engine.run_once()
    demo_clinic.complete(visit)
    payment = demo_clinic.pay(anna, "2500.00", reception_id=visit)
    engine.run_once()
    demo_clinic.refund(payment)
    engine.run_once()
    other = demo_clinic.book(anna, doctor, start + timedelta(days=1), minutes=30)
    engine.run_once()
    demo_clinic.cancel(other)
    engine.run_once()
    third = demo_clinic.book(anna, doctor, start + timedelta(days=2), minutes=30)
    engine.run_once()
    demo_clinic.delete_reception(third)
    demo_clinic.change_phone(anna, "+7 (900) 111-22-33")
    engine.run_once()
    expected = [
        ("appointment.created", str(visit)),
        ("appointment.moved", str(visit)),
        ("appointment.arrived", str(visit)),
        ("appointment.completed", str(visit)),
        ("payment.received", str(payment)),
        ("payment.reversed", str(payment)),
        ("appointment.created", str(other)),
        ("appointment.cancelled", str(other)),
        ("appointment.created", str(third)),
        ("patient.changed", str(anna)),
        ("appointment.cancelled", str(third)),
    ]
    assert _events(factory) == expected

    # Re-reading everything from the start (a lost cursor) produces nothing new.
    with transaction(factory) as s:
        for cursor in s.scalars(select(SyncCursor)):
            cursor.value = "0"
    engine.run_once()
    assert _events(factory) == expected
    with factory() as s:
        assert s.scalar(select(Payment).where(Payment.mis_id == str(payment))).reversed is True
        assert s.scalar(select(Appointment).where(Appointment.mis_id == str(third))).deleted is True
        assert [p.mis_id for p in patients_by_phone(s, "+79001112233")] == [str(anna)]


def test_mis_clock_in_another_zone_is_converted(
    tmp_path: Path, demo_clinic: DemoClinic, factory
) -> None:  # type: ignore[no-untyped-def]
    # The MIS server keeps Yekaterinburg time (UTC+5) while the clinic is in Moscow (UTC+3).
    config = make_config(tmp_path, mis={"timezone": "Asia/Yekaterinburg"})
    connector = open_connector(config)
    SyncEngine(connector, factory).run_once()
    connector.close()
    visit = demo_clinic.receptions(persona("anna").patient_id)[-1]
    with factory() as s:
        row = s.scalar(select(Appointment).where(Appointment.mis_id == str(visit["ID"])))
    local = row.starts_at.astimezone(ZoneInfo("Asia/Yekaterinburg")).replace(tzinfo=None)
    assert str(local) == visit["PlanStart"]
    assert row.starts_at.astimezone(ZoneInfo("Europe/Moscow")).hour == local.hour - 2
