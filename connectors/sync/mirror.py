"""The mirror tables the sync fills: which model each record type goes to, the columns the
sync owns there, and the content digest that makes a re-read of an unchanged row quiet."""

from __future__ import annotations

import hashlib
from dataclasses import fields
from typing import Any, cast

from sqlalchemy import Table

from connectors.base import AppointmentRecord, DoctorRecord, PatientRecord, PaymentRecord
from core.db import Base
from core.models import Appointment, Doctor, Patient, Payment

MODELS: dict[str, type[Base]] = {
    "doctor": Doctor,
    "patient": Patient,
    "appointment": Appointment,
    "payment": Payment,
}
# The record class each mirror table is filled from.
RECORDS: dict[str, type] = {
    "doctor": DoctorRecord,
    "patient": PatientRecord,
    "appointment": AppointmentRecord,
    "payment": PaymentRecord,
}
# The mirror columns the sync owns and writes; everything else on those tables (a visit's
# confirmation, say) belongs to Kabinet and is never touched by a sync.
SYNC_COLUMNS: dict[str, tuple[str, ...]] = {
    "doctor": ("full_name", "specialty", "content_hash"),
    "patient": (
        "last_name",
        "first_name",
        "middle_name",
        "birth_date",
        "phones",
        "family_id",
        "status",
        "messaging_allowed",
        "content_hash",
        "updated_at",
    ),
    "appointment": (
        "patient_mis_id",
        "doctor_mis_id",
        "branch_id",
        "starts_at",
        "ends_at",
        "status",
        "services",
        "deleted",
        "content_hash",
        "updated_at",
    ),
    "payment": ("patient_mis_id", "paid_at", "amount", "method", "reversed", "content_hash"),
}
# Patient fields whose change is news (a phone, the "no messages" flag...).
PATIENT_FIELDS = SYNC_COLUMNS["patient"][:-2]


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def content_hash(record: Any) -> str:
    """A digest of a record's content: equal digests mean nothing changed.

    Each field as text, joined by a separator no MIS value contains: str() of datetimes,
    Decimals and tuples is done in C, which an initial import of a million rows notices.
    """
    text = "\x1f".join([str(getattr(record, name)) for name in _field_names(type(record))])
    return hashlib.sha256(text.encode()).hexdigest()
