"""The demo clinic: schema, generated data, personas, DemoClinic API and simulator."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest

from sandbox.demo_clinic import (
    PERSONAS,
    BookingConflict,
    ClinicSimulator,
    DemoClinic,
    build_demo_clinic,
    persona,
)
from sandbox.demo_clinic import catalog as C
from sandbox.demo_clinic import names as N
from sandbox.demo_clinic.__main__ import main as cli_main
from sandbox.demo_clinic.db import ROWVERSION_TABLES, connect, create_schema, parse_birthday

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

TODAY = date(2024, 5, 15)  # a Wednesday
NOW = datetime(2024, 5, 15, 0, 0)
TOMORROW = TODAY + timedelta(days=1)

TABLE_COLUMNS = {
    "Persons": ["ID", "Surname", "Name", "Patronymic", "Birthday", "Sex", "MobilePhone"],
    "OwnPhones": ["ID", "ID_Persons", "Phone", "PhoneType"],
    "Patients": [
        "ID_Persons",
        "PatientNumber",
        "CardNumber",
        "Status",
        "ConformToSending",
        "SMSRejection",
        "FirstVisit",
        "Comment",
        "ID_Families",
        "DateTimeChanged",
        "RowVersion",
    ],
    "Families": ["ID", "Name", "ID_HeadPatients"],
    "ProfessionNames": ["ID", "Name", "ID_Roles"],
    "Items": ["ID", "Name", "ID_ProfessionNames"],
    "Staffs": [
        "ID",
        "ID_Persons",
        "ID_Items",
        "ID_Branches",
        "Archive",
        "DateTimeChanged",
        "RowVersion",
    ],
    "Branches": ["ID", "Name", "Address"],
    "Armchairs": ["ID", "Name", "ID_Branches"],
    "Receptions": [
        "ID",
        "ID_Patients",
        "ID_Staffs",
        "ID_Armchairs",
        "PlanStart",
        "PlanEnd",
        "PatientAppeared",
        "ReceptionStarted",
        "ReceptionEnded",
        "CheckIssued",
        "ReceptionCanceled",
        "ID_ReceptionCancelReasons",
        "CancelReasonComment",
        "IsNotified",
        "DateTimeNotified",
        "NeedHandReminder",
        "ID_AppointmentSources",
        "ExternalUID",
        "Services",
        "DateTimeAdded",
        "DateTimeChanged",
        "RowVersion",
    ],
    "ReceptionCancelReasons": ["ID", "Name"],
    "CashDescs": ["ID", "Name", "IsBonus"],
    "PaymentsIn": [
        "ID",
        "DateTimePayment",
        "DatePayment",
        "ID_Patients",
        "Payment",
        "ID_CashDescs",
        "ID_Receptions",
        "DateTimeAdded",
        "DateTimeChanged",
        "RowVersion",
    ],
    "PaymentsOut": [
        "ID",
        "DateTimePayment",
        "ID_Patients",
        "Payment",
        "ID_PaymentsIn",
        "Comment",
        "DateTimeAdded",
        "DateTimeChanged",
        "RowVersion",
    ],
    "DeletedRows": ["ID", "TableName", "RowID", "RowVersion", "DateTimeDeleted"],
    "RowVersionCounter": ["ID", "Value"],
}


def overlaps(con: sqlite3.Connection) -> int:
    return con.execute(
        """
        SELECT COUNT(*) FROM Receptions a JOIN Receptions b
          ON a.ID_Staffs = b.ID_Staffs AND a.ID < b.ID
         AND a.PlanStart < b.PlanEnd AND b.PlanStart < a.PlanEnd
        WHERE a.ReceptionCanceled IS NULL AND a.ID_ReceptionCancelReasons IS NULL
          AND b.ReceptionCanceled IS NULL AND b.ID_ReceptionCancelReasons IS NULL
        """
    ).fetchone()[0]


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(path)
    try:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in [*TABLE_COLUMNS, "DemoInfo", "AppointmentSources"]
        }
    finally:
        con.close()


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def tick(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "clinic.sqlite3"
    build_demo_clinic(path, seed=42, today=TODAY)
    return path


@pytest.fixture
def clinic(built: Path, tmp_path: Path) -> tuple[DemoClinic, FakeClock]:
    """A private copy of the module's clinic, on a controllable clock."""
    path = tmp_path / "clinic.sqlite3"
    shutil.copy(built, path)
    clock = FakeClock(datetime(2024, 5, 15, 8, 30))
    return DemoClinic(path, clock=clock), clock


@pytest.fixture
def ro(built: Path) -> Iterator[sqlite3.Connection]:
    con = connect(built)
    yield con
    con.close()


# --------------------------------------------------------------------------- schema


def test_schema_builds_with_ident_names(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "empty.sqlite3")
    create_schema(con)
    for table, columns in TABLE_COLUMNS.items():
        got = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        assert got == columns, table
    indexed = {
        (r[0], r[1])
        for r in con.execute(
            "SELECT m.tbl_name, ii.name FROM sqlite_master m, pragma_index_info(m.name) ii"
            " WHERE m.type = 'index'"
        )
    }
    for table in ROWVERSION_TABLES:
        assert (table, "RowVersion") in indexed
    for table, column in [
        ("Receptions", "ID_Patients"),
        ("Receptions", "ID_Staffs"),
        ("Receptions", "ID_Armchairs"),
        ("Receptions", "ID_ReceptionCancelReasons"),
        ("PaymentsIn", "ID_Patients"),
        ("PaymentsIn", "ID_Receptions"),
        ("PaymentsIn", "ID_CashDescs"),
        ("PaymentsOut", "ID_PaymentsIn"),
        ("OwnPhones", "ID_Persons"),
        ("Patients", "ID_Families"),
        ("Staffs", "ID_Persons"),
    ]:
        assert (table, column) in indexed, (table, column)
    assert con.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
    con.close()


def test_build_metadata_and_reference_tables(ro: sqlite3.Connection) -> None:
    info = dict(ro.execute("SELECT Key, Value FROM DemoInfo").fetchall())
    assert info["today"] == "2024-05-15" and info["seed"] == "42"
    roles = dict(ro.execute("SELECT Name, ID_Roles FROM ProfessionNames").fetchall())
    assert {7, 8, 9, 104} <= set(roles.values())
    cash = {r[1]: r[2] for r in ro.execute("SELECT * FROM CashDescs")}
    assert cash["Наличные"] == 0 and cash["Карта"] == 0 and cash["Бонусы"] == 1
    assert ro.execute("SELECT COUNT(*) FROM Branches").fetchone()[0] == 2
    assert ro.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------- generator


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3", tmp_path / "c.sqlite3"
    build_demo_clinic(a, seed=7, today=TODAY, patients=150, doctors=5)
    build_demo_clinic(b, seed=7, today=TODAY, patients=150, doctors=5)
    build_demo_clinic(c, seed=8, today=TODAY, patients=150, doctors=5)
    assert dump(a) == dump(b)
    assert dump(a)["Persons"] != dump(c)["Persons"]
    # Rebuilding over an existing demo clinic replaces it.
    build_demo_clinic(a, seed=8, today=TODAY, patients=150, doctors=5)
    assert dump(a) == dump(c)


def test_refuses_to_replace_a_foreign_file(tmp_path: Path) -> None:
    other = tmp_path / "precious.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(FileExistsError):
        build_demo_clinic(other, today=TODAY, patients=10)
    assert sqlite3.connect(other).execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_sizes_and_shape(ro: sqlite3.Connection) -> None:
    count = lambda sql: ro.execute(sql).fetchone()[0]  # noqa: E731
    assert count("SELECT COUNT(*) FROM Patients") == 400 + len(PERSONAS)
    doctors = count(
        "SELECT COUNT(*) FROM Staffs s JOIN Items i ON i.ID = s.ID_Items"
        " JOIN ProfessionNames p ON p.ID = i.ID_ProfessionNames WHERE p.ID_Roles = 8"
        " AND s.Archive = 0"
    )
    assert doctors == 10
    assert count("SELECT COUNT(*) FROM Staffs WHERE Archive = 1") == 1
    for role in (7, 9, 104):
        assert count(
            "SELECT COUNT(*) FROM Staffs s JOIN Items i ON i.ID = s.ID_Items JOIN"
            f" ProfessionNames p ON p.ID = i.ID_ProfessionNames WHERE p.ID_Roles = {role}"
        )
    specialties = {r[0] for r in ro.execute("SELECT DISTINCT ID_Items FROM Staffs")}
    assert {s.item_id for s in C.SPECIALTIES} <= specialties
    assert count("SELECT COUNT(DISTINCT ID_Branches) FROM Armchairs") == 2
    # Working hours, slot lengths, no double booking.
    assert count("SELECT MIN(time(PlanStart)) FROM Receptions") >= "09:00:00"
    assert count("SELECT MAX(time(PlanEnd)) FROM Receptions") <= "20:00:00"
    lengths = {
        r[0]
        for r in ro.execute(
            "SELECT DISTINCT (julianday(PlanEnd) - julianday(PlanStart)) * 1440 FROM Receptions"
        )
    }
    assert {round(x) for x in lengths} <= {30, 45, 60, 90}
    assert overlaps(ro) == 0
    # Realistic money: bills of 1,500-60,000 roubles, bonus and refunds present.
    bill_sql = (
        "SELECT SUM(Payment) FROM PaymentsIn WHERE ID_Receptions IS NOT NULL GROUP BY ID_Receptions"
    )
    bills = [Decimal(str(r[0])) for r in ro.execute(bill_sql)]
    assert bills and min(bills) >= 1500 * Decimal("0.9") and max(bills) <= 60000
    assert count("SELECT COUNT(*) FROM PaymentsIn WHERE ID_CashDescs = 3") > 0
    assert count("SELECT COUNT(*) FROM PaymentsOut") > 0
    assert count("SELECT COUNT(*) FROM PaymentsIn WHERE Payment <> ROUND(Payment)") > 0
    # Patients' flags.
    assert count("SELECT COUNT(*) FROM Patients WHERE Status = 1") > 0
    assert count("SELECT COUNT(*) FROM Patients WHERE ConformToSending = 0") > 0
    assert count("SELECT COUNT(*) FROM Patients WHERE SMSRejection = 1") > 1


def test_reception_statuses_cover_the_lifecycle(built: Path) -> None:
    clinic = DemoClinic(built, clock=lambda: NOW)
    con = clinic.connect()
    statuses: Counter[str] = Counter()
    try:
        from sandbox.demo_clinic import reception_status

        for row in con.execute("SELECT * FROM Receptions"):
            status = reception_status(row, NOW)
            statuses[status] += 1
            start = row["PlanStart"]
            if start >= "2024-05-15":
                assert status in ("scheduled", "cancelled"), dict(row)
            if status == "completed":
                assert row["PatientAppeared"] <= row["PlanStart"]
                paid_or_not = row["CheckIssued"] or row["ReceptionEnded"]
                assert paid_or_not < "2024-05-15"
        reason_only = con.execute(
            "SELECT COUNT(*) FROM Receptions WHERE ReceptionCanceled IS NULL"
            " AND ID_ReceptionCancelReasons IS NOT NULL"
        ).fetchone()[0]
    finally:
        con.close()
    assert statuses["completed"] > statuses["cancelled"] > statuses["no_show"] > 0
    assert statuses["scheduled"] > 0
    assert reason_only > 0


def test_names_are_gender_consistent(ro: sqlite3.Connection) -> None:
    rows = [tuple(r) for r in ro.execute("SELECT Surname, Name, Patronymic, Sex FROM Persons")]
    assert len(rows) > 400
    for surname, name, patronymic, sex in rows:
        if sex == C.SEX_MALE:
            assert name in N.ALL_MALE_NAMES, name
            assert surname in N.MALE_SURNAMES, surname
            assert patronymic is None or patronymic.endswith("ич"), patronymic
        else:
            assert sex == C.SEX_FEMALE
            assert name in N.ALL_FEMALE_NAMES, name
            assert surname in N.FEMALE_SURNAMES, surname
            assert patronymic is None or patronymic.endswith("на"), patronymic
    assert ("Иванова", "Анна", "Сергеевна", 2) in rows


def test_name_tables_are_complete() -> None:
    assert N.ALL_MALE_NAMES.issubset(N.PATRONYMICS)
    assert N.female_surname("Иванов") == "Иванова"
    assert N.female_surname("Островский") == "Островская"
    assert N.female_surname("Толстой") == "Толстая"
    assert N.female_surname("Шевченко") == "Шевченко"
    assert N.patronymic("Илья", C.SEX_FEMALE) == "Ильинична"
    assert N.sex_from_patronymic("Олеговна", "Мария") == C.SEX_FEMALE
    assert N.sex_from_patronymic(None, "Никита") == C.SEX_MALE


PHONE_FORMATS = {
    "8 (912) 345-67-89": r"^8 \(9\d\d\) \d{3}-\d\d-\d\d$",
    "+7 912 3456789": r"^\+7 9\d\d \d{7}$",
    "9123456789": r"^9\d{9}$",
    "8-912-345-67-89 доб. 12": r"^8-9\d\d-\d{3}-\d\d-\d\d доб\. \d+$",
    "+7(912)345 67 89": r"^\+7\(9\d\d\)\d{3} \d\d \d\d$",
    "two numbers": r"^8 9\d\d \d{3} \d\d \d\d(, |; | или )8 4\d\d \d{3}-\d\d-\d\d$",
    "landline": r"^(8 \(4\d\d\)|8 4\d\d|\+7 4\d\d) ",
    "Belarus": r"^\+375 ",
    "Kazakhstan": r"^\+7 7\d\d ",
    "garbage нет": r"^нет$",
    "garbage dash": r"^—$",
}


def test_phones_cover_the_ways_people_type_them(ro: sqlite3.Connection) -> None:
    phones = [r[0] for r in ro.execute("SELECT MobilePhone FROM Persons")]
    for label, pattern in PHONE_FORMATS.items():
        assert any(p and re.search(pattern, p) for p in phones), label
    assert None in phones or "" in phones
    extra = ro.execute("SELECT DISTINCT PhoneType FROM OwnPhones").fetchall()
    assert {r[0] for r in extra} == {"Мобильный", "Домашний", "Рабочий"}


def _national(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone.split(",")[0].split(" доб")[0], "RU")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def test_families_share_phones(ro: sqlite3.Connection) -> None:
    rows = ro.execute(
        "SELECT pt.ID_Families, p.ID, p.MobilePhone, p.Surname FROM Patients pt"
        " JOIN Persons p ON p.ID = pt.ID_Persons WHERE pt.ID_Families IS NOT NULL"
    ).fetchall()
    families: dict[int, list[tuple[int, str | None, str]]] = {}
    for fam, pid, phone, surname in rows:
        families.setdefault(fam, []).append((pid, phone, surname))
    assert len(families) >= 10
    sharing = retyped = 0
    for members in families.values():
        assert len(members) >= 2
        numbers = [_national(phone) for _, phone, _ in members]
        counts = Counter(n for n in numbers if n)
        if counts and counts.most_common(1)[0][1] >= 2:
            sharing += 1
            shared = counts.most_common(1)[0][0]
            texts = {
                phone for (_, phone, _), n in zip(members, numbers, strict=True) if n == shared
            }
            retyped += len(texts) > 1
    assert sharing >= len(families) // 3
    assert retyped > 0  # the same number typed two ways in one family
    heads = ro.execute(
        "SELECT f.ID_HeadPatients, pt.ID_Families FROM Families f"
        " JOIN Patients pt ON pt.ID_Persons = f.ID_HeadPatients"
    ).fetchall()
    assert all(head_family is not None for _, head_family in heads)


def test_some_birthdays_this_week(ro: sqlite3.Connection) -> None:
    births = [parse_birthday(r[0]) for r in ro.execute("SELECT Birthday FROM Persons")]
    week = {(TODAY + timedelta(days=i)).strftime("%m-%d") for i in range(7)}
    assert sum(1 for b in births if b and b.strftime("%m-%d") in week) >= 5


def test_row_versions_follow_change_order(ro: sqlite3.Connection) -> None:
    rows = [
        tuple(r)
        for r in ro.execute(
            " UNION ALL ".join(
                f"SELECT RowVersion, DateTimeChanged FROM {t}" for t in ROWVERSION_TABLES
            )
        )
    ]
    versions = [r[0] for r in rows]
    assert None not in versions
    assert len(set(versions)) == len(versions)
    counter = ro.execute("SELECT Value FROM RowVersionCounter").fetchone()[0]
    assert counter == max(versions) == len(versions)
    ordered = [changed for _, changed in sorted(rows)]
    assert ordered == sorted(ordered)


def test_capacity_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="doctors >="):
        build_demo_clinic(
            tmp_path / "x.sqlite3", today=TODAY, patients=1000, doctors=1, receptions_per_patient=50
        )


def test_explicit_volumes(tmp_path: Path) -> None:
    clinic = build_demo_clinic(
        tmp_path / "v.sqlite3",
        seed=3,
        today=TODAY,
        patients=2000,
        doctors=12,
        receptions_per_patient=6,
        payments_per_reception=0.667,
    )
    con = clinic.connect()
    try:
        receptions = con.execute("SELECT COUNT(*) FROM Receptions").fetchone()[0]
        payments = con.execute("SELECT COUNT(*) FROM PaymentsIn").fetchone()[0]
        assert overlaps(con) == 0
    finally:
        con.close()
    assert abs(receptions - 12_000) < 12_000 * 0.02
    assert abs(payments - receptions * 0.667) < receptions * 0.02


# --------------------------------------------------------------------------- personas


def test_personas_are_fixed_and_present(built: Path, tmp_path: Path) -> None:
    other = build_demo_clinic(tmp_path / "other.sqlite3", seed=999, today=TODAY, patients=30)
    for path in (built, other.path):
        clinic = DemoClinic(path, clock=lambda: NOW)
        for p in PERSONAS:
            row = clinic.patient(p.person_id)
            assert (row["Surname"], row["Name"], row["Patronymic"]) == (
                p.surname,
                p.name,
                p.patronymic,
            )
            assert row["MobilePhone"] == p.phone_as_typed
            assert row["Sex"] == p.sex
            assert row["Birthdate"] == p.birthday(TODAY)
            assert bool(row["SMSRejection"]) == p.sms_rejection
            assert row["ID_Families"] == p.family_id
            parsed = phonenumbers.parse(p.phone_as_typed.split(",")[0], "RU")
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            assert e164 == p.phone_e164
            visits = clinic.receptions(p.person_id)
            assert len(visits) == len(p.visits)
            for visit, got in zip(
                sorted(p.visits, key=lambda v: v.days_from_today), visits, strict=True
            ):
                start = datetime.combine(TODAY + timedelta(days=visit.days_from_today), visit.at)
                assert got["PlanStart"] == start.strftime("%Y-%m-%d %H:%M:%S")
                assert got["status"] == ("completed" if visit.completed else "scheduled")
    assert persona("anna").person_id == 1
    with pytest.raises(KeyError):
        persona("nobody")


def test_anna_has_a_therapist_tomorrow_and_a_paid_past_visit(built: Path) -> None:
    clinic = DemoClinic(built, clock=lambda: NOW)
    anna = persona("anna")
    assert anna.phone_e164 == "+79123456789" and anna.phone_as_typed == "8 (912) 345-67-89"
    past, upcoming = clinic.receptions(anna.patient_id)
    assert upcoming["PlanStart"] == f"{TOMORROW} 10:00:00"
    assert upcoming["PlanEnd"] == f"{TOMORROW} 11:00:00"
    assert upcoming["status"] == "scheduled"
    doctors = {staff_id: spec for staff_id, _, spec in clinic.doctors()}
    assert doctors[upcoming["ID_Staffs"]] == "Стоматолог-терапевт"
    assert past["status"] == "completed"
    payments = clinic.payments(anna.patient_id)
    assert [(p["ID_Receptions"], p["Payment"]) for p in payments] == [(past["ID"], Decimal("6200"))]


def test_family_shares_a_phone_and_each_has_a_visit(built: Path) -> None:
    clinic = DemoClinic(built, clock=lambda: NOW)
    members = [persona(k) for k in ("family", "family_daughter", "family_son")]
    con = clinic.connect()
    try:
        head = con.execute("SELECT ID_HeadPatients FROM Families WHERE ID = 1").fetchone()[0]
    finally:
        con.close()
    assert head == persona("family").person_id
    for m in members:
        row = clinic.patient(m.person_id)
        assert row["MobilePhone"] == "+7 916 000-11-22" and row["ID_Families"] == 1
        upcoming = [r for r in clinic.receptions(m.person_id) if r["status"] == "scheduled"]
        assert len(upcoming) == 1
    assert clinic.patient(persona("nomsg").person_id)["SMSRejection"] == 1


# --------------------------------------------------------------------------- row versions


def test_row_version_bumps_on_every_write_from_any_writer(
    clinic: tuple[DemoClinic, FakeClock],
) -> None:
    demo, _ = clinic
    start = demo.row_version()
    con = sqlite3.connect(demo.path)  # a writer that knows nothing of DemoClinic
    con.execute("PRAGMA recursive_triggers = ON")  # must not make the triggers loop
    cur = con.execute(
        "INSERT INTO Receptions (ID_Patients, ID_Staffs, PlanStart, PlanEnd)"
        " VALUES (1, 1, '2024-06-01 09:00:00', '2024-06-01 09:30:00')"
    )
    rid = cur.lastrowid
    con.commit()
    rv1 = con.execute("SELECT RowVersion FROM Receptions WHERE ID = ?", (rid,)).fetchone()[0]
    assert rv1 == start + 1
    con.execute("UPDATE Receptions SET IsNotified = IsNotified WHERE ID = ?", (rid,))
    con.commit()
    rv2 = con.execute("SELECT RowVersion FROM Receptions WHERE ID = ?", (rid,)).fetchone()[0]
    assert rv2 == start + 2  # a no-op update still bumps, as in SQL Server
    # A multi-row update gives each row its own version.
    con.execute("UPDATE Patients SET Comment = Comment WHERE ID_Persons <= 3")
    con.commit()
    versions = [r[0] for r in con.execute("SELECT RowVersion FROM Patients WHERE ID_Persons <= 3")]
    assert sorted(versions) == [start + 3, start + 4, start + 5]
    for table in ROWVERSION_TABLES:
        all_versions = [r[0] for r in con.execute(f"SELECT RowVersion FROM {table}")]
        assert len(all_versions) == len(set(all_versions))
    # RowVersion is the database's to set, as in SQL Server.
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("UPDATE Receptions SET RowVersion = 1 WHERE ID = ?", (rid,))
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(
            "INSERT INTO PaymentsIn (DateTimePayment, DatePayment, ID_Patients, Payment,"
            " RowVersion) VALUES ('2024-05-15 10:00:00', '2024-05-15', 1, 100, 5)"
        )
    con.rollback()
    con.close()
    # And the API's writes bump it the same way.
    before = demo.row_version()
    demo.set_messaging(1, False)
    assert demo.row_version() == before + 1
    assert demo.patient(1)["RowVersion"] == before + 1


def test_deleted_rows_records_deletions(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, clock = clinic
    rid = demo.book(7, 1, datetime(2024, 5, 20, 12, 0), 30)
    pay_id = demo.pay(7, "1500.00", method="card", reception_id=rid)
    clock.tick(minutes=5)
    before = demo.row_version()
    demo.delete_payment(pay_id)
    demo.delete_reception(rid)
    con = sqlite3.connect(demo.path)
    con.execute("DELETE FROM Patients WHERE ID_Persons = 5")  # any writer is logged too
    con.commit()
    rows = con.execute(
        "SELECT TableName, RowID, RowVersion, DateTimeDeleted FROM DeletedRows ORDER BY ID"
    ).fetchall()
    con.close()
    assert [(t, r) for t, r, _, _ in rows] == [
        ("PaymentsIn", pay_id),
        ("Receptions", rid),
        ("Patients", 5),
    ]
    assert [v for _, _, v, _ in rows] == [before + 1, before + 2, before + 3]
    assert rows[0][3] == rows[1][3] == "2024-05-15 08:35:00"
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", rows[2][3])
    with pytest.raises(KeyError):
        demo.reception(rid)


# --------------------------------------------------------------------------- API


def test_book_move_and_conflicts(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, clock = clinic
    staff_id = demo.doctors()[1][0]
    day = datetime(2024, 6, 3, 12, 0)
    rid = demo.book(1, staff_id, day, 60, services=["Консультация хирурга", "Анестезия"])
    row = demo.reception(rid)
    assert row["PlanStart"] == "2024-06-03 12:00:00" and row["PlanEnd"] == "2024-06-03 13:00:00"
    assert row["Services"] == "Консультация хирурга, Анестезия"
    assert row["DateTimeAdded"] == row["DateTimeChanged"] == "2024-05-15 08:30:00"
    assert row["ID_Armchairs"] is not None and row["status"] == "scheduled"
    with pytest.raises(BookingConflict):
        demo.book(2, staff_id, day + timedelta(minutes=30), 30)
    other = demo.book(2, staff_id, day + timedelta(hours=1), 30)  # back to back is fine
    with pytest.raises(BookingConflict):
        demo.move(other, day - timedelta(minutes=15))
    # Mark it reminded, then move it: the reminder no longer holds.
    con = sqlite3.connect(demo.path)
    con.execute("UPDATE Receptions SET IsNotified = 1, DateTimeNotified = '2024-05-15 08:00:00'")
    con.commit()
    con.close()
    clock.tick(minutes=10)
    demo.move(rid, datetime(2024, 6, 4, 15, 0))
    moved = demo.reception(rid)
    assert (moved["PlanStart"], moved["PlanEnd"]) == ("2024-06-04 15:00:00", "2024-06-04 16:00:00")
    assert moved["IsNotified"] == 0 and moved["DateTimeNotified"] is None
    assert moved["DateTimeChanged"] == "2024-05-15 08:40:00"
    other_doctor = demo.doctors()[0][0]
    demo.move(rid, datetime(2024, 6, 4, 15, 0), staff_id=other_doctor, minutes=90)
    moved = demo.reception(rid)
    assert moved["ID_Staffs"] == other_doctor and moved["PlanEnd"] == "2024-06-04 16:30:00"
    # A cancelled visit frees the slot.
    demo.cancel(other)
    demo.book(3, staff_id, day + timedelta(hours=1), 30)
    with pytest.raises(KeyError):
        demo.book(999_999, staff_id, day, 30)


def test_visit_lifecycle(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, clock = clinic
    rid = demo.book(6, 1, datetime(2024, 5, 15, 12, 0), 30)
    clock.at = datetime(2024, 5, 15, 11, 55)
    demo.arrive(rid)
    row = demo.reception(rid)
    assert row["status"] == "arrived"
    assert row["PatientAppeared"] == row["ReceptionStarted"] == "2024-05-15 11:55:00"
    with pytest.raises(ValueError):
        demo.move(rid, datetime(2024, 5, 16, 12, 0))
    clock.at = datetime(2024, 5, 15, 12, 31)
    demo.complete(rid)
    row = demo.reception(rid)
    assert row["status"] == "completed"
    assert (
        row["ReceptionEnded"]
        == row["CheckIssued"]
        == row["DateTimeChanged"]
        == "2024-05-15 12:31:00"
    )
    with pytest.raises(ValueError):
        demo.cancel(rid)


def test_cancel(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    rid = demo.book(6, 1, datetime(2024, 5, 30, 12, 0), 30)
    demo.cancel(rid, reason_id=2, comment="Уехал в командировку")
    row = demo.reception(rid)
    assert row["status"] == "cancelled"
    assert row["ReceptionCanceled"] == "2024-05-15 08:30:00"
    assert (row["ID_ReceptionCancelReasons"], row["CancelReasonComment"]) == (
        2,
        "Уехал в командировку",
    )
    with pytest.raises(ValueError):
        demo.cancel(rid)
    with pytest.raises(ValueError):
        demo.arrive(rid)
    assert (2, "Не может прийти (работа, дела)") in demo.cancel_reasons()


def test_payments_and_refunds(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    anna = persona("anna").patient_id
    before = len(demo.payments(anna))
    card = demo.pay(anna, Decimal("4500.50"), method="card")
    bonus = demo.pay(anna, "300", method="bonus", at=datetime(2024, 5, 14, 18, 0))
    cash = demo.pay(anna, 2000)
    rows = {p["ID"]: p for p in demo.payments(anna)}
    assert len(rows) == before + 3
    assert rows[card]["Payment"] == Decimal("4500.50") and rows[card]["ID_CashDescs"] == 2
    assert (
        rows[bonus]["ID_CashDescs"] == 3 and rows[bonus]["DateTimePayment"] == "2024-05-14 18:00:00"
    )
    assert rows[bonus]["DatePayment"] == "2024-05-14"
    assert rows[bonus]["DateTimeAdded"] == "2024-05-15 08:30:00"
    assert rows[cash]["ID_CashDescs"] == 1
    with pytest.raises(ValueError):
        demo.pay(anna, "0")
    with pytest.raises(ValueError):
        demo.pay(anna, "10", method="crypto")
    with pytest.raises(ValueError):
        demo.pay(anna, "10", reception_id=demo.receptions(2)[0]["ID"])
    part = demo.refund(card, "500.50")
    rest = demo.refund(card)
    with pytest.raises(ValueError):
        demo.refund(card, "1")
    con = sqlite3.connect(demo.path)
    refunds = con.execute(
        "SELECT ID, Payment, ID_PaymentsIn, ID_Patients FROM PaymentsOut WHERE ID IN (?, ?)"
        " ORDER BY ID",
        (part, rest),
    ).fetchall()
    con.close()
    assert [(Decimal(str(r[1])), r[2], r[3]) for r in refunds] == [
        (Decimal("500.5"), card, anna),
        (Decimal("4000"), card, anna),
    ]
    assert {p["ID"]: p["refunded"] for p in demo.payments(anna)}[card] == Decimal("4500.50")


def test_patients(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, clock = clinic
    family = demo.create_family(persona("family").patient_id)
    assert family != 1  # the persona family keeps id 1; this one is new
    pid = demo.add_patient(
        "Сидорова", "Алиса", "Олеговна", date(2015, 5, 17), "89990001122", family
    )
    row = demo.patient(pid)
    assert row["Sex"] == C.SEX_FEMALE and row["Birthday"] == "17.05.2015"
    assert row["ConformToSending"] == 1 and row["SMSRejection"] == 0 and row["Status"] == 0
    assert row["ID_Families"] == family and row["CardNumber"].endswith("/24")
    assert row["DateTimeChanged"] == "2024-05-15 08:30:00"
    assert demo.add_patient("Ли", "Вэй", None, date(1990, 1, 1), None, sex=C.SEX_MALE) > pid
    clock.tick(hours=1)
    version = row["RowVersion"]
    demo.change_phone(pid, "+7 999 000-11-22")
    row = demo.patient(pid)
    assert row["MobilePhone"] == "+7 999 000-11-22"
    assert row["RowVersion"] > version and row["DateTimeChanged"] == "2024-05-15 09:30:00"
    demo.set_messaging(pid, False)
    row = demo.patient(pid)
    assert (row["ConformToSending"], row["SMSRejection"]) == (0, 1)
    demo.set_messaging(pid, True)
    row = demo.patient(pid)
    assert (row["ConformToSending"], row["SMSRejection"]) == (1, 0)
    demo.set_archived(pid)
    assert demo.patient(pid)["Status"] == C.PATIENT_ARCHIVED
    with pytest.raises(KeyError):
        demo.patient(999_999)
    assert demo.patient(persona("twophones").patient_id)["OwnPhones"] == []


def test_doctors_list(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    doctors = demo.doctors()
    assert len(doctors) == 10
    assert doctors[0][2] == "Стоматолог-терапевт"
    assert all(len(name.split()) == 3 for _, name, _ in doctors)
    assert {spec for _, _, spec in doctors} == {s.item_name for s in C.SPECIALTIES}


# --------------------------------------------------------------------------- simulator


def test_simulator_runs_a_clinic_day(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    start = datetime(2024, 5, 15, 7, 0)
    sim = ClinicSimulator(demo, seed=5, start=start)
    version = demo.row_version()
    actions = sim.step(start + timedelta(hours=6))
    actions += sim.step(start + timedelta(hours=24))
    assert demo.now() == start + timedelta(hours=24)
    kinds = Counter(a.split(" ", 3)[2] for a in actions)
    for kind in ("booked", "moved", "cancelled", "arrived", "completed", "payment"):
        assert kinds[kind] > 0, (kind, kinds)
    times = [a[:16] for a in actions]
    assert times == sorted(times)
    assert all("2024-05-15 07:00" < t <= "2024-05-16 07:00" for t in times)
    con = demo.connect()
    try:
        assert overlaps(con) == 0
        changed = con.execute(
            "SELECT MIN(DateTimeChanged), MAX(DateTimeChanged) FROM Receptions WHERE RowVersion > ?",
            (version,),
        ).fetchone()
        assert "2024-05-15 07:00:00" < changed[0] <= changed[1] <= "2024-05-16 07:00:00"
        # Every visit of the simulated day was dealt with: none still "scheduled" after its
        # end except no-shows, and every arrival was completed after its end.
        open_visits = con.execute(
            "SELECT COUNT(*) FROM Receptions WHERE PlanEnd < '2024-05-16 06:00:00'"
            " AND PlanStart >= '2024-05-15' AND PatientAppeared IS NOT NULL AND CheckIssued IS NULL"
        ).fetchone()[0]
        assert open_visits == 0
        paid = con.execute(
            "SELECT COUNT(*) FROM PaymentsIn WHERE RowVersion > ?", (version,)
        ).fetchone()[0]
        assert paid > 0
    finally:
        con.close()
    assert sim.step(start) == []  # time never runs backwards


def test_simulator_keeps_persona_visits(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    sim = ClinicSimulator(demo, seed=11, start=NOW)
    for hour in range(1, 48):
        sim.step(NOW + timedelta(hours=hour))  # small steps must not double-handle visits
    anna = demo.receptions(persona("anna").patient_id)
    assert [r["status"] for r in anna] == ["completed", "completed"]
    assert len(demo.payments(persona("anna").patient_id)) >= 2
    upcoming = demo.receptions(persona("nomsg").patient_id)
    assert [r["status"] for r in upcoming] == ["scheduled"]
    con = demo.connect()
    try:
        assert overlaps(con) == 0
        arrived_twice = con.execute(
            "SELECT COUNT(*) FROM Receptions WHERE PatientAppeared > ReceptionEnded"
        ).fetchone()[0]
        assert arrived_twice == 0
    finally:
        con.close()


def test_simulator_thread_follows_speed(clinic: tuple[DemoClinic, FakeClock]) -> None:
    demo, _ = clinic
    sim = ClinicSimulator(demo, seed=2, speed=3600.0, start=datetime(2024, 5, 15, 9, 0))
    stop = threading.Event()
    seen: list[str] = []
    thread = sim.run_in_thread(stop, tick=0.1, on_actions=seen.extend)
    time.sleep(1.5)
    live = demo.now()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert datetime(2024, 5, 15, 9, 30) < live
    assert datetime(2024, 5, 15, 10, 0) < sim.now < datetime(2024, 5, 15, 12, 0)
    assert seen


# --------------------------------------------------------------------------- CLI and scale


def test_cli_build_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.sqlite3"
    assert (
        cli_main(["build", str(path), "--patients", "40", "--seed", "3", "--today", "2024-05-15"])
        == 0
    )
    assert cli_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Patients: 47" in out and "persona anna: patient 1" in out
    assert cli_main(["simulate", str(path), "--speed", "36000", "--duration", "1.5"]) == 0
    assert re.search(r"^2024-05-15 \d\d:\d\d ", capsys.readouterr().out, re.M)
