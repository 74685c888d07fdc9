"""The domain events: every kind the sync records, and what each one carries.

`EventKind` is the one list of kinds. It is a StrEnum, so a kind is stored as the same
text as ever ("appointment.no_show"), compares equal to it and formats as it: events
already in a clinic's store keep their meaning. core.rules handles each kind or declares
it ignored (`Rules.HANDLERS`, `IGNORED`); tests/core/test_events.py fails when a kind is
neither, so a new kind cannot reach the rules and be dropped unnoticed.

Each kind's payload is a dataclass (`PAYLOADS`). `payload()` gives the JSON the event
row stores; `from_payload()` reads one back, ignoring keys it does not know and filling
in what an older row lacks, so an event stored by an earlier version still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self


class EventKind(StrEnum):
    APPOINTMENT_CREATED = "appointment.created"
    APPOINTMENT_MOVED = "appointment.moved"
    APPOINTMENT_CANCELLED = "appointment.cancelled"
    APPOINTMENT_ARRIVED = "appointment.arrived"
    APPOINTMENT_COMPLETED = "appointment.completed"
    APPOINTMENT_NO_SHOW = "appointment.no_show"
    PAYMENT_RECEIVED = "payment.received"
    PAYMENT_REVERSED = "payment.reversed"
    PATIENT_CREATED = "patient.created"
    PATIENT_CHANGED = "patient.changed"


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class AppointmentEvent:
    """A visit booked, come, done or missed: who, with whom, when, in what state."""

    patient_mis_id: str
    doctor_mis_id: str
    starts_at: datetime  # aware
    status: str

    def payload(self) -> dict[str, Any]:
        return {
            "patient_mis_id": self.patient_mis_id,
            "doctor_mis_id": self.doctor_mis_id,
            "starts_at": self.starts_at.isoformat(),
            "status": self.status,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        return cls(
            patient_mis_id=str(data.get("patient_mis_id", "")),
            doctor_mis_id=str(data.get("doctor_mis_id", "")),
            starts_at=_time(data["starts_at"]),
            status=str(data.get("status", "")),
        )


@dataclass(frozen=True)
class AppointmentMoved(AppointmentEvent):
    """A scheduled visit at another time or with another doctor; the previous ones too."""

    previous_starts_at: datetime
    previous_doctor_mis_id: str

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "previous_starts_at": self.previous_starts_at.isoformat(),
            "previous_doctor_mis_id": self.previous_doctor_mis_id,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        visit = AppointmentEvent.from_payload(data)
        return cls(
            visit.patient_mis_id,
            visit.doctor_mis_id,
            visit.starts_at,
            visit.status,
            previous_starts_at=_time(data.get("previous_starts_at") or data["starts_at"]),
            previous_doctor_mis_id=str(data.get("previous_doctor_mis_id", "")),
        )


@dataclass(frozen=True)
class AppointmentCancelled:
    """A visit cancelled in the MIS, or deleted there (`deleted`; its last status then)."""

    patient_mis_id: str
    starts_at: datetime
    status: str
    doctor_mis_id: str = ""
    deleted: bool = False

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "patient_mis_id": self.patient_mis_id,
            "doctor_mis_id": self.doctor_mis_id,
            "starts_at": self.starts_at.isoformat(),
            "status": self.status,
        }
        if self.deleted:
            data["deleted"] = True
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        return cls(
            patient_mis_id=str(data.get("patient_mis_id", "")),
            starts_at=_time(data["starts_at"]),
            status=str(data.get("status", "")),
            doctor_mis_id=str(data.get("doctor_mis_id", "")),
            deleted=bool(data.get("deleted", False)),
        )


@dataclass(frozen=True)
class PaymentReceived:
    patient_mis_id: str
    amount: Decimal
    method: str  # money | bonus
    paid_at: datetime
    # The visit it pays for, where the MIS links them ("" where it does not).
    appointment_mis_id: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "patient_mis_id": self.patient_mis_id,
            "amount": str(self.amount),
            "method": self.method,
            "paid_at": self.paid_at.isoformat(),
            "appointment_mis_id": self.appointment_mis_id,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        return cls(
            patient_mis_id=str(data.get("patient_mis_id", "")),
            amount=_money(data["amount"]),
            method=str(data.get("method", "money")),
            paid_at=_time(data["paid_at"]),
            appointment_mis_id=str(data.get("appointment_mis_id") or ""),
        )


@dataclass(frozen=True)
class PaymentReversed:
    """A payment given back: by one refund row (`refund_id`, `refund_amount`: that row's
    share), or whole (no amount: refunded in full, or `refund_id` "deleted": the payment
    row was deleted in the MIS)."""

    patient_mis_id: str
    amount: Decimal  # the payment's
    refund_id: str = ""
    refund_amount: Decimal | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "patient_mis_id": self.patient_mis_id,
            "amount": str(self.amount),
            "refund_id": self.refund_id,
        }
        if self.refund_amount is not None:
            data["refund_amount"] = str(self.refund_amount)
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        refund = data.get("refund_amount")
        return cls(
            patient_mis_id=str(data.get("patient_mis_id", "")),
            amount=_money(data["amount"]),
            refund_id=str(data.get("refund_id") or ""),
            refund_amount=None if refund is None or refund == "" else _money(refund),
        )


@dataclass(frozen=True)
class PatientEvent:
    """A patient new to Kabinet, or whose phones, name or "no messages" flag changed."""

    phones: tuple[str, ...]
    messaging_allowed: bool

    def payload(self) -> dict[str, Any]:
        return {"phones": list(self.phones), "messaging_allowed": self.messaging_allowed}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Self:
        return cls(
            phones=tuple(str(p) for p in data.get("phones") or ()),
            messaging_allowed=bool(data.get("messaging_allowed", True)),
        )


Payload = (
    AppointmentEvent
    | AppointmentMoved
    | AppointmentCancelled
    | PaymentReceived
    | PaymentReversed
    | PatientEvent
)

PAYLOADS: dict[EventKind, type[Payload]] = {
    EventKind.APPOINTMENT_CREATED: AppointmentEvent,
    EventKind.APPOINTMENT_MOVED: AppointmentMoved,
    EventKind.APPOINTMENT_CANCELLED: AppointmentCancelled,
    EventKind.APPOINTMENT_ARRIVED: AppointmentEvent,
    EventKind.APPOINTMENT_COMPLETED: AppointmentEvent,
    EventKind.APPOINTMENT_NO_SHOW: AppointmentEvent,
    EventKind.PAYMENT_RECEIVED: PaymentReceived,
    EventKind.PAYMENT_REVERSED: PaymentReversed,
    EventKind.PATIENT_CREATED: PatientEvent,
    EventKind.PATIENT_CHANGED: PatientEvent,
}


def check(kind: EventKind, payload: Payload) -> None:
    """Raise TypeError when `payload` is not what `kind` carries: an event of one kind with
    another's payload would reach its handler and fail there, long after the sync."""
    expected = PAYLOADS[kind]
    if type(payload) is not expected:
        raise TypeError(f"{kind} carries {expected.__name__}, not {type(payload).__name__}")


def read(kind: str, data: dict[str, Any]) -> Payload:
    """A stored event's payload as its kind's dataclass (ValueError for an unknown kind,
    KeyError for a payload without a field the kind needs)."""
    return PAYLOADS[EventKind(kind)].from_payload(data)
