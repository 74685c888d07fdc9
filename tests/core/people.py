"""Patients and their Telegram chats, written straight into a test's store."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import Patient, PatientLink, Subscriber

_next = [5_000_000]


def patient(
    s: Session,
    mis_id: str,
    *,
    first: str = "Анна",
    middle: str = "Сергеевна",
    last: str = "Иванова",
    birth: date | None = None,
    allowed: bool = True,
    status: str = "active",
    phones: list[str] | None = None,
) -> Patient:
    row = Patient(
        mis_id=mis_id,
        first_name=first,
        middle_name=middle,
        last_name=last,
        birth_date=birth,
        messaging_allowed=allowed,
        status=status,
        phones=phones or [],
    )
    s.add(row)
    s.flush()
    return row


def chat_for(
    s: Session,
    *patients: Patient,
    consent: bool = True,
    opted_out: datetime | None = None,
    unreachable: bool = False,
    language: str = "ru",
) -> Subscriber:
    _next[0] += 1
    sub = Subscriber(
        telegram_user_id=_next[0],
        chat_id=_next[0],
        consent_at=utcnow() if consent else None,
        consent_version="t" if consent else "",
        marketing_opt_out_at=opted_out,
        unreachable_at=utcnow() if unreachable else None,
        language=language,
    )
    s.add(sub)
    s.flush()
    for p in patients:
        s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=p.mis_id, phone=""))
    s.flush()
    return sub
