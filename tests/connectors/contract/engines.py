"""Test-side MIS adapters: an MIS-shaped database on a real engine, and a writer that
changes it the way the MIS's own application would (Kabinet itself never writes there).

  ident       IDENT's tables in a fresh PostgreSQL database, read by the ident profile's
              T-SQL transpiled to PostgreSQL, through pyodbc and "PostgreSQL Unicode"
  infodent    Инфодент's tables in a fresh Firebird database (fdb, as SYSDBA)
  opendental  Open Dental's tables in a fresh MariaDB database
  demo        the demo clinic (SQLite), read by the ident profile's T-SQL transpiled

Each engine gets its own read-only account, as docs/mis-access.md tells clinic IT to make,
with a password, so the tests see both the grants and the redaction at work. The MIS
server's clock is in Yekaterinburg (UTC+5) while the clinic is in Moscow (UTC+3).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest

from core.config import Config
from tests.conftest import make_config

SCHEMAS = Path(__file__).resolve().parent / "schemas"
MIS_TZ = ZoneInfo("Asia/Yekaterinburg")
RO_PASSWORD = "Ro-s3cret-7781"


def mis_now() -> datetime:
    """The MIS server's clock: naive Yekaterinburg time, to the second."""
    return datetime.now(MIS_TZ).replace(tzinfo=None, microsecond=0)


class Writer(Protocol):
    """What the clinic's staff do in the MIS. Ids are returned as text, as Kabinet sees them."""

    def add_doctor(self, last: str, first: str, middle: str) -> str: ...

    def add_patient(
        self, last: str, first: str, middle: str, phone: str, birthday: date
    ) -> str: ...

    def book(self, patient: str, doctor: str, start: datetime, minutes: int = 30) -> str: ...

    def move(
        self, visit: str, start: datetime | None = None, doctor: str | None = None
    ) -> None: ...

    def cancel(self, visit: str) -> None: ...

    def rebook(self, visit: str) -> str:
        """Book the cancelled visit again: the same row where the MIS keeps cancelled rows."""
        ...

    def arrive(self, visit: str) -> None: ...

    def complete(self, visit: str) -> None: ...

    def pay(self, patient: str, amount: str, visit: str | None) -> str: ...

    def refund(self, payment: str) -> None: ...

    def delete_payment(self, payment: str) -> None: ...

    def delete_visit(self, visit: str) -> None: ...

    def change_phone(self, patient: str, phone: str) -> None: ...

    def refuse_messages(self, patient: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class MisEngine:
    profile: str
    dsn: str
    password: str
    writer_factory: Callable[[], Writer]
    # entity names of the profile's window re-reads (made immediate in tests)
    window_entities: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def sections(
        self, tmp_path: Path, overrides: str = "", **mis: Any
    ) -> dict[str, dict[str, Any]]:
        """Configuration sections for this MIS; `overrides` is extra TOML for
        mis.profile_overrides (window re-reads are made immediate in any case)."""
        path = tmp_path / f"{self.profile}-overrides-{secrets.token_hex(3)}.toml"
        immediate = "".join(f"[entity.{e}]\nreread_seconds = 0\n" for e in self.window_entities)
        path.write_text(immediate + overrides, encoding="utf-8")
        return {
            "clinic": {"name": "Тестовая клиника", "timezone": "Europe/Moscow"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "telegram": {"mode": "off"},
            "mis": {
                "profile": self.profile,
                "dsn": self.dsn,
                "password": self.password,
                "timezone": "Asia/Yekaterinburg",
                "profile_overrides": str(path),
                "query_timeout_seconds": 10,
                **mis,
            },
        }

    def config(self, tmp_path: Path, overrides: str = "", **mis: Any) -> Config:
        sections = self.sections(tmp_path, overrides, **mis)
        return make_config(tmp_path, **sections)


def _skip(engine: str, why: str) -> None:
    pytest.skip(f"{engine}: {why} (run scripts/services.sh and source var/test-services.env)")


def _env(engine: str, *names: str) -> list[str]:
    values = [os.environ.get(n, "") for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        _skip(engine, f"{', '.join(missing)} not set")
    return values


def _statements(script: str) -> list[str]:
    text = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", text) if s.strip()]


# --- IDENT on PostgreSQL -------------------------------------------------------------------


@contextmanager
def ident_postgres() -> Iterator[MisEngine]:
    import psycopg2

    dsn, odbc = _env("ident/PostgreSQL", "KABINET_TEST_PG_DSN", "KABINET_TEST_PG_ODBC")
    suffix = secrets.token_hex(4)
    db, role = f"kabinet_ident_{suffix}", f"kabinet_ro_{suffix}"
    try:
        admin = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error as exc:
        _skip("ident/PostgreSQL", f"cannot connect to {dsn}: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (RO_PASSWORD,))
    mis_dsn = re.sub(r"(?i)dbname=\w+|/\w+$", "", dsn)
    mis_dsn = f"{dsn.rsplit('/', 1)[0]}/{db}" if "://" in dsn else f"{mis_dsn} dbname={db}"
    conn = psycopg2.connect(mis_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute((SCHEMAS / "ident_postgres.sql").read_text())
        # docs/mis-access.md: the read-only account for the tests' PostgreSQL stand-in.
        cur.execute(f"GRANT CONNECT ON DATABASE {db} TO {role}")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        cur.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
    conn.close()
    odbc_dsn = re.sub(r"(?i)DATABASE=[^;]*", f"DATABASE={db}", odbc)
    odbc_dsn = re.sub(r"(?i)UID=[^;]*", f"UID={role}", odbc_dsn)
    odbc_dsn = re.sub(r"(?i);?PWD=[^;]*", "", odbc_dsn)
    engine = MisEngine(
        "ident",
        odbc_dsn,
        RO_PASSWORD,
        lambda: IdentPostgresWriter(mis_dsn),
        ("appointment_window", "payment_window"),
        {"admin_dsn": mis_dsn, "role": role},
    )
    try:
        yield engine
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (db,),
            )
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


class IdentPostgresWriter:
    """IDENT's own application, as far as these tables go."""

    def __init__(self, dsn: str) -> None:
        import psycopg2

        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def _one(self, sql: str, *params: Any) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone() if cur.description else None
        return row[0] if row else None

    def add_doctor(self, last: str, first: str, middle: str) -> str:
        person = self._one(
            "INSERT INTO Persons (Surname, Name, Patronymic) VALUES (%s, %s, %s) RETURNING ID",
            last,
            first,
            middle,
        )
        return str(
            self._one(
                "INSERT INTO Staffs (ID_Persons, ID_Items, DateTimeChanged) VALUES (%s, 1, %s)"
                " RETURNING ID",
                person,
                mis_now(),
            )
        )

    def add_patient(self, last: str, first: str, middle: str, phone: str, birthday: date) -> str:
        person = self._one(
            "INSERT INTO Persons (Surname, Name, Patronymic, Birthday, MobilePhone)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING ID",
            last,
            first,
            middle,
            birthday.strftime("%d.%m.%Y"),
            phone,
        )
        self._one(
            "INSERT INTO Patients (ID_Persons, PatientNumber, DateTimeChanged) VALUES (%s, %s, %s)",
            person,
            person,
            mis_now(),
        )
        return str(person)

    def book(self, patient: str, doctor: str, start: datetime, minutes: int = 30) -> str:
        now = mis_now()
        return str(
            self._one(
                "INSERT INTO Receptions (ID_Patients, ID_Staffs, ID_Armchairs, PlanStart, PlanEnd,"
                " DateTimeAdded, DateTimeChanged) VALUES (%s, %s, 1, %s, %s, %s, %s) RETURNING ID",
                int(patient),
                int(doctor),
                start,
                start + timedelta(minutes=minutes),
                now,
                now,
            )
        )

    def move(self, visit: str, start: datetime | None = None, doctor: str | None = None) -> None:
        if start is not None:
            self._one(
                "UPDATE Receptions SET PlanEnd = %s + (PlanEnd - PlanStart), PlanStart = %s,"
                " DateTimeChanged = %s WHERE ID = %s",
                start,
                start,
                mis_now(),
                int(visit),
            )
        if doctor is not None:
            self._one(
                "UPDATE Receptions SET ID_Staffs = %s, DateTimeChanged = %s WHERE ID = %s",
                int(doctor),
                mis_now(),
                int(visit),
            )

    def cancel(self, visit: str) -> None:
        self._one(
            "UPDATE Receptions SET ReceptionCanceled = %s, ID_ReceptionCancelReasons = 1,"
            " DateTimeChanged = %s WHERE ID = %s",
            mis_now(),
            mis_now(),
            int(visit),
        )

    def rebook(self, visit: str) -> str:
        self._one(
            "UPDATE Receptions SET ReceptionCanceled = NULL, ID_ReceptionCancelReasons = NULL,"
            " DateTimeChanged = %s WHERE ID = %s",
            mis_now(),
            int(visit),
        )
        return visit

    def arrive(self, visit: str) -> None:
        self._one(
            "UPDATE Receptions SET PatientAppeared = %s, ReceptionStarted = %s WHERE ID = %s",
            mis_now(),
            mis_now(),
            int(visit),
        )

    def complete(self, visit: str) -> None:
        self._one(
            "UPDATE Receptions SET ReceptionEnded = %s, CheckIssued = %s WHERE ID = %s",
            mis_now(),
            mis_now(),
            int(visit),
        )

    def pay(self, patient: str, amount: str, visit: str | None) -> str:
        now = mis_now()
        return str(
            self._one(
                "INSERT INTO PaymentsIn (DateTimePayment, DatePayment, ID_Patients, Payment,"
                " ID_CashDescs, ID_Receptions, DateTimeAdded) VALUES (%s, %s, %s, %s, 1, %s, %s)"
                " RETURNING ID",
                now,
                now.date(),
                int(patient),
                Decimal(amount),
                int(visit) if visit else None,
                now,
            )
        )

    def refund(self, payment: str) -> None:
        self._one(
            "INSERT INTO PaymentsOut (DateTimePayment, ID_Patients, Payment, ID_PaymentsIn)"
            " SELECT %s, ID_Patients, Payment, ID FROM PaymentsIn WHERE ID = %s",
            mis_now(),
            int(payment),
        )

    def delete_payment(self, payment: str) -> None:
        self._one("DELETE FROM PaymentsIn WHERE ID = %s", int(payment))

    def delete_visit(self, visit: str) -> None:
        self._one("DELETE FROM Receptions WHERE ID = %s", int(visit))

    def change_phone(self, patient: str, phone: str) -> None:
        # IDENT keeps phones on Persons, which has no change stamp: the patient's row is
        # touched too (what the demo clinic assumes of IDENT; verify on a real install).
        self._one("UPDATE Persons SET MobilePhone = %s WHERE ID = %s", phone, int(patient))
        self._one(
            "UPDATE Patients SET DateTimeChanged = %s WHERE ID_Persons = %s",
            mis_now(),
            int(patient),
        )

    def refuse_messages(self, patient: str) -> None:
        self._one(
            "UPDATE Patients SET ConformToSending = 0, SMSRejection = 1, DateTimeChanged = %s"
            " WHERE ID_Persons = %s",
            mis_now(),
            int(patient),
        )

    def close(self) -> None:
        self.conn.close()


# --- Open Dental on MariaDB ----------------------------------------------------------------


def _mariadb_admin(dsn: str) -> Any:
    import pymysql

    from connectors.drivers import parse_url_dsn

    url = parse_url_dsn(dsn, "mysql", "mysql://root@127.0.0.1:3306/test")
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.user,
        password=url.password,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=5,
    ), url


@contextmanager
def opendental_mariadb() -> Iterator[MisEngine]:
    import pymysql

    (dsn,) = _env("opendental/MariaDB", "KABINET_TEST_MARIADB_DSN")
    suffix = secrets.token_hex(4)
    db, user = f"kabinet_od_{suffix}", f"kabinet_ro_{suffix}"
    try:
        admin, url = _mariadb_admin(dsn)
    except pymysql.Error as exc:
        _skip("opendental/MariaDB", f"cannot connect to {dsn}: {exc}")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
        cur.execute(f"USE {db}")
        for statement in _statements((SCHEMAS / "opendental_mariadb.sql").read_text()):
            cur.execute(statement)
        # docs/mis-access.md: a read-only account.
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (RO_PASSWORD,))
        cur.execute(f"GRANT SELECT ON {db}.* TO '{user}'@'%'")
    host = f"{url.host}:{url.port or 3306}"
    engine = MisEngine(
        "opendental",
        f"mysql://{user}@{host}/{db}",
        RO_PASSWORD,
        lambda: OpenDentalWriter(dsn, db),
        ("payment_split_window",),
        {"admin_dsn": dsn, "db": db, "user": user},
    )
    try:
        yield engine
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


class OpenDentalWriter:
    """Open Dental's own application: a histappointment row for every appointment change.

    Dates and times come from the clinic's clock (mis_now), never the server's CURDATE()
    or NOW(): a test that freezes the clock must move the MIS's dates with it, or a payment
    dated by the real server lands at the edge of a window computed from the frozen one.
    """

    def __init__(self, admin_dsn: str, db: str) -> None:
        self.conn, _ = _mariadb_admin(admin_dsn)
        with self.conn.cursor() as cur:
            cur.execute(f"USE {db}")
        self.cash = self._one(
            "SELECT DefNum FROM definition WHERE Category = 10 AND ItemName = 'Cash'"
        )
        self.general = self._one(
            "SELECT DefNum FROM definition WHERE Category = 35 AND ItemName = 'General'"
        )

    def _one(self, sql: str, *params: Any) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            if sql.lstrip().upper().startswith("INSERT"):
                return cur.lastrowid
            row = cur.fetchone()
        return row[0] if row else None

    def _hist(self, visit: str, action: int, at: datetime | None = None) -> None:
        # The appointment as it is after the change, stamped with the clinic's clock
        # (HistAppointments.CreateHistoryEntry); action 0 Created, 1 Changed, 2 Missed,
        # 3 Cancelled, 4 Deleted.
        self._one(
            "INSERT INTO histappointment (HistDateTStamp, HistApptAction, AptNum, PatNum,"
            " AptStatus, Pattern, Confirmed, ProvNum, AptDateTime, ClinicNum, DateTimeArrived)"
            " SELECT %s, %s, AptNum, PatNum, AptStatus, Pattern, Confirmed, ProvNum,"
            " AptDateTime, ClinicNum, DateTimeArrived FROM appointment WHERE AptNum = %s",
            at or mis_now(),
            action,
            int(visit),
        )

    def add_doctor(self, last: str, first: str, middle: str) -> str:
        return str(
            self._one(
                "INSERT INTO provider (Abbr, LName, FName, MI, Specialty) VALUES (%s, %s, %s, %s, %s)",
                (last[:3] + first[:1]).upper(),
                last,
                first,
                middle,
                self.general,
            )
        )

    def add_patient(self, last: str, first: str, middle: str, phone: str, birthday: date) -> str:
        # Open Dental's phone fields are varchar(30): a second number goes to HmPhone.
        mobile, _, home = (p.strip() for p in phone.partition(","))
        num = self._one(
            "INSERT INTO patient (LName, FName, MiddleI, Birthdate, WirelessPhone, HmPhone,"
            " TxtMsgOk, SecDateEntry) VALUES (%s, %s, %s, %s, %s, %s, 1, %s)",
            last,
            first,
            middle,
            birthday,
            mobile,
            home,
            mis_now().date(),
        )
        # Open Dental makes a new patient the guarantor of their own family.
        self._one("UPDATE patient SET Guarantor = PatNum WHERE PatNum = %s", num)
        return str(num)

    def book(self, patient: str, doctor: str, start: datetime, minutes: int = 30) -> str:
        num = self._one(
            "INSERT INTO appointment (PatNum, AptStatus, Pattern, ProvNum, AptDateTime,"
            " SecDateTEntry) VALUES (%s, 1, %s, %s, %s, %s)",
            int(patient),
            "X" * (minutes // 5),
            int(doctor),
            start,
            mis_now(),
        )
        self._hist(str(num), 0)
        return str(num)

    def move(self, visit: str, start: datetime | None = None, doctor: str | None = None) -> None:
        if start is not None:
            self._one(
                "UPDATE appointment SET AptDateTime = %s WHERE AptNum = %s", start, int(visit)
            )
        if doctor is not None:
            self._one(
                "UPDATE appointment SET ProvNum = %s WHERE AptNum = %s", int(doctor), int(visit)
            )
        self._hist(visit, 1)

    def cancel(self, visit: str) -> None:
        # Taken off the book onto the Unscheduled List.
        self._one("UPDATE appointment SET AptStatus = 3 WHERE AptNum = %s", int(visit))
        self._hist(visit, 1)

    def rebook(self, visit: str) -> str:
        self._one("UPDATE appointment SET AptStatus = 1 WHERE AptNum = %s", int(visit))
        self._hist(visit, 1)
        return visit

    def arrive(self, visit: str) -> None:
        self._one(
            "UPDATE appointment SET DateTimeArrived = %s WHERE AptNum = %s", mis_now(), int(visit)
        )
        self._hist(visit, 1)

    def complete(self, visit: str) -> None:
        patient, provider = self._row(
            "SELECT PatNum, ProvNum FROM appointment WHERE AptNum = %s", visit
        )
        self._one(
            "INSERT INTO procedurelog (PatNum, AptNum, ProcDate, ProcFee, ProcStatus, ProvNum,"
            " CodeNum) VALUES (%s, %s, %s, 2500, 2, %s, 1)",
            patient,
            int(visit),
            mis_now().date(),
            provider,
        )
        self._one(
            "UPDATE appointment SET AptStatus = 2, DateTimeDismissed = %s WHERE AptNum = %s",
            mis_now(),
            int(visit),
        )
        self._hist(visit, 1)

    def _row(self, sql: str, *params: Any) -> tuple[Any, ...]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        assert row is not None
        return tuple(row)

    def pay(self, patient: str, amount: str, visit: str | None) -> str:
        proc = (
            self._one("SELECT MIN(ProcNum) FROM procedurelog WHERE AptNum = %s", int(visit)) or 0
            if visit
            else 0
        )
        today = mis_now().date()
        num = self._one(
            "INSERT INTO payment (PayType, PayDate, PayAmt, PatNum, DateEntry)"
            " VALUES (%s, %s, %s, %s, %s)",
            self.cash,
            today,
            float(amount),
            int(patient),
            today,
        )
        self._one(
            "INSERT INTO paysplit (SplitAmt, PatNum, PayNum, DatePay, ProcNum, DateEntry)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            float(amount),
            int(patient),
            num,
            today,
            proc,
            today,
        )
        return str(num)

    def refund(self, payment: str) -> None:
        patient, amount, proc = self._row(
            "SELECT p.PatNum, p.PayAmt, s.ProcNum FROM payment p"
            " JOIN paysplit s ON s.PayNum = p.PayNum WHERE p.PayNum = %s",
            payment,
        )
        today = mis_now().date()
        num = self._one(
            "INSERT INTO payment (PayType, PayDate, PayAmt, PatNum, DateEntry, PayNote)"
            " VALUES (%s, %s, %s, %s, %s, 'refund')",
            self.cash,
            today,
            -amount,
            patient,
            today,
        )
        self._one(
            "INSERT INTO paysplit (SplitAmt, PatNum, PayNum, DatePay, ProcNum, DateEntry)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            -amount,
            patient,
            num,
            today,
            proc,
            today,
        )

    def delete_payment(self, payment: str) -> None:
        self._one("DELETE FROM paysplit WHERE PayNum = %s", int(payment))
        self._one("DELETE FROM payment WHERE PayNum = %s", int(payment))

    def delete_visit(self, visit: str) -> None:
        self._hist(visit, 4)
        self._one("DELETE FROM appointment WHERE AptNum = %s", int(visit))

    def change_phone(self, patient: str, phone: str) -> None:
        self._one("UPDATE patient SET WirelessPhone = %s WHERE PatNum = %s", phone, int(patient))

    def refuse_messages(self, patient: str) -> None:
        self._one("UPDATE patient SET TxtMsgOk = 2 WHERE PatNum = %s", int(patient))

    def close(self) -> None:
        self.conn.close()


# --- Инфодент on Firebird ------------------------------------------------------------------


def _fb_env() -> tuple[str, int, str, str, str]:
    host, port, user, password, directory = _env(
        "infodent/Firebird",
        "KABINET_TEST_FIREBIRD_HOST",
        "KABINET_TEST_FIREBIRD_PORT",
        "KABINET_TEST_FIREBIRD_USER",
        "KABINET_TEST_FIREBIRD_PASSWORD",
        "KABINET_TEST_FIREBIRD_DIR",
    )
    return host, int(port), user, password, directory


@contextmanager
def infodent_firebird() -> Iterator[MisEngine]:
    import fdb

    host, port, user, password, directory = _fb_env()
    suffix = secrets.token_hex(4)
    path = f"{directory}/kabinet_infodent_{suffix}.fdb"
    ro_user = f"KABINET_RO_{suffix.upper()}"
    try:
        conn = fdb.create_database(
            f"CREATE DATABASE '{host}/{port}:{path}' USER '{user}' PASSWORD '{password}'"
            " DEFAULT CHARACTER SET WIN1251",
            charset="UTF8",
        )
    except fdb.DatabaseError as exc:
        _skip("infodent/Firebird", f"cannot create a database in {directory}: {exc}")
    cur = conn.cursor()
    for statement in _statements((SCHEMAS / "infodent_firebird.sql").read_text()):
        cur.execute(statement)
        conn.commit()
    # docs/mis-access.md: a read-only user with SELECT on the tables Kabinet reads.
    cur.execute(f"CREATE USER {ro_user} PASSWORD '{RO_PASSWORD}'")
    conn.commit()
    for table in INFODENT_TABLES:
        cur.execute(f"GRANT SELECT ON {table} TO {ro_user}")
    conn.commit()
    conn.close()
    engine = MisEngine(
        "infodent",
        f"firebird://{ro_user}@{host}:{port}/{path}?charset=UTF8",
        RO_PASSWORD,
        lambda: InfodentWriter(host, port, path, user, password),
        ("appointment_window", "payment_window"),
        {
            "path": path,
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "ro_user": ro_user,
        },  # fmt: skip
    )
    try:
        yield engine
    finally:
        conn = fdb.connect(host=host, port=port, database=path, user=user, password=password)
        cur = conn.cursor()
        cur.execute(f"DROP USER {ro_user}")
        conn.commit()
        conn.drop_database()


INFODENT_TABLES = ("DEPARTMENTS", "DOCTOR", "CLIENTS", "SCHEDULE", "TREAT", "CLAVANS")


class InfodentWriter:
    """Инфодент's own application: it stamps MODIFYDATE with the workstation's clock, to the
    second, and deletes a cancelled appointment (the profile's assumptions)."""

    def __init__(self, host: str, port: int, path: str, user: str, password: str) -> None:
        import fdb

        self.conn = fdb.connect(
            host=host, port=port, database=path, user=user, password=password, charset="UTF8"
        )
        self._cancelled: dict[str, tuple[Any, ...]] = {}

    def _one(self, sql: str, *params: Any) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, params)
        row = (
            cur.fetchone()
            if "RETURNING" in sql.upper() or sql.lstrip().upper().startswith("SELECT")
            else None
        )
        self.conn.commit()
        return row[0] if row else None

    def add_doctor(self, last: str, first: str, middle: str) -> str:
        return str(
            self._one(
                "INSERT INTO DOCTOR (DCODE, FULLNAME, DEPNUM, MODIFYDATE)"
                " VALUES (NEXT VALUE FOR GEN_DOCTOR, ?, 1, ?) RETURNING DCODE",
                f"{last} {first} {middle}",
                mis_now(),
            )
        )

    def add_patient(self, last: str, first: str, middle: str, phone: str, birthday: date) -> str:
        return str(
            self._one(
                "INSERT INTO CLIENTS (PCODE, FULLNAME, BDATE, PHONE1, CREATEDATE, MODIFYDATE)"
                " VALUES (NEXT VALUE FOR GEN_CLIENTS, ?, ?, ?, ?, ?) RETURNING PCODE",
                f"{last} {first} {middle}",
                birthday,
                phone,
                mis_now(),
                mis_now(),
            )
        )

    def book(self, patient: str, doctor: str, start: datetime, minutes: int = 30) -> str:
        end = start + timedelta(minutes=minutes)
        return str(
            self._one(
                "INSERT INTO SCHEDULE (SCHEDID, PCODE, DCODE, FILIAL, WORKDATE, BHOUR, BMIN,"
                " FHOUR, FMIN, STATUS, CLVISIT, CREATEDATE, MODIFYDATE)"
                " VALUES (NEXT VALUE FOR GEN_SCHEDULE, ?, ?, 1, ?, ?, ?, ?, ?, 1, 0, ?, ?)"
                " RETURNING SCHEDID",
                int(patient),
                int(doctor),
                start.date(),
                start.hour,
                start.minute,
                end.hour,
                end.minute,
                mis_now(),
                mis_now(),
            )
        )

    def _visit(self, visit: str) -> tuple[Any, ...]:
        cur = self.conn.cursor()
        cur.execute(
            "SELECT PCODE, DCODE, WORKDATE, BHOUR, BMIN, FHOUR, FMIN FROM SCHEDULE WHERE SCHEDID = ?",
            (int(visit),),
        )
        row = cur.fetchone()
        self.conn.commit()
        assert row is not None, visit
        return tuple(row)

    def move(self, visit: str, start: datetime | None = None, doctor: str | None = None) -> None:
        _, dcode, day, bh, bm, fh, fm = self._visit(visit)
        if start is not None:
            minutes = (fh * 60 + fm) - (bh * 60 + bm)
            end = start + timedelta(minutes=minutes)
            day, bh, bm, fh, fm = start.date(), start.hour, start.minute, end.hour, end.minute
        self._one(
            "UPDATE SCHEDULE SET DCODE = ?, WORKDATE = ?, BHOUR = ?, BMIN = ?, FHOUR = ?, FMIN = ?,"
            " MODIFYDATE = ? WHERE SCHEDID = ?",
            int(doctor) if doctor else dcode,
            day,
            bh,
            bm,
            fh,
            fm,
            mis_now(),
            int(visit),
        )

    def cancel(self, visit: str) -> None:
        self._cancelled[visit] = self._visit(visit)
        self._one("DELETE FROM SCHEDULE WHERE SCHEDID = ?", int(visit))

    def rebook(self, visit: str) -> str:
        pcode, dcode, day, bh, bm, fh, fm = self._cancelled.pop(visit)
        start = datetime(day.year, day.month, day.day, bh, bm)
        return self.book(str(pcode), str(dcode), start, (fh * 60 + fm) - (bh * 60 + bm))

    def arrive(self, visit: str) -> None:
        self._one(
            "UPDATE SCHEDULE SET CLVISIT = 1, MODIFYDATE = ? WHERE SCHEDID = ?",
            mis_now(),
            int(visit),
        )

    def complete(self, visit: str) -> None:
        pcode, dcode, day, *_ = self._visit(visit)
        self._one(
            "INSERT INTO TREAT (TREATCODE, PCODE, DCODE, SCHEDID, TREATDATE, ORDERNO,"
            " AMOUNTJP_DISC) VALUES (NEXT VALUE FOR GEN_TREAT, ?, ?, ?, ?, ?, 2500)",
            pcode,
            dcode,
            int(visit),
            day,
            f"Z-{visit}",
        )

    def pay(self, patient: str, amount: str, visit: str | None) -> str:
        return str(
            self._one(
                "INSERT INTO CLAVANS (CLAVID, PCODE, AMOUNTRUB, PAYDATE, TYPEOPER, PAYFORM,"
                " SCHEDID) VALUES (NEXT VALUE FOR GEN_CLAVANS, ?, ?, ?, 1, 1, ?) RETURNING CLAVID",
                int(patient),
                Decimal(amount),
                mis_now(),
                int(visit) if visit else None,
            )
        )

    def refund(self, payment: str) -> None:
        self._one(
            "INSERT INTO CLAVANS (CLAVID, PCODE, AMOUNTRUB, PAYDATE, TYPEOPER, PAYFORM, REFID)"
            " SELECT NEXT VALUE FOR GEN_CLAVANS, PCODE, AMOUNTRUB, ?, 2, PAYFORM, CLAVID"
            " FROM CLAVANS WHERE CLAVID = ?",
            mis_now(),
            int(payment),
        )

    def delete_payment(self, payment: str) -> None:
        self._one("DELETE FROM CLAVANS WHERE CLAVID = ?", int(payment))

    def delete_visit(self, visit: str) -> None:
        self._one("DELETE FROM SCHEDULE WHERE SCHEDID = ?", int(visit))

    def change_phone(self, patient: str, phone: str) -> None:
        self._one(
            "UPDATE CLIENTS SET PHONE1 = ?, MODIFYDATE = ? WHERE PCODE = ?",
            phone,
            mis_now(),
            int(patient),
        )

    def refuse_messages(self, patient: str) -> None:
        self._one(
            "UPDATE CLIENTS SET NOSMS = 1, MODIFYDATE = ? WHERE PCODE = ?", mis_now(), int(patient)
        )

    def close(self) -> None:
        self.conn.close()


# --- the demo clinic (SQLite) --------------------------------------------------------------


@contextmanager
def demo_sqlite(directory: Path) -> Iterator[MisEngine]:
    from sandbox.demo_clinic import build_demo_clinic

    path = directory / "demo-clinic.sqlite3"
    build_demo_clinic(path, patients=20, seed=11, now=mis_now())
    yield MisEngine(
        "demo",
        str(path),
        "",
        lambda: DemoWriter(path),
        ("appointment_window", "payment_window"),
    )


class DemoWriter:
    def __init__(self, path: Path) -> None:
        from sandbox.demo_clinic import DemoClinic

        self.path = path
        self.clinic = DemoClinic(path, clock=mis_now)

    def _sql(self, sql: str, *params: Any) -> int:
        con = sqlite3.connect(self.path)
        try:
            cur = con.execute(sql, params)
            con.commit()
            return int(cur.lastrowid or 0)
        finally:
            con.close()

    def add_doctor(self, last: str, first: str, middle: str) -> str:
        person = self._sql(
            "INSERT INTO Persons (Surname, Name, Patronymic) VALUES (?, ?, ?)", last, first, middle
        )
        return str(
            self._sql(
                "INSERT INTO Staffs (ID_Persons, ID_Items, DateTimeChanged) VALUES (?, 1, ?)",
                person,
                str(mis_now()),
            )
        )

    def add_patient(self, last: str, first: str, middle: str, phone: str, birthday: date) -> str:
        return str(self.clinic.add_patient(last, first, middle, birthday, phone))

    def book(self, patient: str, doctor: str, start: datetime, minutes: int = 30) -> str:
        return str(self.clinic.book(int(patient), int(doctor), start, minutes=minutes))

    def move(self, visit: str, start: datetime | None = None, doctor: str | None = None) -> None:
        current = self.clinic.reception(int(visit))
        when = start or datetime.fromisoformat(current["PlanStart"])
        self.clinic.move(int(visit), when, staff_id=int(doctor) if doctor else None)

    def cancel(self, visit: str) -> None:
        self.clinic.cancel(int(visit), reason_id=1)

    def rebook(self, visit: str) -> str:
        self._sql(
            "UPDATE Receptions SET ReceptionCanceled = NULL, ID_ReceptionCancelReasons = NULL,"
            " DateTimeChanged = ? WHERE ID = ?",
            str(mis_now()),
            int(visit),
        )
        return visit

    def arrive(self, visit: str) -> None:
        self.clinic.arrive(int(visit))

    def complete(self, visit: str) -> None:
        self.clinic.complete(int(visit))

    def pay(self, patient: str, amount: str, visit: str | None) -> str:
        return str(
            self.clinic.pay(int(patient), amount, reception_id=int(visit) if visit else None)
        )

    def refund(self, payment: str) -> None:
        self.clinic.refund(int(payment))

    def delete_payment(self, payment: str) -> None:
        self.clinic.delete_payment(int(payment))

    def delete_visit(self, visit: str) -> None:
        self.clinic.delete_reception(int(visit))

    def change_phone(self, patient: str, phone: str) -> None:
        self.clinic.change_phone(int(patient), phone)

    def refuse_messages(self, patient: str) -> None:
        self.clinic.set_messaging(int(patient), False)

    def close(self) -> None:
        pass
