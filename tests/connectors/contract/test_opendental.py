"""Open Dental's own cases, on MariaDB: money of a family split between its members, visit
times on the nights clocks change, broken appointments, and patients never messaged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.registry import open_connector
from connectors.sql import SqlConnector
from connectors.sync import SyncEngine
from core import ledger
from core.clock import utcnow
from core.db import make_engine, session_factory, transaction
from core.loyalty import accounts
from core.loyalty.money import money_paid
from core.migrate import upgrade
from core.models import (
    Appointment,
    DomainEvent,
    LedgerEntry,
    OutboxMessage,
    Patient,
    PatientLink,
    Payment,
    Referral,
    SyncCursor,
)
from core.reminders import plan_reminders
from core.rules import Rules
from tests.conftest import make_config
from tests.connectors.contract.engines import MIS_TZ, MisEngine, mis_now
from tests.connectors.contract.opendental_office import DECEASED, DELETED, OpenDentalOffice
from tests.core.people import chat_for

pytestmark = pytest.mark.mariadb


@dataclass
class Kabinet:
    """One appliance over the session's Open Dental database: its own store and cursors."""

    factory: sessionmaker[Session]
    sync: SyncEngine
    rules: Rules
    connector: SqlConnector
    engine: Engine

    def run(self) -> list[tuple[str, str]]:
        report = self.sync.run_once()
        assert report.problems == []
        while self.rules.process_pending(self.factory):
            pass
        return report.events


@pytest.fixture
def kabinet(opendental_engine: MisEngine, tmp_path: Path) -> Iterator[Callable[..., Kabinet]]:
    made: list[Kabinet] = []

    def build(name: str = "k", mis_zone: str = "", **loyalty: Any) -> Kabinet:
        home = tmp_path / name
        home.mkdir()
        sections = opendental_engine.sections(home)
        if mis_zone:
            sections["mis"]["timezone"] = mis_zone
        config = make_config(home, **sections, loyalty=loyalty)
        Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
        engine = make_engine(config.storage.url)
        upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
        factory = session_factory(engine)
        connector = open_connector(config)
        made.append(
            Kabinet(
                factory,
                SyncEngine(connector, factory, batch_size=3),
                Rules(config),
                connector,
                engine,
            )
        )
        return made[-1]

    yield build
    for k in made:
        k.connector.close()
        k.engine.dispose()


@pytest.fixture
def office(opendental_engine: MisEngine) -> Iterator[OpenDentalOffice]:
    writer = OpenDentalOffice(opendental_engine)
    yield writer
    writer.close()


def _mine(events: list[tuple[str, str]], ids: set[str]) -> list[tuple[str, str]]:
    # The MIS database is shared by the session's tests: their rows are not ours.
    return [e for e in events if e[1] in ids]


# -- money belongs to the patient it was for ---------------------------------------------


@pytest.mark.clock
def test_a_guarantor_pays_for_two_children_and_a_refund_takes_back_from_one(
    kabinet: Callable[..., Kabinet], office: OpenDentalOffice
) -> None:
    ortho = office.add_doctor("Брекетова", "Нина", "Олеговна")
    general = office.add_doctor("Общая", "Вера", "Ивановна")
    mother = office.add_patient(
        "Семёнова", "Ольга", "Петровна", "+7 912 600-00-01", date(1984, 1, 5)
    )
    son = office.add_member(mother, "Семёнов", "Илья", "+7 912 600-00-02", date(2012, 3, 1))
    daughter = office.add_member(mother, "Семёнова", "Ася", "+7 912 600-00-03", date(2015, 7, 9))
    grandma = office.add_patient(
        "Павлова", "Нина", "Ивановна", "+7 912 600-00-04", date(1950, 2, 2)
    )
    k = kabinet(
        cashback_percent=5,
        cashback_rules=f"doctor:{ortho}=10",
        referrer_points=2000,
        referred_points=500,
    )
    k.run()  # the import
    with transaction(k.factory) as s:
        # Grandma's link brought the daughter: rewarded at the daughter's first paid visit.
        s.add(
            Referral(
                referred_patient_mis_id=daughter,
                referrer_kind="patient",
                referrer_id=grandma,
                code="r2345678",
                state="pending",
            )
        )

    day = (mis_now() - timedelta(days=1)).replace(hour=9, minute=0, second=0)
    son_visit = office.book(son, ortho, day)
    daughter_visit = office.book(daughter, general, day + timedelta(hours=1))
    office.complete(son_visit)
    office.complete(daughter_visit)
    k.run()
    # The mother pays at the desk for both: 2000 for her son's visit, 1000 for her
    # daughter's, and 500 on the son's account with no procedure (a prepayment).
    first, second, third = office.pay_splits(
        mother, [(son, "2000", son_visit), (daughter, "1000", daughter_visit), (son, "500", None)]
    )
    paid = k.run()
    pay = office.payment_of(first)
    ids = {str(pay), f"{pay}.{second}", f"{pay}.{third}"}
    assert sorted(_mine(paid, ids)) == sorted(("payment.received", i) for i in ids)

    with k.factory() as s:
        mirror = {
            p.mis_id: (p.patient_mis_id, p.amount)
            for p in s.scalars(select(Payment).where(Payment.mis_id.in_(ids)))
        }
        assert mirror == {
            str(pay): (son, Decimal("2000.00")),
            f"{pay}.{second}": (daughter, Decimal("1000.00")),
            f"{pay}.{third}": (son, Decimal("500.00")),
        }
        received = {
            e.subject: e.payload
            for e in s.scalars(select(DomainEvent).where(DomainEvent.kind == "payment.received"))
            if e.subject in ids
        }
        assert {i: (p["patient_mis_id"], p["appointment_mis_id"]) for i, p in received.items()} == {
            str(pay): (son, son_visit),
            f"{pay}.{second}": (daughter, daughter_visit),
            f"{pay}.{third}": (son, ""),
        }
        # Each split earns at its own visit's rate, for its own patient, in the family's
        # one account: 10 % of the son's 2000 (the orthodontist), 5 % of the daughter's
        # 1000 and of the son's 500 — not 10 % of the mother's 3500.
        accruals = {
            e.cause: (e.patient_mis_id, e.amount)
            for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "accrual"))
            if e.cause.removeprefix("payment:") in ids
        }
        assert accruals == {
            f"payment:{pay}": (son, 200),
            f"payment:{pay}.{second}": (daughter, 50),
            f"payment:{pay}.{third}": (son, 25),
        }
        family = accounts.read_account(s, son)
        assert family is not None and family.owner_kind == "family"
        assert accounts.read_account(s, daughter) is family
        # The daughter's first paid visit: grandma's referral is rewarded.
        assert _balance(s, grandma) == 2000
        assert family.balance == 200 + 50 + 25 + 500
        assert [money_paid(s, Payment.patient_mis_id == p) for p in (son, daughter, mother)] == [
            Decimal("2500.00"),
            Decimal("1000.00"),
            Decimal("0"),
        ]

    # The daughter's visit is refunded, all of it: her split gives back, her brother's not.
    refund = office.refund_split(second)
    assert _mine(k.run(), ids) == [("payment.reversed", f"{pay}.{second}")]
    with k.factory() as s:
        reversed_ = s.scalar(
            select(DomainEvent).where(
                DomainEvent.kind == "payment.reversed", DomainEvent.subject == f"{pay}.{second}"
            )
        )
        assert reversed_ is not None
        assert (reversed_.payload["patient_mis_id"], reversed_.payload["refund_id"]) == (
            daughter,
            str(refund),
        )
        assert s.scalar(select(Payment.reversed).where(Payment.mis_id == f"{pay}.{second}"))
        assert not s.scalar(select(Payment.reversed).where(Payment.mis_id == str(pay)))
        assert ledger.reversed_points(s, f"payment:{pay}.{second}") == 50
        assert ledger.reversed_points(s, f"payment:{pay}") == 0
        assert _balance(s, grandma) == 0  # the referral's paid visit was refunded
        family = accounts.read_account(s, son)
        assert family is not None and family.balance == 200 + 25
        assert [money_paid(s, Payment.patient_mis_id == p) for p in (son, daughter)] == [
            Decimal("2500.00"),
            Decimal("0"),
        ]
        assert ledger.verify(s) == []

    # Nothing new on a re-read, nor after the cursors are lost: the ids are stable.
    office.transfer(son, "100", son_visit, daughter_visit)  # moves money, pays nothing
    assert _mine(k.run(), ids) == []
    with transaction(k.factory) as s:
        s.execute(update(SyncCursor).values(value=""))
    again = k.run()
    with k.factory() as s:
        new = s.scalars(
            select(Payment.mis_id).where(Payment.patient_mis_id.in_((mother, son, daughter)))
        )
        assert sorted(new) == sorted(ids)
    assert _mine(again, ids) == []


def _balance(s: Session, patient: str) -> int:
    account = accounts.read_account(s, patient)
    return account.balance if account is not None else 0


# -- visit times on the nights clocks change ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 30), datetime(2026, 10, 25, 2, 30)),
        ("America/Los_Angeles", datetime(2026, 3, 8, 2, 30), datetime(2026, 11, 1, 1, 30)),
    ],
)
def test_a_visit_on_the_night_clocks_change_lasts_its_pattern(
    kabinet: Callable[..., Kabinet],
    office: OpenDentalOffice,
    zone: str,
    spring: datetime,
    autumn: datetime,
) -> None:
    doctor = office.add_doctor("Ночная", "Анна", "")
    patient = office.add_patient("Совина", "Ева", "", "+7 912 600-10-01", date(1990, 1, 1))
    gap = office.book(patient, doctor, spring, minutes=30)  # a wall time that does not exist
    across = office.book(patient, doctor, spring - timedelta(hours=1), minutes=60)
    repeated = office.book(patient, doctor, autumn, minutes=30)  # a wall time seen twice
    k = kabinet(zone.replace("/", "-"), mis_zone=zone)
    k.run()
    tz_after_spring = spring.replace(hour=3).replace(tzinfo=_zone(zone)).utcoffset()
    tz_before_autumn = (autumn - timedelta(hours=2)).replace(tzinfo=_zone(zone)).utcoffset()
    assert tz_after_spring is not None and tz_before_autumn is not None
    with k.factory() as s:
        visits = {
            a.mis_id: (a.starts_at, a.ends_at)
            for a in s.scalars(select(Appointment).where(Appointment.patient_mis_id == patient))
        }
    # 02:30 on the spring night is read as 03:30 on the new clock; 30 minutes later it ends.
    gap_start = (spring + timedelta(hours=1)).replace(tzinfo=UTC) - tz_after_spring
    assert visits[gap] == (gap_start, gap_start + timedelta(minutes=30))
    # An hour from 01:30 ends at 03:30 on the new clock, an hour later in real time.
    assert visits[across][1] - visits[across][0] == timedelta(minutes=60)
    assert visits[across][1] == gap_start
    # The repeated hour's wall time is its first occurrence, and lasts 30 minutes, not 90.
    first_pass = autumn.replace(tzinfo=UTC) - tz_before_autumn
    assert visits[repeated] == (first_pass, first_pass + timedelta(minutes=30))


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# -- broken appointments: a no-show or a late cancellation --------------------------------


@pytest.mark.clock
def test_a_broken_appointment_is_a_no_show_or_a_late_cancellation(
    kabinet: Callable[..., Kabinet], office: OpenDentalOffice
) -> None:
    doctor = office.add_doctor("Пустова", "Алла", "")
    patient = office.add_patient("Забывай", "Олег", "", "+7 912 600-20-01", date(1980, 5, 5))
    k = kabinet()
    k.run()
    now = mis_now().replace(second=0)
    past = (now - timedelta(hours=3)).replace(minute=0)
    future = (now + timedelta(days=2)).replace(hour=10, minute=0)
    missed = office.book(patient, doctor, past)  # nobody came; "Missed" charted
    absent = office.book(patient, doctor, past + timedelta(minutes=30))  # no procedure charted
    unlisted = office.book(patient, doctor, past + timedelta(hours=1))  # Missed, to the list
    cancelled = office.book(patient, doctor, future)  # called off; "Cancelled" charted
    late = office.book(patient, doctor, future + timedelta(hours=1))  # called off, no procedure
    again = office.book(patient, doctor, past - timedelta(days=1))  # missed, moved, called off
    visits = {missed, absent, unlisted, cancelled, late, again}
    booked = k.run()
    assert sorted(_mine(booked, visits)) == sorted(("appointment.created", v) for v in visits)

    office.break_visit(missed, "D9986")
    office.break_visit(absent)
    office.break_visit(unlisted, "D9986", unscheduled=True)
    office.break_visit(cancelled, "D9987")
    office.break_visit(late)
    office.break_visit(again, "D9986")
    broken = k.run()
    office.reschedule(again, future + timedelta(hours=2))
    office.break_visit(again)  # before its new time, and no procedure this time
    broken += k.run()

    assert sorted(_mine(broken, visits)) == sorted(
        [
            ("appointment.no_show", missed),
            ("appointment.no_show", absent),
            ("appointment.no_show", unlisted),
            ("appointment.cancelled", cancelled),
            ("appointment.cancelled", late),
            ("appointment.no_show", again),
            ("appointment.cancelled", again),
        ]
    )
    with k.factory() as s:
        status = dict(
            s.execute(
                select(Appointment.mis_id, Appointment.status).where(Appointment.mis_id.in_(visits))
            ).all()
        )
    assert status == {
        missed: "no_show",
        absent: "no_show",
        unlisted: "no_show",
        cancelled: "cancelled",
        late: "cancelled",
        again: "cancelled",
    }


# -- deleted and deceased patients are never messaged -------------------------------------


@pytest.mark.clock
def test_deleted_and_deceased_patients_get_no_notice_and_no_reminder(
    kabinet: Callable[..., Kabinet], office: OpenDentalOffice
) -> None:
    doctor = office.add_doctor("Вестова", "Ирина", "")
    born = date(1970, 1, 1)
    alive = office.add_patient("Живая", "Анна", "", "+7 912 600-30-01", born)
    deleted = office.add_patient("Удалённая", "Бэла", "", "+7 912 600-30-02", born)
    deceased = office.add_patient("Покойная", "Вера", "", "+7 912 600-30-03", born)
    passed = office.add_patient("Ушедшая", "Галина", "", "+7 912 600-30-04", born)
    office.set_status(deleted, DELETED)
    office.set_status(deceased, DECEASED)
    patients = (alive, deleted, deceased, passed)
    k = kabinet()
    k.run()
    with transaction(k.factory) as s:
        rows = {p.mis_id: p for p in s.scalars(select(Patient).where(Patient.mis_id.in_(patients)))}
        assert {m: (p.status, p.messaging_allowed) for m, p in rows.items()} == {
            alive: ("active", True),
            deleted: ("deleted", False),
            deceased: ("deleted", False),
            passed: ("active", True),
        }
        chats = {m: chat_for(s, rows[m]).chat_id for m in patients}

    # Booked for tomorrow at noon, clinic time (Moscow; the MIS keeps Yekaterinburg time).
    tomorrow = utcnow().astimezone(_zone("Europe/Moscow")).date() + timedelta(days=1)
    noon = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 12, tzinfo=_zone("Europe/Moscow"))
    at = noon.astimezone(MIS_TZ).replace(tzinfo=None)
    for number, patient in enumerate(patients):
        office.book(patient, doctor, at + timedelta(minutes=30 * number))
    k.run()
    assert _messages(k, chats) == {alive: ["booked"], passed: ["booked"]}

    office.set_status(passed, DECEASED)  # after the booking, before the reminder
    k.run()
    with k.factory() as s:  # unlinked, silently: no goodbye to a deceased patient's chat
        assert s.scalar(select(PatientLink.id).where(PatientLink.patient_mis_id == passed)) is None
    with transaction(k.factory) as s:
        assert plan_reminders(s, k.rules.config) == 1
    assert _messages(k, chats) == {alive: ["booked", "reminder"], passed: ["booked"]}


def _messages(k: Kabinet, chats: dict[str, int]) -> dict[str, list[str]]:
    by_chat = {chat: patient for patient, chat in chats.items()}
    out: dict[str, list[str]] = {}
    with k.factory() as s:
        for chat, kind in s.execute(
            select(OutboxMessage.chat_id, OutboxMessage.kind)
            .where(OutboxMessage.chat_id.in_(by_chat))
            .order_by(OutboxMessage.id)
        ):
            out.setdefault(by_chat[chat], []).append(kind)
    return out
