"""What a change in the mirror means: the domain event (core/events.py) each one is, and
its key.

A key names what happened, not when it was read, so a re-read of the same change makes
the same key and the store keeps one event: a visit's booking is keyed by the visit, a
move by the new time and doctor, a status change by the row's digest (a visit cancelled,
booked again and cancelled again is two cancellations), a refund by its refund row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.base import AppointmentRecord, PatientRecord, PaymentRecord, PaymentReversalRecord
from core.events import (
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentMoved,
    EventKind,
    PatientEvent,
    Payload,
    PaymentReceived,
    PaymentReversed,
)

# (key, kind, subject, payload)
News = tuple[str, EventKind, str, Payload]

# A visit's new status in the MIS -> the news it is.
_STATUS_EVENTS = {
    "arrived": EventKind.APPOINTMENT_ARRIVED,
    "completed": EventKind.APPOINTMENT_COMPLETED,
    "cancelled": EventKind.APPOINTMENT_CANCELLED,
    "no_show": EventKind.APPOINTMENT_NO_SHOW,
}


def patient(rec: PatientRecord, digest: str, *, is_new: bool) -> News:
    payload = PatientEvent(tuple(rec.phones), rec.messaging_allowed)
    if is_new:
        # A new patient may be someone who already wrote to the bot (a pending link).
        return (
            f"{EventKind.PATIENT_CREATED}:{rec.mis_id}",
            EventKind.PATIENT_CREATED,
            rec.mis_id,
            payload,
        )
    kind = EventKind.PATIENT_CHANGED
    return f"{kind}:{rec.mis_id}:{digest[:16]}", kind, rec.mis_id, payload


def appointment(
    rec: AppointmentRecord, before: tuple[datetime, str, str, bool] | None, digest: str
) -> News | None:
    """A visit's record against its mirror row as it was (starts, doctor, status, deleted;
    None: new to the mirror)."""
    created = EventKind.APPOINTMENT_CREATED
    visit = AppointmentEvent(rec.patient_id, rec.doctor_id, rec.starts_at, rec.status)
    if before is None:
        if rec.status == "scheduled":
            return f"{created}:{rec.mis_id}", created, rec.mis_id, visit
        return _status(rec, visit, digest)
    old_starts, old_doctor, old_status, was_deleted = before
    if rec.status == "scheduled" and (old_status == "cancelled" or was_deleted):
        # Cancelled, then booked again in the same row: a fresh booking for the patient.
        return f"{created}:{rec.mis_id}:{digest[:16]}", created, rec.mis_id, visit
    moved_back = old_status == "no_show" and rec.status == "scheduled"
    if rec.status != old_status and not moved_back:
        return _status(rec, visit, digest)
    # A visit the no-show sweep marked missed comes back "scheduled" whenever its row is
    # touched (IDENT has no no-show status): at the same time and doctor it is the same
    # missed visit, no news; elsewhere the clinic rebooked it in the same row, a move.
    if rec.status == "scheduled" and (old_starts != rec.starts_at or old_doctor != rec.doctor_id):
        moved = EventKind.APPOINTMENT_MOVED
        return (
            f"{moved}:{rec.mis_id}:{rec.starts_at.isoformat()}:{rec.doctor_id}",
            moved,
            rec.mis_id,
            AppointmentMoved(
                rec.patient_id, rec.doctor_id, rec.starts_at, rec.status, old_starts, old_doctor
            ),
        )
    return None


def _status(rec: AppointmentRecord, visit: AppointmentEvent, digest: str) -> News | None:
    kind = _STATUS_EVENTS.get(rec.status)
    if kind is None:
        return None
    payload: Payload = visit
    if kind is EventKind.APPOINTMENT_CANCELLED:
        payload = AppointmentCancelled(
            rec.patient_id, rec.starts_at, rec.status, doctor_mis_id=rec.doctor_id
        )
    return f"{kind}:{rec.mis_id}:{digest[:16]}", kind, rec.mis_id, payload


def visit_deleted(mis_id: str, row: dict[str, Any]) -> News:
    """A visit row gone from the MIS (its mirror row as it was)."""
    # Keyed apart from a cancellation by status: the same news for the patient, another
    # cause.
    return (
        f"appointment.deleted:{mis_id}:{row['starts_at'].isoformat()}",
        EventKind.APPOINTMENT_CANCELLED,
        mis_id,
        AppointmentCancelled(
            row["patient_mis_id"],
            row["starts_at"],
            row["status"],
            doctor_mis_id=row["doctor_mis_id"],
            deleted=True,
        ),
    )


def payment(rec: PaymentRecord, *, is_new: bool, newly_reversed: bool) -> list[News]:
    found: list[News] = []
    if is_new and rec.amount > 0:
        kind = EventKind.PAYMENT_RECEIVED
        payload: Payload = PaymentReceived(
            rec.patient_id, rec.amount, rec.method, rec.paid_at, rec.appointment_id
        )
        found.append((f"{kind}:{rec.mis_id}", kind, rec.mis_id, payload))
    if newly_reversed:
        kind = EventKind.PAYMENT_REVERSED
        payload = PaymentReversed(rec.patient_id, rec.amount)
        found.append((f"{kind}:{rec.mis_id}", kind, rec.mis_id, payload))
    return found


def refund(rec: PaymentReversalRecord, row: dict[str, Any], given_back: Decimal) -> News:
    """One refund row of the payment whose mirror row is `row`; `given_back`: its share."""
    kind = EventKind.PAYMENT_REVERSED
    return (
        f"{kind}:{rec.payment_id}:refund:{rec.mis_id}",
        kind,
        rec.payment_id,
        PaymentReversed(
            row["patient_mis_id"], row["amount"], refund_id=rec.mis_id, refund_amount=given_back
        ),
    )


def payment_gone(payment_mis_id: str, row: dict[str, Any], refund_id: str) -> News:
    """A payment reversed whole ("deleted": its row is gone from the MIS)."""
    kind = EventKind.PAYMENT_REVERSED
    return (
        f"{kind}:{payment_mis_id}",
        kind,
        payment_mis_id,
        PaymentReversed(row["patient_mis_id"], row["amount"], refund_id=refund_id),
    )
