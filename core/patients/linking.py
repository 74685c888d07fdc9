"""Who a Telegram user is at the clinic: linking by a shared contact, and lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.conversations.lines import conversation_for
from core.models import Patient, PatientLink, PatientPhone, Subscriber, Task
from core.patients.persons import person_chats

CONSENT_VERSION = "2026-11"


def get_or_create_subscriber(
    session: Session,
    telegram_user_id: int,
    chat_id: int,
    *,
    first_name: str = "",
    last_name: str = "",
    username: str = "",
    language: str = "ru",
    channel: str = "telegram",
) -> Subscriber:
    # One subscriber per messenger account: user ids are only unique within a messenger.
    sub = session.scalar(
        select(Subscriber).where(
            Subscriber.channel == channel, Subscriber.telegram_user_id == telegram_user_id
        )
    )
    if sub is None:
        sub = Subscriber(
            channel=channel,
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            first_name=first_name or "",
            last_name=last_name or "",
            username=username or "",
            language="en" if (language or "").startswith("en") else "ru",
        )
        session.add(sub)
        session.flush()
    else:
        sub.chat_id = chat_id
        # Writing to us again means the block, if any, is lifted.
        sub.unreachable_at = None
        sub.unreachable_reason = ""
    sub.last_seen_at = utcnow()
    return sub


T = TypeVar("T")
# A chat's claim to be its person's messenger (chat_rank); compared, the greater wins.
Rank = tuple[datetime, datetime]
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def chat_rank(preferred_at: datetime | None, last_seen_at: datetime | None) -> Rank:
    """The messenger the person chose in the bot's settings (the newest choice) comes
    first; without a choice, the one they used last."""
    return (preferred_at or _NEVER, last_seen_at or _NEVER)


def one_chat_per_person(chats: Sequence[tuple[str, Rank | None, int, T]]) -> list[T]:
    """(phone, chat_rank, subscriber id, item) of one patient's chats -> the items to use.

    One person in two messengers (the same proven number linked in Telegram and in MAX) is
    written to once: in the one they chose, else the one used last (ties and never-seen:
    the one linked first). Chats of different numbers (a parent's and the patient's own)
    each get theirs.
    """
    chosen: dict[str, tuple[Rank | None, int, T]] = {}
    kept: list[tuple[int, T]] = []
    for phone, seen, sub_id, item in chats:
        if not phone:
            kept.append((sub_id, item))
            continue
        best = chosen.get(phone)
        if best is None or (seen is not None and (best[0] is None or seen > best[0])):
            chosen[phone] = (seen, sub_id, item)
    kept += [(sub_id, item) for _, sub_id, item in chosen.values()]
    return [item for _, item in sorted(kept, key=lambda pair: pair[0])]


def patients_by_phone(session: Session, phone: str) -> list[Patient]:
    """Every non-deleted patient with this number: families often share one phone."""
    return list(
        session.scalars(
            select(Patient)
            .join(PatientPhone, PatientPhone.patient_id == Patient.id)
            .where(PatientPhone.phone == phone, Patient.status != "deleted")
            .order_by(Patient.birth_date.is_(None), Patient.birth_date, Patient.id)
        )
    )


def link_by_phone(session: Session, sub: Subscriber, phone: str) -> list[Patient]:
    """Link the subscriber to every patient with their verified phone; oldest first.

    The oldest is taken to be the phone's owner (a parent booking for children) and is the
    one greeted; the rest are listed as family on the same number.
    """
    patients = patients_by_phone(session, phone)
    if sub.consent_at is None:
        sub.consent_at = utcnow()
        sub.consent_version = CONSENT_VERSION
    link_patients(session, sub, patients, phone)
    return patients


def candidates(session: Session, phone: str) -> list[Patient]:
    """Whom a chat sharing this number may be: its patients neither deleted nor archived."""
    return [p for p in patients_by_phone(session, phone) if p.status not in ("archived", "deleted")]


def link_patients(
    session: Session, sub: Subscriber, patients: list[Patient], phone: str
) -> list[tuple[Patient, Subscriber]]:
    """Link the subscriber to these patients (their verified phone is `phone`).

    Returns (patient, other subscriber) for each patient some other chat was already linked
    to: both links stay (a second phone, a spouse's Telegram), and the staff should know.
    """
    sub.phone = phone
    known = {link.patient_mis_id for link in sub.links}
    others: list[tuple[Patient, Subscriber]] = []
    for patient in patients:
        if patient.mis_id in known:
            continue
        for other in session.scalars(
            select(Subscriber)
            .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
            .where(
                PatientLink.patient_mis_id == patient.mis_id,
                Subscriber.id != sub.id,
                # The same number in another messenger is the same person's second chat
                # (Telegram and MAX), not someone else's account to tell the staff about.
                or_(Subscriber.phone != phone, Subscriber.channel == sub.channel),
            )
        ):
            others.append((patient, other))
        session.add(PatientLink(subscriber_id=sub.id, patient_mis_id=patient.mis_id, phone=phone))
    session.flush()
    session.expire(sub, ["links"])
    if len(person_chats(session, sub)) > 1:
        # The person's chat in another messenger: one thread from now on, the two joined
        # here rather than at the next line.
        conversation_for(session, sub)
    return others


def waiting_subscribers(session: Session, phones: list[str]) -> list[Subscriber]:
    """Chats that shared one of these numbers as their own contact and were not recognised
    (no patient had it then): they wait to be linked when the MIS gets the patient."""
    if not phones:
        return []
    return list(
        session.scalars(
            select(Subscriber)
            .where(
                Subscriber.phone.in_(phones),
                ~exists().where(PatientLink.subscriber_id == Subscriber.id),
                # Only chats told "not found": one choosing among several patients on its
                # number («Кто вы?») is not linked to all of them behind its back.
                exists().where(Task.subscriber_id == Subscriber.id, Task.kind == "unknown_patient"),
            )
            .order_by(Subscriber.id)
        )
    )


def linked_patients(session: Session, sub: Subscriber) -> list[Patient]:
    return list(
        session.scalars(
            select(Patient)
            .join(PatientLink, PatientLink.patient_mis_id == Patient.mis_id)
            .where(PatientLink.subscriber_id == sub.id)
            .order_by(Patient.birth_date.is_(None), Patient.birth_date, Patient.id)
        )
    )


def reachable_subscribers(session: Session, patient_mis_id: str) -> list[Subscriber]:
    """Chats that may receive messages about this patient: reachable, and not having muted
    this patient in «Семья» (core.patients.family)."""
    found = list(
        session.scalars(
            select(Subscriber)
            .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
            .where(
                PatientLink.patient_mis_id == patient_mis_id,
                PatientLink.muted.is_(False),
                Subscriber.unreachable_at.is_(None),
            )
        )
    )
    # A person linked in Telegram and in MAX is written to in one of them
    # (core.messengers: the one chosen in settings, else the one used last).
    return one_chat_per_person(
        [(s.phone, chat_rank(s.preferred_at, s.last_seen_at), s.id, s) for s in found]
    )


def is_linked(session: Session, sub: Subscriber, patient_mis_id: str) -> bool:
    return (
        session.scalar(
            select(PatientLink.id).where(
                PatientLink.subscriber_id == sub.id, PatientLink.patient_mis_id == patient_mis_id
            )
        )
        is not None
    )


def age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
