"""Incremental sync: MIS -> local mirror tables -> domain events.

Each entity has a persisted cursor. One batch is applied in one local transaction together
with its new cursor and the events it produced, so a crash either keeps all of a batch or
none of it, and the next run re-reads exactly what was not kept. Events carry a unique key,
so re-reading rows never produces an event twice.

The first read of an entity (no cursor yet) is the initial import: it fills the mirror but
produces no events, because a clinic's history is not news — nobody should get bonus
points for a payment from last year or a "you are booked" for a visit booked in spring.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import (
    ENTITIES,
    AppointmentRecord,
    Connector,
    DeletionRecord,
    DoctorRecord,
    PatientRecord,
    PaymentRecord,
    PaymentReversalRecord,
)
from core.db import transaction, utcnow
from core.models import (
    Appointment,
    Doctor,
    DomainEvent,
    Patient,
    PatientPhone,
    Payment,
    SyncCursor,
)

log = logging.getLogger(__name__)


def content_hash(record: Any) -> str:
    payload = json.dumps(asdict(record), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class SyncReport:
    read: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, str]] = field(default_factory=list)  # (kind, subject)

    def summary(self) -> str:
        parts = [f"{e}: {self.read[e]} read, {self.changed[e]} changed" for e in self.read]
        kinds = Counter(kind for kind, _ in self.events)
        if kinds:
            parts.append("events: " + ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items())))
        return "; ".join(parts) or "nothing to read"


class _Applier:
    """Applies records of one batch inside one session."""

    def __init__(self, session: Session, report: SyncReport, *, emit_events: bool) -> None:
        self.s = session
        self.report = report
        self.emit_events = emit_events

    def event(self, key: str, kind: str, subject: str, payload: dict[str, Any]) -> None:
        if not self.emit_events:
            return
        if self.s.scalar(select(DomainEvent.id).where(DomainEvent.key == key)) is not None:
            return
        self.s.add(DomainEvent(key=key, kind=kind, subject=subject, payload=payload))
        self.report.events.append((kind, subject))

    # -- entities -----------------------------------------------------------------------

    def doctor(self, rec: DoctorRecord) -> None:
        digest = content_hash(rec)
        row = self.s.scalar(select(Doctor).where(Doctor.mis_id == rec.mis_id))
        if row is None:
            row = Doctor(mis_id=rec.mis_id)
            self.s.add(row)
        elif row.content_hash == digest:
            return
        row.full_name, row.specialty, row.content_hash = rec.full_name, rec.specialty, digest
        self.report.changed["doctor"] += 1

    def patient(self, rec: PatientRecord) -> None:
        digest = content_hash(rec)
        row = self.s.scalar(select(Patient).where(Patient.mis_id == rec.mis_id))
        is_new = row is None
        if row is None:
            row = Patient(mis_id=rec.mis_id)
            self.s.add(row)
        elif row.content_hash == digest:
            return
        changed_phones = is_new or list(row.phones or []) != list(rec.phones)
        row.last_name = rec.last_name
        row.first_name = rec.first_name
        row.middle_name = rec.middle_name
        row.birth_date = rec.birth_date
        row.phones = list(rec.phones)
        row.family_id = rec.family_id
        row.status = rec.status
        row.messaging_allowed = rec.messaging_allowed
        row.content_hash = digest
        row.updated_at = utcnow()
        self.s.flush()
        if changed_phones:
            self.s.execute(delete(PatientPhone).where(PatientPhone.patient_id == row.id))
            self.s.add_all(PatientPhone(phone=p, patient_id=row.id) for p in rec.phones)
        self.report.changed["patient"] += 1
        if not is_new:
            self.event(
                f"patient.changed:{rec.mis_id}:{digest[:16]}",
                "patient.changed",
                rec.mis_id,
                {"phones": list(rec.phones), "messaging_allowed": rec.messaging_allowed},
            )

    def appointment(self, rec: AppointmentRecord) -> None:
        digest = content_hash(rec)
        row = self.s.scalar(select(Appointment).where(Appointment.mis_id == rec.mis_id))
        if row is not None and row.content_hash == digest and not row.deleted:
            return
        before = (
            None if row is None else (row.starts_at, row.doctor_mis_id, row.status, row.deleted)
        )
        if row is None:
            row = Appointment(mis_id=rec.mis_id)
            self.s.add(row)
        row.patient_mis_id = rec.patient_id
        row.doctor_mis_id = rec.doctor_id
        row.branch_id = rec.branch_id
        row.starts_at = rec.starts_at
        row.ends_at = rec.ends_at
        row.status = rec.status
        row.services = list(rec.services)
        row.deleted = False
        row.content_hash = digest
        row.updated_at = utcnow()
        self.report.changed["appointment"] += 1

        payload = {
            "patient_mis_id": rec.patient_id,
            "doctor_mis_id": rec.doctor_id,
            "starts_at": rec.starts_at.isoformat(),
            "status": rec.status,
        }
        if before is None:
            if rec.status == "scheduled":
                self.event(
                    f"appointment.created:{rec.mis_id}", "appointment.created", rec.mis_id, payload
                )
            else:
                self._status_event(rec, payload, digest)
            return
        old_starts, old_doctor, old_status, was_deleted = before
        if rec.status == "scheduled" and (old_status == "cancelled" or was_deleted):
            # Cancelled, then booked again in the same row: a fresh booking for the patient.
            self.event(
                f"appointment.created:{rec.mis_id}:{digest[:16]}",
                "appointment.created",
                rec.mis_id,
                payload,
            )
        elif rec.status != old_status:
            self._status_event(rec, payload, digest)
        elif rec.status == "scheduled" and (
            old_starts != rec.starts_at or old_doctor != rec.doctor_id
        ):
            payload["previous_starts_at"] = old_starts.isoformat()
            payload["previous_doctor_mis_id"] = old_doctor
            self.event(
                f"appointment.moved:{rec.mis_id}:{rec.starts_at.isoformat()}:{rec.doctor_id}",
                "appointment.moved",
                rec.mis_id,
                payload,
            )

    def _status_event(self, rec: AppointmentRecord, payload: dict[str, Any], digest: str) -> None:
        kinds = {
            "arrived": "appointment.arrived",
            "completed": "appointment.completed",
            "cancelled": "appointment.cancelled",
            "no_show": "appointment.no_show",
        }
        kind = kinds.get(rec.status)
        if kind:
            self.event(f"{kind}:{rec.mis_id}:{digest[:16]}", kind, rec.mis_id, payload)

    def payment(self, rec: PaymentRecord) -> None:
        digest = content_hash(rec)
        row = self.s.scalar(select(Payment).where(Payment.mis_id == rec.mis_id))
        if row is not None and row.content_hash == digest:
            return
        is_new = row is None
        was_reversed = False if row is None else row.reversed
        if row is None:
            row = Payment(mis_id=rec.mis_id)
            self.s.add(row)
        row.patient_mis_id = rec.patient_id
        row.paid_at = rec.paid_at
        row.amount = rec.amount
        row.method = rec.method
        row.reversed = rec.reversed or was_reversed
        row.content_hash = digest
        self.report.changed["payment"] += 1
        payload = {
            "patient_mis_id": rec.patient_id,
            "amount": str(rec.amount),
            "method": rec.method,
            "paid_at": rec.paid_at.isoformat(),
        }
        if is_new and rec.amount > 0:
            self.event(f"payment.received:{rec.mis_id}", "payment.received", rec.mis_id, payload)
        if row.reversed and not was_reversed:
            self.event(f"payment.reversed:{rec.mis_id}", "payment.reversed", rec.mis_id, payload)

    def payment_reversal(self, rec: PaymentReversalRecord) -> None:
        self.report.changed["payment_reversal"] += 1
        self._reverse_payment(rec.payment_id, refund_id=rec.mis_id)

    def _reverse_payment(self, payment_mis_id: str, refund_id: str = "") -> None:
        row = self.s.scalar(select(Payment).where(Payment.mis_id == payment_mis_id))
        if row is None:
            log.warning(
                "refund %s names payment %s, which Kabinet never saw", refund_id, payment_mis_id
            )
            return
        if row.reversed:
            return
        row.reversed = True
        self.event(
            f"payment.reversed:{payment_mis_id}",
            "payment.reversed",
            payment_mis_id,
            {
                "patient_mis_id": row.patient_mis_id,
                "amount": str(row.amount),
                "refund_id": refund_id,
            },
        )

    def deletion(self, rec: DeletionRecord) -> None:
        self.report.changed["deletion"] += 1
        if rec.entity == "appointment":
            row = self.s.scalar(select(Appointment).where(Appointment.mis_id == rec.mis_id))
            if row is None or row.deleted:
                return
            row.deleted = True
            row.content_hash = ""
            self.event(
                f"appointment.deleted:{rec.mis_id}:{row.starts_at.isoformat()}",
                "appointment.cancelled",
                rec.mis_id,
                {
                    "patient_mis_id": row.patient_mis_id,
                    "starts_at": row.starts_at.isoformat(),
                    "status": row.status,
                    "deleted": True,
                },
            )
        elif rec.entity == "payment":
            self._reverse_payment(rec.mis_id, refund_id="deleted")
        elif rec.entity == "patient":
            patient = self.s.scalar(select(Patient).where(Patient.mis_id == rec.mis_id))
            if patient is not None:
                patient.status = "deleted"
                patient.content_hash = ""


class SyncEngine:
    def __init__(
        self,
        connector: Connector,
        factory: sessionmaker[Session],
        *,
        batch_size: int = 1000,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.connector = connector
        self.factory = factory
        self.batch_size = batch_size
        self.clock = clock

    def run_once(self) -> SyncReport:
        """Read every entity until caught up. Raises ConnectorError when the MIS fails."""
        report = SyncReport()
        available = set(self.connector.entities())
        for entity in ENTITIES:
            if entity in available:
                self._sync_entity(entity, report)
        return report

    def _sync_entity(self, entity: str, report: SyncReport) -> None:
        while True:
            with transaction(self.factory) as session:
                cursor_row = session.get(SyncCursor, entity)
                if cursor_row is None:
                    cursor_row = SyncCursor(entity=entity, value="", baseline_done=False)
                    session.add(cursor_row)
                batch = self.connector.read_changes(
                    entity, cursor_row.value or None, self.batch_size
                )
                report.read[entity] += len(batch.records)
                applier = _Applier(session, report, emit_events=cursor_row.baseline_done)
                apply = getattr(applier, entity)
                for record in batch.records:
                    apply(record)
                if batch.cursor is not None:
                    cursor_row.value = batch.cursor
                if not batch.more:
                    cursor_row.baseline_done = True
                cursor_row.updated_at = self.clock()
            if not batch.more:
                return
