"""DemoClinic: what the clinic's staff do to the MIS, as one short transaction per call.

Every write stamps DateTimeChanged with the clinic's clock (the real one by default, the
simulator's when it drives the clinic) and, through the schema's triggers, takes a new
RowVersion, so a connector sees these edits exactly as it would see an administrator's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sandbox.demo_clinic.wallclock import clinic_now

from . import catalog as C
from .db import connect, fmt_birthday, fmt_dt, parse_dt
from .names import initials, sex_from_patronymic

_CENT = Decimal("0.01")


class BookingConflict(ValueError):
    """The doctor already has a (not cancelled) reception overlapping the requested time."""


def reception_status(row: sqlite3.Row | dict[str, Any], now: datetime) -> str:
    """Status by the rule integrators apply to IDENT's Receptions columns.

    cancelled: ReceptionCanceled or ID_ReceptionCancelReasons set; completed: ReceptionEnded
    or CheckIssued set; arrived: ReceptionStarted or PatientAppeared set; otherwise
    no_show once PlanEnd has passed, else scheduled.
    """
    if row["ReceptionCanceled"] is not None or row["ID_ReceptionCancelReasons"] is not None:
        return "cancelled"
    if row["ReceptionEnded"] is not None or row["CheckIssued"] is not None:
        return "completed"
    if row["ReceptionStarted"] is not None or row["PatientAppeared"] is not None:
        return "arrived"
    end = parse_dt(row["PlanEnd"])
    return "no_show" if end is not None and end < now else "scheduled"


def to_decimal(value: Any) -> Decimal:
    """Money as SQLite returns it (int, float or text) -> Decimal with two places."""
    return Decimal(str(value)).quantize(_CENT)


def _money_param(amount: Decimal) -> int | str:
    # Same storage as the generator: whole roubles as INTEGER, otherwise text that the
    # NUMERIC column turns into REAL.
    return int(amount) if amount == amount.to_integral_value() else f"{amount:.2f}"


class DemoClinic:
    """The demo clinic's database at `path`, operated as its staff would.

    `clock()` returns the clinic's current naive local time; it is a public attribute
    so the simulator can make the clinic live in simulated time.
    """

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no demo clinic at {self.path}; build one first")
        self.clock: Callable[[], datetime] = clock or clinic_now

    def __repr__(self) -> str:
        return f"DemoClinic({str(self.path)!r})"

    # -------------------------------------------------------------- plumbing

    def now(self) -> datetime:
        return self.clock().replace(microsecond=0)

    def connect(self) -> sqlite3.Connection:
        """A new connection (rows as sqlite3.Row) for reading; the caller closes it."""
        return connect(self.path)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = connect(self.path)
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        con = connect(self.path)
        try:
            return con.execute(sql, tuple(params)).fetchall()
        finally:
            con.close()

    # -------------------------------------------------------------- lookups

    def info(self) -> dict[str, str]:
        """The build parameters kept in DemoInfo (seed, today, now, sizes, clinic name)."""
        return {r["Key"]: r["Value"] for r in self._read("SELECT Key, Value FROM DemoInfo")}

    def row_version(self) -> int:
        """The database-wide RowVersion counter (the last value handed out)."""
        return int(self._read("SELECT Value FROM RowVersionCounter WHERE ID = 1")[0][0])

    def doctors(self) -> list[tuple[int, str, str]]:
        """Active doctors as (staff id, "Surname Name Patronymic", specialty item name)."""
        rows = self._read(
            """
            SELECT s.ID, p.Surname, p.Name, p.Patronymic, i.Name AS Specialty
            FROM Staffs s
            JOIN Persons p ON p.ID = s.ID_Persons
            JOIN Items i ON i.ID = s.ID_Items
            JOIN ProfessionNames pn ON pn.ID = i.ID_ProfessionNames
            WHERE pn.ID_Roles = ? AND s.Archive = 0
            ORDER BY s.ID
            """,
            (C.ROLE_DOCTOR,),
        )
        return [
            (
                r["ID"],
                " ".join(x for x in (r["Surname"], r["Name"], r["Patronymic"]) if x),
                r["Specialty"],
            )
            for r in rows
        ]

    def cancel_reasons(self) -> list[tuple[int, str]]:
        return [
            (r[0], r[1])
            for r in self._read("SELECT ID, Name FROM ReceptionCancelReasons ORDER BY ID")
        ]

    def patient(self, patient_id: int) -> dict[str, Any]:
        """Persons and Patients columns of one patient (IDENT names), plus "OwnPhones"
        (list of extra phone strings) and "Birthdate" (the Birthday text parsed)."""
        con = connect(self.path)
        try:
            row = con.execute(
                """
                SELECT p.ID, p.Surname, p.Name, p.Patronymic, p.Birthday, p.Sex, p.MobilePhone,
                       pt.PatientNumber, pt.CardNumber, pt.Status, pt.ConformToSending,
                       pt.SMSRejection, pt.FirstVisit, pt.Comment, pt.ID_Families,
                       pt.DateTimeChanged, pt.RowVersion
                FROM Patients pt JOIN Persons p ON p.ID = pt.ID_Persons
                WHERE pt.ID_Persons = ?
                """,
                (patient_id,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no patient {patient_id}")
            out = dict(row)
            out["OwnPhones"] = [
                r[0]
                for r in con.execute(
                    "SELECT Phone FROM OwnPhones WHERE ID_Persons = ? ORDER BY ID", (patient_id,)
                )
            ]
        finally:
            con.close()
        birthday = out["Birthday"]
        try:
            out["Birthdate"] = datetime.strptime(birthday, "%d.%m.%Y").date() if birthday else None
        except ValueError:
            out["Birthdate"] = None
        return out

    def receptions(self, patient_id: int) -> list[dict[str, Any]]:
        """All Receptions columns of a patient's receptions by PlanStart, plus "status"
        (scheduled / arrived / completed / cancelled / no_show as of the clock)."""
        now = self.now()
        rows = self._read(
            "SELECT * FROM Receptions WHERE ID_Patients = ? ORDER BY PlanStart, ID", (patient_id,)
        )
        return [dict(r, status=reception_status(r, now)) for r in rows]

    def reception(self, reception_id: int) -> dict[str, Any]:
        rows = self._read("SELECT * FROM Receptions WHERE ID = ?", (reception_id,))
        if not rows:
            raise KeyError(f"no reception {reception_id}")
        return dict(rows[0], status=reception_status(rows[0], self.now()))

    def payments(self, patient_id: int) -> list[dict[str, Any]]:
        """PaymentsIn rows of a patient, with "Payment" as Decimal and "refunded" the
        Decimal sum of PaymentsOut rows that name the payment."""
        rows = self._read(
            """
            SELECT pi.*, (SELECT TOTAL(po.Payment) FROM PaymentsOut po
                          WHERE po.ID_PaymentsIn = pi.ID) AS Refunded
            FROM PaymentsIn pi WHERE pi.ID_Patients = ? ORDER BY pi.DateTimePayment, pi.ID
            """,
            (patient_id,),
        )
        out = []
        for r in rows:
            d = dict(r)
            d["Payment"] = to_decimal(d["Payment"])
            d["refunded"] = to_decimal(d.pop("Refunded"))
            out.append(d)
        return out

    # -------------------------------------------------------------- schedule

    def book(
        self,
        patient_id: int,
        staff_id: int,
        start: datetime,
        minutes: int = 60,
        armchair_id: int | None = None,
        services: Iterable[str] | str | None = None,
        source_id: int = C.SOURCE_DESK,
    ) -> int:
        """Book a visit; BookingConflict if the doctor is busy then. Returns Receptions.ID."""
        if minutes <= 0:
            raise ValueError("minutes must be positive")
        start = start.replace(microsecond=0)
        end = start + timedelta(minutes=minutes)
        now = fmt_dt(self.now())
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM Patients WHERE ID_Persons = ?", patient_id, "patient")
            self._require(con, "SELECT 1 FROM Staffs WHERE ID = ?", staff_id, "staff member")
            self._check_free(con, staff_id, start, end)
            if armchair_id is None:
                armchair_id = self._default_armchair(con, staff_id)
            cur = con.execute(
                """
                INSERT INTO Receptions (ID_Patients, ID_Staffs, ID_Armchairs, PlanStart, PlanEnd,
                    IsNotified, NeedHandReminder, ID_AppointmentSources, Services,
                    DateTimeAdded, DateTimeChanged)
                VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)
                """,
                (
                    patient_id,
                    staff_id,
                    armchair_id,
                    fmt_dt(start),
                    fmt_dt(end),
                    source_id,
                    _services_text(services),
                    now,
                    now,
                ),
            )
            return int(cur.lastrowid or 0)

    def move(
        self,
        reception_id: int,
        new_start: datetime,
        staff_id: int | None = None,
        minutes: int | None = None,
    ) -> None:
        """Reschedule a not-yet-started visit, optionally to another doctor or length.
        The reminder flag is reset: a reminder sent for the old time no longer holds."""
        new_start = new_start.replace(microsecond=0)
        now = fmt_dt(self.now())
        with self._tx() as con:
            row = self._reception_row(con, reception_id)
            state = reception_status(row, datetime.min)
            if state in ("cancelled", "completed", "arrived"):
                raise ValueError(f"reception {reception_id} is {state}; cannot move it")
            old_start, old_end = parse_dt(row["PlanStart"]), parse_dt(row["PlanEnd"])
            assert old_start is not None and old_end is not None
            if minutes is None:
                minutes = int((old_end - old_start).total_seconds() // 60)
            if minutes <= 0:
                raise ValueError("minutes must be positive")
            new_staff = row["ID_Staffs"] if staff_id is None else staff_id
            new_end = new_start + timedelta(minutes=minutes)
            self._check_free(con, new_staff, new_start, new_end, exclude=reception_id)
            chair = row["ID_Armchairs"]
            if new_staff != row["ID_Staffs"]:
                self._require(con, "SELECT 1 FROM Staffs WHERE ID = ?", new_staff, "staff member")
                chair = self._default_armchair(con, new_staff)
            con.execute(
                """
                UPDATE Receptions SET PlanStart = ?, PlanEnd = ?, ID_Staffs = ?, ID_Armchairs = ?,
                    IsNotified = 0, DateTimeNotified = NULL, DateTimeChanged = ?
                WHERE ID = ?
                """,
                (fmt_dt(new_start), fmt_dt(new_end), new_staff, chair, now, reception_id),
            )

    def cancel(
        self, reception_id: int, reason_id: int | None = None, comment: str | None = None
    ) -> None:
        now = fmt_dt(self.now())
        with self._tx() as con:
            row = self._reception_row(con, reception_id)
            state = reception_status(row, datetime.min)
            if state in ("cancelled", "completed"):
                raise ValueError(f"reception {reception_id} is {state}; cannot cancel it")
            con.execute(
                """
                UPDATE Receptions SET ReceptionCanceled = ?, ID_ReceptionCancelReasons = ?,
                    CancelReasonComment = ?, DateTimeChanged = ?
                WHERE ID = ?
                """,
                (now, reason_id, comment, now, reception_id),
            )

    def arrive(self, reception_id: int) -> None:
        """The patient is at the desk and goes in: PatientAppeared and ReceptionStarted."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            row = self._reception_row(con, reception_id)
            if reception_status(row, datetime.min) == "cancelled":
                raise ValueError(f"reception {reception_id} is cancelled")
            con.execute(
                """
                UPDATE Receptions SET PatientAppeared = COALESCE(PatientAppeared, ?),
                    ReceptionStarted = COALESCE(ReceptionStarted, ?), DateTimeChanged = ?
                WHERE ID = ?
                """,
                (now, now, now, reception_id),
            )

    def complete(self, reception_id: int) -> None:
        """Treatment over and the check printed: ReceptionEnded and CheckIssued (and the
        arrival marks too, if the desk skipped them)."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            row = self._reception_row(con, reception_id)
            if reception_status(row, datetime.min) == "cancelled":
                raise ValueError(f"reception {reception_id} is cancelled")
            con.execute(
                """
                UPDATE Receptions SET PatientAppeared = COALESCE(PatientAppeared, ?),
                    ReceptionStarted = COALESCE(ReceptionStarted, ?),
                    ReceptionEnded = COALESCE(ReceptionEnded, ?),
                    CheckIssued = COALESCE(CheckIssued, ?), DateTimeChanged = ?
                WHERE ID = ?
                """,
                (now, now, now, now, now, reception_id),
            )

    def delete_reception(self, reception_id: int) -> None:
        """Delete a reception (a booking made by mistake). Payments that named it keep
        their money but lose the link, as a cashier's correction would leave them."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            self._reception_row(con, reception_id)
            con.execute(
                "UPDATE PaymentsIn SET ID_Receptions = NULL, DateTimeChanged = ? "
                "WHERE ID_Receptions = ?",
                (now, reception_id),
            )
            con.execute("DELETE FROM Receptions WHERE ID = ?", (reception_id,))
            _stamp_deletion(con, "Receptions", reception_id, now)

    # -------------------------------------------------------------- money

    def pay(
        self,
        patient_id: int,
        amount: Decimal | str | int,
        at: datetime | None = None,
        method: str = "cash",
        reception_id: int | None = None,
    ) -> int:
        """Take a payment ("cash", "card", "bonus" or "sbp"). Returns PaymentsIn.ID."""
        value = _amount(amount)
        try:
            cash_desc = C.METHOD_TO_CASH_DESC[method]
        except KeyError:
            raise ValueError(f"method must be one of {', '.join(C.METHOD_TO_CASH_DESC)}") from None
        now = self.now()
        when = (at or now).replace(microsecond=0)
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM Patients WHERE ID_Persons = ?", patient_id, "patient")
            if reception_id is not None:
                owner = con.execute(
                    "SELECT ID_Patients FROM Receptions WHERE ID = ?", (reception_id,)
                ).fetchone()
                if owner is None:
                    raise KeyError(f"no reception {reception_id}")
                if owner[0] != patient_id:
                    raise ValueError(f"reception {reception_id} is not patient {patient_id}'s")
            cur = con.execute(
                """
                INSERT INTO PaymentsIn (DateTimePayment, DatePayment, ID_Patients, Payment,
                    ID_CashDescs, ID_Receptions, DateTimeAdded, DateTimeChanged)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    fmt_dt(when),
                    when.date().isoformat(),
                    patient_id,
                    _money_param(value),
                    cash_desc,
                    reception_id,
                    fmt_dt(now),
                    fmt_dt(now),
                ),
            )
            return int(cur.lastrowid or 0)

    def refund(
        self,
        payment_id: int,
        amount: Decimal | str | int | None = None,
        at: datetime | None = None,
        comment: str | None = None,
    ) -> int:
        """Refund all (default) or part of what is left of a payment. Returns PaymentsOut.ID."""
        now = self.now()
        when = (at or now).replace(microsecond=0)
        with self._tx() as con:
            pay = con.execute(
                "SELECT ID_Patients, Payment FROM PaymentsIn WHERE ID = ?", (payment_id,)
            ).fetchone()
            if pay is None:
                raise KeyError(f"no payment {payment_id}")
            refunded = con.execute(
                "SELECT TOTAL(Payment) FROM PaymentsOut WHERE ID_PaymentsIn = ?", (payment_id,)
            ).fetchone()[0]
            left = to_decimal(pay["Payment"]) - to_decimal(refunded)
            value = left if amount is None else _amount(amount)
            if value <= 0 or value > left:
                raise ValueError(
                    f"refund of {value} exceeds the {left} left on payment {payment_id}"
                )
            cur = con.execute(
                """
                INSERT INTO PaymentsOut (DateTimePayment, ID_Patients, Payment, ID_PaymentsIn,
                    Comment, DateTimeAdded, DateTimeChanged)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    fmt_dt(when),
                    pay["ID_Patients"],
                    _money_param(value),
                    payment_id,
                    comment or C.REFUND_COMMENTS[0],
                    fmt_dt(now),
                    fmt_dt(now),
                ),
            )
            return int(cur.lastrowid or 0)

    def delete_payment(self, payment_id: int) -> None:
        now = fmt_dt(self.now())
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM PaymentsIn WHERE ID = ?", payment_id, "payment")
            con.execute("DELETE FROM PaymentsIn WHERE ID = ?", (payment_id,))
            _stamp_deletion(con, "PaymentsIn", payment_id, now)

    # -------------------------------------------------------------- patients

    def add_patient(
        self,
        surname: str,
        name: str,
        patronymic: str | None,
        birthday: date,
        phone_as_typed: str | None,
        family_id: int | None = None,
        sex: int | None = None,
    ) -> int:
        """Register a patient (Persons + Patients). Sex is inferred from the patronymic
        (or first name) unless given. Returns the patient id (= Persons.ID)."""
        now = self.now()
        if sex is None:
            sex = sex_from_patronymic(patronymic, name)
        with self._tx() as con:
            if family_id is not None:
                self._require(con, "SELECT 1 FROM Families WHERE ID = ?", family_id, "family")
            cur = con.execute(
                "INSERT INTO Persons (Surname, Name, Patronymic, Birthday, Sex, MobilePhone)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (surname, name, patronymic, fmt_birthday(birthday), sex, phone_as_typed),
            )
            pid = int(cur.lastrowid or 0)
            number = con.execute(
                "SELECT COALESCE(MAX(PatientNumber), 0) + 1 FROM Patients"
            ).fetchone()[0]
            con.execute(
                """
                INSERT INTO Patients (ID_Persons, PatientNumber, CardNumber, Status,
                    ConformToSending, SMSRejection, FirstVisit, Comment, ID_Families,
                    DateTimeChanged)
                VALUES (?, ?, ?, ?, 1, 0, NULL, NULL, ?, ?)
                """,
                (
                    pid,
                    number,
                    f"{number}/{now.year % 100:02d}",
                    C.PATIENT_ACTIVE,
                    family_id,
                    fmt_dt(now),
                ),
            )
            return pid

    def create_family(self, head_patient_id: int, name: str | None = None) -> int:
        """Start a family headed by a patient (who joins it). Returns Families.ID."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            head = con.execute(
                "SELECT Surname, Name, Patronymic FROM Persons p JOIN Patients pt"
                " ON pt.ID_Persons = p.ID WHERE p.ID = ?",
                (head_patient_id,),
            ).fetchone()
            if head is None:
                raise KeyError(f"no patient {head_patient_id}")
            cur = con.execute(
                "INSERT INTO Families (Name, ID_HeadPatients) VALUES (?, ?)",
                (name or initials(head[0], head[1], head[2]), head_patient_id),
            )
            family_id = int(cur.lastrowid or 0)
            con.execute(
                "UPDATE Patients SET ID_Families = ?, DateTimeChanged = ? WHERE ID_Persons = ?",
                (family_id, now, head_patient_id),
            )
            return family_id

    def change_phone(self, patient_id: int, phone_as_typed: str | None) -> None:
        """Overwrite Persons.MobilePhone. Persons has no change stamp in IDENT, so the
        patient's row is touched too: that is what a connector can see."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM Patients WHERE ID_Persons = ?", patient_id, "patient")
            con.execute(
                "UPDATE Persons SET MobilePhone = ? WHERE ID = ?", (phone_as_typed, patient_id)
            )
            con.execute(
                "UPDATE Patients SET DateTimeChanged = ? WHERE ID_Persons = ?", (now, patient_id)
            )

    def set_messaging(self, patient_id: int, allowed: bool) -> None:
        """Consent to messages: allowed sets ConformToSending=1, SMSRejection=0; refused
        sets ConformToSending=0, SMSRejection=1 (the two checkboxes an admin would tick)."""
        now = fmt_dt(self.now())
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM Patients WHERE ID_Persons = ?", patient_id, "patient")
            con.execute(
                "UPDATE Patients SET ConformToSending = ?, SMSRejection = ?, DateTimeChanged = ?"
                " WHERE ID_Persons = ?",
                (int(allowed), int(not allowed), now, patient_id),
            )

    def set_archived(self, patient_id: int, archived: bool = True) -> None:
        now = fmt_dt(self.now())
        status = C.PATIENT_ARCHIVED if archived else C.PATIENT_ACTIVE
        with self._tx() as con:
            self._require(con, "SELECT 1 FROM Patients WHERE ID_Persons = ?", patient_id, "patient")
            con.execute(
                "UPDATE Patients SET Status = ?, DateTimeChanged = ? WHERE ID_Persons = ?",
                (status, now, patient_id),
            )

    # -------------------------------------------------------------- helpers

    @staticmethod
    def _require(con: sqlite3.Connection, sql: str, key: int, what: str) -> None:
        if con.execute(sql, (key,)).fetchone() is None:
            raise KeyError(f"no {what} {key}")

    @staticmethod
    def _reception_row(con: sqlite3.Connection, reception_id: int) -> sqlite3.Row:
        row = con.execute("SELECT * FROM Receptions WHERE ID = ?", (reception_id,)).fetchone()
        if row is None:
            raise KeyError(f"no reception {reception_id}")
        return row

    @staticmethod
    def _check_free(
        con: sqlite3.Connection,
        staff_id: int,
        start: datetime,
        end: datetime,
        exclude: int | None = None,
    ) -> None:
        # No visit lasts a day, so a one-day lower bound keeps this an index range scan.
        clash = con.execute(
            """
            SELECT ID, PlanStart, PlanEnd FROM Receptions
            WHERE ID_Staffs = ? AND PlanStart > ? AND PlanStart < ? AND PlanEnd > ?
              AND ReceptionCanceled IS NULL AND ID_ReceptionCancelReasons IS NULL
              AND ID IS NOT ?
            LIMIT 1
            """,
            (staff_id, fmt_dt(start - timedelta(days=1)), fmt_dt(end), fmt_dt(start), exclude),
        ).fetchone()
        if clash is not None:
            raise BookingConflict(
                f"staff {staff_id} is busy {clash['PlanStart']}-{clash['PlanEnd'][11:16]}"
                f" (reception {clash['ID']})"
            )

    @staticmethod
    def _default_armchair(con: sqlite3.Connection, staff_id: int) -> int | None:
        row = con.execute(
            "SELECT ID_Armchairs FROM Receptions WHERE ID_Staffs = ? AND ID_Armchairs IS NOT NULL"
            " ORDER BY PlanStart DESC LIMIT 1",
            (staff_id,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        row = con.execute(
            "SELECT a.ID FROM Armchairs a JOIN Staffs s ON s.ID_Branches = a.ID_Branches"
            " WHERE s.ID = ? ORDER BY a.ID LIMIT 1",
            (staff_id,),
        ).fetchone()
        return None if row is None else int(row[0])


def _stamp_deletion(con: sqlite3.Connection, table: str, row_id: int, now: str) -> None:
    # The trigger stamped SQLite's wall clock; the clinic lives by its own clock.
    con.execute(
        "UPDATE DeletedRows SET DateTimeDeleted = ? WHERE ID = "
        "(SELECT MAX(ID) FROM DeletedRows WHERE TableName = ? AND RowID = ?)",
        (now, table, row_id),
    )


def _services_text(services: Iterable[str] | str | None) -> str | None:
    if services is None or isinstance(services, str):
        return services or None
    text = ", ".join(s.strip() for s in services if s and s.strip())
    return text or None


def _amount(amount: Decimal | str | int) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("pass money as Decimal, str or int, not float")
    try:
        value = Decimal(str(amount)).quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if value <= 0:
        raise ValueError(f"amount must be positive, got {value}")
    return value
