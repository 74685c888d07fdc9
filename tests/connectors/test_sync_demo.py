"""The sync engine over the demo clinic through the demo profile (IDENT T-SQL -> SQLite)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.db import transaction
from core.models import Appointment, DomainEvent, Patient, Payment, SyncCursor
from core.patients.linking import patients_by_phone
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import clinic_now, make_config

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


@pytest.fixture
def engine(config, factory, demo_clinic):  # type: ignore[no-untyped-def]
    connector = open_connector(config)
    yield SyncEngine(connector, factory, batch_size=50)
    connector.close()


def _events(factory) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The news the sync recorded, waiting for the rules (none run here). The import also
    records the refund rows of the clinic's history, as handled already: a refund is a
    record of money as well as news."""
    with factory() as s:
        news = select(DomainEvent).where(DomainEvent.processed_at.is_(None))
        return [(e.kind, e.subject) for e in s.scalars(news.order_by(DomainEvent.id))]


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


def _mirror(factory) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    """The mirror's content, by MIS id (row ids and write times aside)."""
    queries = {
        "doctors": "SELECT mis_id, full_name, specialty, content_hash FROM doctors",
        "patients": "SELECT mis_id, last_name, first_name, middle_name, birth_date, phones,"
        " family_id, status, messaging_allowed, content_hash FROM patients",
        "phones": "SELECT p.mis_id, f.phone FROM patient_phones AS f"
        " JOIN patients AS p ON p.id = f.patient_id",
        "appointments": "SELECT mis_id, patient_mis_id, doctor_mis_id, branch_id, starts_at,"
        " ends_at, status, services, deleted, content_hash, confirmation FROM appointments",
        "payments": "SELECT mis_id, patient_mis_id, paid_at, amount, method, reversed,"
        " content_hash FROM payments",
        # A window read's cursor holds the time it finished.
        "cursors": "SELECT entity, CASE WHEN value LIKE '{%' THEN '' ELSE value END,"
        " baseline_done FROM sync_cursors WHERE entity != '_no_show_sweep'",
    }
    with factory() as s:
        return {
            name: sorted(tuple(r) for r in s.execute(text(sql))) for name, sql in queries.items()
        }


def test_bulk_import_writes_what_the_ordinary_path_writes(
    config, factory, demo_clinic: DemoClinic, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    connector = open_connector(config)
    bulk_used: list[str] = []
    original = SyncEngine._bulk_import

    def spy(self, entity):  # type: ignore[no-untyped-def]
        bulk = original(self, entity)
        if bulk is not None:
            bulk_used.append(entity)
        return bulk

    monkeypatch.setattr(SyncEngine, "_bulk_import", spy)
    SyncEngine(connector, factory, batch_size=50).run_once()
    assert {"patient", "appointment", "payment"} <= set(bulk_used)
    bulk = _mirror(factory)
    with transaction(factory) as s:
        for table in ("patient_phones", "patients", "doctors", "appointments", "payments"):
            s.execute(text(f"DELETE FROM {table}"))
        s.execute(text("DELETE FROM sync_cursors"))
    monkeypatch.setattr(SyncEngine, "_bulk_import", lambda self, entity: None)
    SyncEngine(connector, factory, batch_size=50).run_once()
    connector.close()
    assert _mirror(factory) == bulk
    assert len(bulk["appointments"]) > 100 and len(bulk["phones"]) > 50


def test_row_changed_during_a_bulk_import_ends_up_as_last_read(
    config, factory, demo_clinic: DemoClinic, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("connectors.sync.engine.IMPORT_BATCH_SIZE", 20)
    connector = open_connector(config)
    read = connector.read_changes
    changed: list[str] = []

    def read_and_change(entity, *args, **kwargs):  # type: ignore[no-untyped-def]
        batch = read(entity, *args, **kwargs)
        if entity == "patient" and not changed:
            # The MIS changes a patient the import already read: the row comes again in a
            # later batch, which then names a row the bulk import wrote.
            assert batch.more
            changed.append(batch.records[0].mis_id)
            demo_clinic.change_phone(int(changed[0]), "+7 (900) 765-43-21")
        return batch

    connector.read_changes = read_and_change  # type: ignore[method-assign]
    engine = SyncEngine(connector, factory, batch_size=20)
    engine.prefetch = False
    assert engine.run_once().events == []
    with factory() as s:
        assert [p.mis_id for p in patients_by_phone(s, "+79007654321")] == changed
        row = s.scalar(select(Patient).where(Patient.mis_id == changed[0]))
        assert row.phones == ["+79007654321"]
        with sqlite3.connect(config.mis.dsn) as mis:
            in_mis = mis.execute("SELECT COUNT(*) FROM Patients").fetchone()[0]
        assert s.scalar(select(func.count()).select_from(Patient)) == in_mis
    assert engine.run_once().events == []
    connector.close()


def test_window_reads_start_from_the_engines_clock(config, factory, demo_clinic) -> None:  # type: ignore[no-untyped-def]
    """A window's start is the injected clock's day in the MIS's zone, sent to the MIS as
    a parameter: not the MIS server's NOW(), not the machine's clock or zone."""
    connector = open_connector(config)
    read = connector.read_changes
    windows: dict[str, tuple[datetime, datetime]] = {}

    def spy(entity, *args, **kwargs):  # type: ignore[no-untyped-def]
        batch = read(entity, *args, **kwargs)
        if batch.sweep is not None:
            windows[entity] = (kwargs["now"], batch.sweep.since)
        return batch

    connector.read_changes = spy  # type: ignore[method-assign]
    # 23:30 on 1 January in Moscow (the demo MIS's zone): already 2 January nowhere near.
    instant = datetime(2026, 1, 1, 20, 30, tzinfo=UTC)
    SyncEngine(connector, factory, clock=lambda: instant).run_once()
    connector.close()
    moscow = ZoneInfo("Europe/Moscow")
    assert windows == {
        "appointment_window": (instant, datetime(2025, 12, 31, tzinfo=moscow)),
        "payment_window": (instant, datetime(2025, 12, 2, tzinfo=moscow)),
    }
    with factory() as s:
        stored = s.scalar(select(SyncCursor.value).where(SyncCursor.entity == "payment_window"))
    assert datetime.fromisoformat(json.loads(stored)["done_at"]) == instant


def test_each_refund_row_is_one_event_and_takes_back_its_share(
    engine, factory, config, demo_clinic: DemoClinic
) -> None:  # type: ignore[no-untyped-def]
    """MIS refund rows -> one payment.reversed per row, with the row's own id and amount ->
    the rules take back that share of the payment's cashback."""
    from core import ledger
    from core.loyalty import accounts
    from core.rules import Rules

    rules = Rules(config)

    def sync() -> None:
        engine.run_once()
        while rules.process_pending(factory):
            pass

    def balance() -> int:
        with factory() as s:
            account = accounts.read_account(s, str(anna))
            return account.balance if account is not None else 0

    sync()
    anna = persona("anna").patient_id
    start = balance()
    payment = demo_clinic.pay(anna, "2000.00")
    sync()
    accrued = balance() - start
    assert accrued == 100  # 5 %
    first = demo_clinic.refund(payment, "600.00")  # 30 %
    sync()
    assert balance() - start == 70
    with transaction(factory) as s:
        for cursor in s.scalars(select(SyncCursor)):
            cursor.value = "0"  # a lost cursor: every refund row read again
    sync()
    assert balance() - start == 70
    second = demo_clinic.refund(payment)  # the rest of the payment
    sync()
    assert balance() - start == 0
    with factory() as s:
        events = [
            e.payload
            for e in s.scalars(
                select(DomainEvent)
                .where(DomainEvent.kind == "payment.reversed", DomainEvent.subject == str(payment))
                .order_by(DomainEvent.id)
            )
        ]
        assert [(p["refund_id"], Decimal(p["refund_amount"])) for p in events] == [
            (str(first), Decimal("600")),
            (str(second), Decimal("1400")),
        ]
        assert ledger.verify(s) == []


def test_a_refund_in_the_history_is_not_news_when_read_again(
    engine, factory, demo_clinic: DemoClinic
) -> None:  # type: ignore[no-untyped-def]
    """Refund rows read by the initial import, read again (a lost cursor): no
    payment.reversed for refunds nobody made now, and the history's partial refund still
    counts against the payment's money."""
    from core.loyalty.money import money_paid

    anna = persona("anna").patient_id
    part = demo_clinic.pay(anna, "2000.00")
    demo_clinic.refund(part, "600.00")
    whole = demo_clinic.pay(anna, "900.00")
    demo_clinic.refund(whole)
    assert engine.run_once().events == []  # the import: history, no news
    for lost in ("", "0"):
        with transaction(factory) as s:
            for cursor in s.scalars(select(SyncCursor)):
                cursor.value = lost
        assert engine.run_once().events == []
    with factory() as s:
        assert s.scalars(select(DomainEvent).where(DomainEvent.processed_at.is_(None))).all() == []
        assert money_paid(s, Payment.mis_id == str(part)) == Decimal("1400.00")
        assert s.scalar(select(Payment).where(Payment.mis_id == str(whole))).reversed is True


def test_a_missed_visit_the_clinic_books_again_in_its_row_is_a_move(
    engine, factory, demo_clinic: DemoClinic, clock
) -> None:  # type: ignore[no-untyped-def]
    """IDENT has no no-show status: after the sweep, the row still reads "scheduled"."""
    from core.visits.no_show_sweep import NoShowSweep

    sweep = NoShowSweep(factory, grace=timedelta(minutes=60))
    engine.run_once()
    sweep.run(live=True)
    anna = persona("anna").patient_id
    doctor = demo_clinic.doctors()[-1][0]
    start = (clinic_now() + timedelta(minutes=30)).replace(second=0)
    for _ in range(40):  # the first free half hour of that doctor's
        try:
            visit = demo_clinic.book(anna, doctor, start, minutes=30)
            break
        except Exception:
            start += timedelta(minutes=30)
    engine.run_once()
    clock.advance(timedelta(hours=3) + (start - clinic_now()))
    assert sweep.run(live=True) == [("appointment.no_show", str(visit))]
    # Touched at the same time (its reminder flag reset): the same missed visit, no news.
    demo_clinic.move(visit, start)
    assert engine.run_once().events == []
    # Booked again in the same row for tomorrow: the patient hears the visit moved.
    demo_clinic.move(visit, start + timedelta(days=1))
    assert [(kind, subject) for kind, subject in engine.run_once().events] == [
        ("appointment.moved", str(visit))
    ]
