"""The day-before reminder with Confirm / Reschedule buttons (or an SMS, if switched on,
for a patient with no working bot chat)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.models import Appointment, Doctor, OutboxMessage, Patient, PatientLink, Subscriber
from core.outbox import PRIORITY_REMINDER, enqueue_many, inline_keyboard
from core.texts import render, when

BATCH = 500


def reminder_keyboard(appointment_id: int, lang: str) -> dict[str, Any]:
    return inline_keyboard(
        [
            [(render("btn_confirm", lang), f"c:{appointment_id}")],
            [(render("btn_reschedule", lang), f"r:{appointment_id}")],
        ]
    )


def plan_reminders(session: Session, config: Config, clock: Callable[[], datetime] = utcnow) -> int:
    """Queue reminders for visits `reminder_days_before` days ahead (clinic time).

    Due at the configured time of day, or at once if that time has passed (a visit booked
    in the evening for tomorrow still gets its reminder). Keyed by the visit's start, so a
    visit moved to another day gets a new reminder and an unchanged one never a second.
    """
    ids = _visits_of_the_day(session, config, clock())
    return sum(
        _plan_batch(session, config, clock(), ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)
    )


def plan_reminders_in_batches(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    """The same, committing every few hundred visits: the store is never locked for long
    and a crash keeps what was planned (the keys skip it next time)."""
    with factory() as session:
        ids = _visits_of_the_day(session, config, clock())
    queued = 0
    for i in range(0, len(ids), BATCH):
        with transaction(factory) as session:
            queued += _plan_batch(session, config, clock(), ids[i : i + BATCH])
    return queued


def _target_day(config: Config, now: datetime) -> tuple[datetime, datetime]:
    tz = config.clinic.tz
    today = now.astimezone(tz).date()
    day = today + timedelta(days=config.messaging.reminder_days_before)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    return start, start + timedelta(days=1)


def _visits_of_the_day(session: Session, config: Config, now: datetime) -> list[int]:
    """Ids of the target day's visits that may need a reminder, in one indexed read: the
    batches then fetch by id, instead of each re-reading the whole day to find its part."""
    start, end = _target_day(config, now)
    return list(
        session.scalars(
            select(Appointment.id)
            .where(
                Appointment.starts_at >= start,
                Appointment.starts_at < end,
                Appointment.status == "scheduled",
                Appointment.deleted.is_(False),
                Appointment.confirmation == "",
            )
            .order_by(Appointment.id)
        )
    )


def _plan_batch(session: Session, config: Config, now: datetime, ids: list[int]) -> int:
    """Reminders for these visits; returns how many were queued.

    The job runs every few minutes over every visit of the target day (30,000 at the
    largest clinics) while the dispatcher sends in the same process: so it reads plain
    columns, and renders only reminders that do not exist yet.
    """
    tz = config.clinic.tz
    m = config.messaging
    today = now.astimezone(tz).date()
    day_start, day_end = _target_day(config, now)
    due = max(datetime.combine(today, m.reminder_time, tzinfo=tz), now)
    rows = session.execute(
        select(
            Appointment.id,
            Appointment.mis_id,
            Appointment.starts_at,
            Patient.mis_id,
            Patient.first_name,
            Patient.middle_name,
            Patient.last_name,
            Patient.phones,
            Doctor.full_name,
            Doctor.specialty,
        )
        .join(Patient, Patient.mis_id == Appointment.patient_mis_id)
        .outerjoin(Doctor, Doctor.mis_id == Appointment.doctor_mis_id)
        .where(
            Appointment.id.in_(ids),
            # Checked again: the batch is read in its own transaction, after the ids.
            Appointment.starts_at >= day_start,
            Appointment.starts_at < day_end,
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
            Appointment.confirmation == "",
            Patient.messaging_allowed.is_(True),
            Patient.status != "deleted",
        )
        .order_by(Appointment.id)
    ).all()
    if not rows:
        return 0
    chats = _chats_of(session, [row[3] for row in rows])
    wanted: list[tuple[str, Any, _Chat | None]] = []
    for row in rows:
        appt_id, appt_mis_id, starts_at, patient_mis_id = row[:4]
        subs = chats.get(patient_mis_id, [])
        for chat in subs:
            wanted.append((f"reminder:{appt_mis_id}:{starts_at.isoformat()}:{chat.id}", row, chat))
        if not subs and m.sms_enabled and row.phones:
            # No working bot chat: the reminder (never a mailing) goes by SMS instead.
            wanted.append((f"reminder:{appt_mis_id}:{starts_at.isoformat()}:sms", row, None))
    existing = _existing_keys(session, [key for key, _, _ in wanted])
    out: list[dict[str, Any]] = []
    for key, row, sub in wanted:
        if key in existing:
            continue
        appt_id, _, starts_at, patient_mis_id, first, middle, last, phones, doctor, specialty = row
        name = " ".join(p for p in (first, middle) if p) or last
        doctor_text = f"{specialty} {doctor}".strip() if specialty else (doctor or "")
        if sub is not None:
            out.append(
                {
                    "key": key,
                    "chat_id": sub.chat_id,
                    "patient_mis_id": patient_mis_id,
                    "text": render(
                        "reminder",
                        sub.language,
                        name=name,
                        when=when(starts_at.astimezone(tz), today, sub.language),
                        doctor=doctor_text,
                    ),
                    "kind": "reminder",
                    "priority": PRIORITY_REMINDER,
                    "reply_markup": reminder_keyboard(appt_id, sub.language),
                    "due_at": due,
                }
            )
            continue
        phone_suffix = f", {config.clinic.phone}" if config.clinic.phone else ""
        lang = config.clinic.language
        out.append(
            {
                "key": key,
                "channel": "sms",
                "chat_id": 0,
                "phone": phones[0],
                "patient_mis_id": patient_mis_id,
                "text": render(
                    "reminder_sms",
                    lang,
                    name=name,
                    when=when(starts_at.astimezone(tz), today, lang),
                    doctor=doctor_text,
                    clinic=config.clinic.name,
                    phone=phone_suffix,
                ),
                "kind": "reminder",
                "priority": PRIORITY_REMINDER,
                "due_at": due,
            }
        )
    added = enqueue_many(session, out)
    return added


@dataclass(frozen=True)
class _Chat:
    id: int
    chat_id: int
    language: str


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk))))
    return found


def _chats_of(session: Session, patient_ids: list[str]) -> dict[str, list[_Chat]]:
    """Reachable chats of many patients in one query (a reminder run covers thousands)."""
    found: dict[str, list[_Chat]] = defaultdict(list)
    for patient_mis_id, sub_id, chat_id, language in session.execute(
        select(PatientLink.patient_mis_id, Subscriber.id, Subscriber.chat_id, Subscriber.language)
        .join(Subscriber, Subscriber.id == PatientLink.subscriber_id)
        .where(
            PatientLink.patient_mis_id.in_(patient_ids),
            Subscriber.unreachable_at.is_(None),
        )
        .order_by(Subscriber.id)
    ):
        found[patient_mis_id].append(_Chat(sub_id, chat_id, language))
    return found


def _doctor_label(doctor: Doctor | None) -> str:
    if doctor is None:
        return ""
    if doctor.specialty:
        return f"{doctor.specialty} {doctor.full_name}".strip()
    return doctor.full_name
