"""What an Open Dental office does beyond the shared scenario: families, payments split
between family members, refunds of one split, broken appointments, patient statuses —
written the way Open Dental's own application writes them (OpenDentBusiness)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tests.connectors.contract.engines import MisEngine, OpenDentalWriter, mis_now

# histappointment.HistApptAction (Enum:HistAppointmentAction)
CHANGED, MISSED, CANCELLED = 1, 2, 3
# patient.PatStatus (Enum:PatientStatus)
DELETED, DECEASED = 4, 5


class OpenDentalOffice(OpenDentalWriter):
    def __init__(self, engine: MisEngine) -> None:
        super().__init__(engine.extra["admin_dsn"], engine.extra["db"])

    def code(self, proc_code: str) -> int:
        num = self._one("SELECT CodeNum FROM procedurecode WHERE ProcCode = %s", proc_code)
        assert num, proc_code
        return int(num)

    # -- patients --------------------------------------------------------------------

    def add_member(self, guarantor: str, last: str, first: str, phone: str, born: date) -> str:
        """A family member: Open Dental's Family module adds them under the guarantor."""
        num = self.add_patient(last, first, "", phone, born)
        self._one("UPDATE patient SET Guarantor = %s WHERE PatNum = %s", int(guarantor), int(num))
        return num

    def set_status(self, patient: str, status: int) -> None:
        self._one("UPDATE patient SET PatStatus = %s WHERE PatNum = %s", status, int(patient))

    # -- visits ----------------------------------------------------------------------

    def procedure_of(self, visit: str) -> int:
        proc = self._one("SELECT MIN(ProcNum) FROM procedurelog WHERE AptNum = %s", int(visit))
        assert proc, visit
        return int(proc)

    def break_visit(
        self, visit: str, code: str | None = None, *, unscheduled: bool = False
    ) -> None:
        """AppointmentL.BreakApptHelper: status Broken; with a broken appointment procedure,
        the procedure is charted on the patient (not the appointment) and the history row
        says Missed (D9986) or Cancelled (D9987); without one, an ordinary change. "Send to
        Unscheduled List" then takes it off the book."""
        at = mis_now()
        self._one("UPDATE appointment SET AptStatus = 5 WHERE AptNum = %s", int(visit))
        if code is None:
            self._hist(visit, CHANGED, at)
        else:
            patient, provider = self._row(
                "SELECT PatNum, ProvNum FROM appointment WHERE AptNum = %s", int(visit)
            )
            self._one(
                "INSERT INTO procedurelog (PatNum, AptNum, ProcDate, ProcFee, ProcStatus,"
                " ProvNum, CodeNum) VALUES (%s, 0, %s, 50, 2, %s, %s)",
                patient,
                at.date(),
                provider,
                self.code(code),
            )
            self._hist(visit, MISSED if code == "D9986" else CANCELLED, at)
        if unscheduled:
            self._one("UPDATE appointment SET AptStatus = 3 WHERE AptNum = %s", int(visit))
            self._hist(visit, CHANGED, at)

    def reschedule(self, visit: str, start: datetime) -> None:
        """A broken appointment dragged to a new time: Scheduled again."""
        self._one(
            "UPDATE appointment SET AptStatus = 1, AptDateTime = %s WHERE AptNum = %s",
            start,
            int(visit),
        )
        self._hist(visit, CHANGED)

    # -- money -----------------------------------------------------------------------

    def pay_splits(self, payer: str, splits: list[tuple[str, str, str | None]]) -> list[int]:
        """One payment by `payer`, split as (patient, amount, visit or None): a split on a
        visit pays its procedure. Returns the SplitNums, in order."""
        total = sum(float(amount) for _, amount, _ in splits)
        pay = self._one(
            "INSERT INTO payment (PayType, PayDate, PayAmt, PatNum, DateEntry, IsSplit)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            self.cash,
            mis_now().date(),
            total,
            int(payer),
            mis_now().date(),
            int(len(splits) > 1),
        )
        nums = []
        for patient, amount, visit in splits:
            proc = self.procedure_of(visit) if visit else 0
            nums.append(self._split(pay, patient, float(amount), proc))
        return nums

    def _split(self, pay: Any, patient: str, amount: float, proc: int) -> int:
        return int(
            self._one(
                "INSERT INTO paysplit (SplitAmt, PatNum, PayNum, DatePay, ProcNum, DateEntry)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                amount,
                int(patient),
                int(pay),
                mis_now().date(),
                proc,
                mis_now().date(),
            )
        )

    def payment_of(self, split: int) -> int:
        return int(self._one("SELECT PayNum FROM paysplit WHERE SplitNum = %s", split))

    def refund_split(self, split: int, amount: str | None = None) -> int:
        """A refund of one split (all of it by default): a negative payment whose negative
        split sits on the split's patient and procedure. Returns the refund's SplitNum."""
        patient, paid, proc = self._row(
            "SELECT PatNum, SplitAmt, ProcNum FROM paysplit WHERE SplitNum = %s", split
        )
        back = float(amount) if amount is not None else paid
        pay = self._one(
            "INSERT INTO payment (PayType, PayDate, PayAmt, PatNum, DateEntry, PayNote)"
            " VALUES (%s, %s, %s, %s, %s, 'refund')",
            self.cash,
            mis_now().date(),
            -back,
            patient,
            mis_now().date(),
        )
        return self._split(pay, str(patient), -back, int(proc))

    def transfer(self, patient: str, amount: str, from_visit: str, to_visit: str) -> None:
        """An income transfer: a payment of 0 moving money from one procedure to another."""
        pay = self._one(
            "INSERT INTO payment (PayType, PayDate, PayAmt, PatNum, DateEntry, PayNote)"
            " VALUES (0, %s, 0, %s, %s, 'income transfer')",
            mis_now().date(),
            int(patient),
            mis_now().date(),
        )
        self._split(pay, patient, -float(amount), self.procedure_of(from_visit))
        self._split(pay, patient, float(amount), self.procedure_of(to_visit))
