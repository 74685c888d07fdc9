"""The engine-neutral connector interface and the canonical records every profile yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

# Sync order matters: appointments name doctors and patients, payments name patients.
ENTITIES = ("doctor", "patient", "appointment", "payment", "payment_reversal", "deletion")


class ConnectorError(RuntimeError):
    """A failure reading the MIS. `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, kind: str = "error") -> None:
        super().__init__(message)
        self.retryable = retryable
        # unreachable | timeout | permission | missing_column | config | error
        self.kind = kind


@dataclass(frozen=True)
class PatientRecord:
    mis_id: str
    last_name: str
    first_name: str
    middle_name: str
    birth_date: date | None
    phones: tuple[str, ...]
    family_id: str | None
    status: str  # active | archived | deleted
    messaging_allowed: bool


@dataclass(frozen=True)
class DoctorRecord:
    mis_id: str
    full_name: str
    specialty: str


@dataclass(frozen=True)
class AppointmentRecord:
    mis_id: str
    patient_id: str
    doctor_id: str
    branch_id: str
    starts_at: datetime  # aware
    ends_at: datetime  # aware
    status: str  # scheduled | arrived | completed | cancelled | no_show
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaymentRecord:
    mis_id: str
    patient_id: str
    paid_at: datetime  # aware
    amount: Decimal
    method: str  # money | bonus
    reversed: bool = False


@dataclass(frozen=True)
class PaymentReversalRecord:
    """A refund row that points at the payment it gives back (IDENT PaymentsOut)."""

    mis_id: str
    payment_id: str
    amount: Decimal
    at: datetime | None


@dataclass(frozen=True)
class DeletionRecord:
    """A row deleted in the MIS, where the MIS (or its profile) can tell us."""

    entity: str  # appointment | payment | patient
    mis_id: str


Record = (
    PatientRecord
    | DoctorRecord
    | AppointmentRecord
    | PaymentRecord
    | PaymentReversalRecord
    | DeletionRecord
)


@dataclass
class Batch:
    records: list[Any] = field(default_factory=list)
    cursor: str | None = None
    # True when the read was cut at the batch size: call again with `cursor`.
    more: bool = False


class Connector(Protocol):
    profile_name: str

    def entities(self) -> list[str]: ...

    def test_connection(self) -> None: ...

    def read_changes(self, entity: str, cursor: str | None, limit: int = 1000) -> Batch: ...

    def close(self) -> None: ...
