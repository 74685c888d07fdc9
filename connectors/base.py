"""The engine-neutral connector interface and the canonical records every profile yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

# Sync order matters: appointments name doctors and patients, payments name patients.
ENTITIES = ("doctor", "patient", "appointment", "payment", "payment_reversal", "deletion")


class ConnectorError(RuntimeError):
    """A failure reading the MIS. `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, kind: str = "error") -> None:
        super().__init__(message)
        self.retryable = retryable
        # unreachable | timeout | permission | missing_column | config | error
        # | missing_row (a write found no row to change) | unsupported (no such capability)
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
    # The visit the payment is for, where the MIS links them (IDENT PaymentsIn.ID_Receptions):
    # cashback rules by service, doctor or branch look the visit up.
    appointment_id: str = ""


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


@dataclass(frozen=True)
class Sweep:
    """A window read: every `record` row of the MIS whose `field` is at or after `since`.

    Mirror rows in that range which the read (all its batches) did not return were
    deleted in the MIS.
    """

    record: str  # appointment | payment
    field: str  # starts_at | paid_at
    since: datetime  # aware
    max_fraction: float = 0.5


@dataclass
class Batch:
    records: list[Any] = field(default_factory=list)
    cursor: str | None = None
    # True when the read was cut at the batch size: call again with `cursor`.
    more: bool = False
    # Set on every batch of a window read; `seen` holds the MIS ids of all rows read,
    # including rows that could not be mapped (they exist, so they were not deleted).
    sweep: Sweep | None = None
    seen: set[str] = field(default_factory=set)
    # A content digest per record, when the connector can make one more cheaply than the
    # sync engine (from the raw row); None: the engine hashes the records.
    hashes: list[str] | None = None


class Connector(Protocol):
    profile_name: str

    def entities(self) -> list[str]: ...

    def record_type(self, entity: str) -> str: ...

    def test_connection(self) -> None: ...

    def read_changes(
        self,
        entity: str,
        cursor: str | None,
        limit: int = 1000,
        *,
        resume: bool = False,
        now: datetime | None = None,
    ) -> Batch:
        """Rows changed after `cursor`. `resume` is true when `cursor` came from the previous
        batch of the same run (continue exactly there); false at the start of a run (a
        timestamp read steps back by its overlap, a window read starts over if due)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ConfirmsVisits(Protocol):
    """An optional capability: writing a patient's confirmation back to the MIS.

    `confirm_column()` names the column written ("Receptions.IsNotified"), or is None when
    the profile has none; `confirm_visit()` writes it for one visit (ConnectorError on
    failure, `retryable` saying whether trying again can help)."""

    def confirm_column(self) -> str | None: ...

    def confirm_visit(self, visit_id: str) -> None: ...


def confirm_column(connector: object) -> str | None:
    """The column `connector` writes confirmations to; None: it cannot."""
    return connector.confirm_column() if isinstance(connector, ConfirmsVisits) else None
