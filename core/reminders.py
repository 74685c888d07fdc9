"""Reminder sequences: before each visit, at each step the clinic configures
(messaging.reminder_sequence, e.g. ["3d", "1d", "2h"]), a reminder with Confirm / Reschedule /
Cancel until the patient answers; once confirmed, only a same-day «ждём вас в 10:00» with the
address. An SMS, if switched on, for a patient with no working bot chat (one step only).

With no sequence configured the one step is the old day-before reminder
(`reminder_days_before` at `reminder_send_at`), keyed as before.

Every key names the visit's start, so a moved visit starts its sequence again for the new
time; what was queued for the old time, or for a cancelled visit, is cancelled by the rules
(`cancel_queued`). A step whose message the quiet hours would hold until the visit is about
to begin is skipped rather than sent late.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.models import Appointment, Doctor, OutboxMessage, Patient, PatientLink, Subscriber
from core.outbox import PRIORITY_REMINDER, QuietHours, enqueue_many, inline_keyboard
from core.patients.linking import Rank, chat_rank, one_chat_per_person
from core.settings import store as settings
from core.texts import render, when

BATCH = 500
# The least time before a visit a reminder is still worth sending (else the step is skipped).
LEAST_AHEAD = timedelta(minutes=30)
# How late an hours step may still be sent when the planner or the booking came after it.
HOURS_GRACE = timedelta(minutes=30)
KINDS = ("reminder", "awaiting")


@dataclass(frozen=True)
class Step:
    label: str  # "3d", "2h"; "" for the old single reminder (keys stay as they were)
    days: int = 0
    hours: int = 0


def steps(config: Config) -> list[Step]:
    m = config.messaging
    if not m.reminder_sequence:
        return [Step("", days=m.reminder_days_before)]
    out = []
    for label in m.reminder_sequence:
        n, unit = int(label[:-1]), label[-1]
        out.append(Step(label, days=n) if unit == "d" else Step(label, hours=n))
    return out


def sms_step(all_steps: list[Step]) -> Step:
    """The one step that also goes by SMS: the nearest day before, else the earliest hours
    step (three texts a visit would cost the clinic three times)."""
    by_days = [s for s in all_steps if s.days]
    if by_days:
        return min(by_days, key=lambda s: s.days)
    return max(all_steps, key=lambda s: s.hours)


def reminder_keyboard(appointment_id: int, lang: str) -> dict[str, Any]:
    return inline_keyboard(
        [
            [(render("btn_confirm", lang), f"c:{appointment_id}")],
            [(render("btn_reschedule", lang), f"r:{appointment_id}")],
            [(render("btn_cancel_visit", lang), f"x:{appointment_id}")],
        ]
    )


def plan_reminders(session: Session, config: Config, clock: Callable[[], datetime] = utcnow) -> int:
    """Queue what each step owes now; returns how many messages were queued."""
    config = settings.effective(session, config)  # the sequence and hours set on «Настройки»
    queued = 0
    for step in steps(config):
        ids = _candidates(session, config, step, clock())
        for i in range(0, len(ids), BATCH):
            queued += _plan_batch(session, config, clock(), step, ids[i : i + BATCH])
    return queued


def plan_reminders_in_batches(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    """The same, committing every few hundred visits: the store is never locked for long
    and a crash keeps what was planned (the keys skip it next time)."""
    config = settings.in_force(factory, config)  # the sequence and hours set on «Настройки»
    queued = 0
    for step in steps(config):
        with factory() as session:
            ids = _candidates(session, config, step, clock())
        for i in range(0, len(ids), BATCH):
            with transaction(factory) as session:
                queued += _plan_batch(session, config, clock(), step, ids[i : i + BATCH])
    return queued


def cancel_queued(session: Session, appointment_mis_id: str, keep_starts_at: str = "") -> int:
    """Cancel the visit's reminders not yet sent, except those for `keep_starts_at` (its
    current start, ISO): the visit was cancelled, moved, answered or has begun."""
    prefixes = [f"{kind}:{appointment_mis_id}:" for kind in KINDS]
    clauses = [OutboxMessage.key.startswith(p, autoescape=True) for p in prefixes]
    query = update(OutboxMessage).where(
        OutboxMessage.state.in_(("pending", "claimed")),
        OutboxMessage.kind.in_(KINDS),
        or_(*clauses),
    )
    if keep_starts_at:
        kept = [
            OutboxMessage.key.startswith(f"{p}{keep_starts_at}:", autoescape=True) for p in prefixes
        ]
        query = query.where(~or_(*kept))
    result = session.execute(query.values(state="cancelled", last_error="visit changed"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_asks(session: Session, appointment_mis_id: str) -> int:
    """Cancel the visit's queued requests to confirm (it was answered); a same-day
    «ждём вас» may still come."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.state.in_(("pending", "claimed")),
            OutboxMessage.kind == "reminder",
            OutboxMessage.key.startswith(f"reminder:{appointment_mis_id}:", autoescape=True),
        )
        .values(state="cancelled", last_error="answered")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _window(config: Config, step: Step, now: datetime) -> tuple[datetime, datetime]:
    """The starts of the visits this step owes a message now."""
    if step.hours:
        ahead = timedelta(hours=step.hours)
        # A visit exactly N hours away is due now (the end is exclusive, hence the second).
        return max(now, now + ahead - HOURS_GRACE), now + ahead + timedelta(seconds=1)
    tz = config.clinic.tz
    day = now.astimezone(tz).date() + timedelta(days=step.days)
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    return start, start + timedelta(days=1)


def _due(config: Config, step: Step, starts_at: datetime, now: datetime) -> datetime:
    if step.hours:
        return max(starts_at - timedelta(hours=step.hours), now)
    today = now.astimezone(config.clinic.tz).date()
    return max(
        datetime.combine(today, config.messaging.reminder_time, tzinfo=config.clinic.tz), now
    )


def _candidates(session: Session, config: Config, step: Step, now: datetime) -> list[int]:
    """Ids of the visits that may need this step, in one indexed read: the batches then
    fetch by id, instead of each re-reading the whole window to find its part."""
    start, end = _window(config, step, now)
    return list(
        session.scalars(
            select(Appointment.id)
            .where(
                Appointment.starts_at >= start,
                Appointment.starts_at < end,
                Appointment.starts_at > now,
                Appointment.status == "scheduled",
                Appointment.deleted.is_(False),
                Appointment.confirmation.in_(("", "confirmed")),
            )
            .order_by(Appointment.id)
        )
    )


def _plan_batch(session: Session, config: Config, now: datetime, step: Step, ids: list[int]) -> int:
    """This step's messages for these visits; returns how many were queued.

    The job runs every few minutes over every visit of the window (30,000 at the largest
    clinics) while the dispatcher sends in the same process: so it reads plain columns,
    and renders only messages that do not exist yet.
    """
    tz = config.clinic.tz
    m = config.messaging
    quiet = QuietHours(m.quiet_start, m.quiet_end, tz)
    today = now.astimezone(tz).date()
    start, end = _window(config, step, now)
    rows = session.execute(
        select(
            Appointment.id,
            Appointment.mis_id,
            Appointment.starts_at,
            Appointment.confirmation,
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
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
            Appointment.starts_at > now,
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
            Appointment.confirmation.in_(("", "confirmed")),
            Patient.messaging_allowed.is_(True),
            Patient.status != "deleted",
        )
        .order_by(Appointment.id)
    ).all()
    if not rows:
        return 0
    chats = _chats_of(session, [row[4] for row in rows])
    with_sms = m.sms_enabled and step == sms_step(steps(config))
    wanted: list[tuple[str, Any, _Chat | None, datetime]] = []
    for row in rows:
        appt_mis_id, starts_at, confirmation, patient_mis_id = row[1:5]
        due = _due(config, step, starts_at, now)
        resume = quiet.next_allowed(due) or due
        if resume > starts_at - LEAST_AHEAD:
            continue  # held by the quiet hours until too late: this step is skipped
        every_chat = chats.get(patient_mis_id, [])
        subs = [chat for chat in every_chat if not chat.muted]
        if confirmation == "confirmed":
            # Confirmed: only one same-day «ждём вас», from the first step on the visit's day.
            if resume.astimezone(tz).date() != starts_at.astimezone(tz).date():
                continue
            for chat in subs:
                wanted.append(
                    (f"awaiting:{appt_mis_id}:{starts_at.isoformat()}:{chat.id}", row, chat, due)
                )
            continue
        stem = f"reminder:{appt_mis_id}:{starts_at.isoformat()}:" + (
            f"{step.label}:" if step.label else ""
        )
        for chat in subs:
            wanted.append((f"{stem}{chat.id}", row, chat, due))
        if not every_chat and with_sms and row.phones:
            # No working bot chat: the reminder (never a mailing) goes by SMS instead.
            wanted.append((f"{stem}sms", row, None, due))
    existing = _existing_keys(session, [key for key, _, _, _ in wanted])
    # A person in two messengers: sent already by their other chat (before they chose or
    # used this one, or handed over after a 403), it is not sent again by this one.
    elsewhere = {
        f"{key.rpartition(':')[0]}:{other}": key
        for key, _, chat, _ in wanted
        if chat is not None
        for other in chat.others
    }
    existing |= {elsewhere[k] for k in _existing_keys(session, list(elsewhere))}
    out = [
        _message(config, key, row, chat, due, today)
        for key, row, chat, due in wanted
        if key not in existing
    ]
    return enqueue_many(session, out)


def _message(
    config: Config, key: str, row: Any, sub: _Chat | None, due: datetime, today: date
) -> dict[str, Any]:
    tz = config.clinic.tz
    appt_id, _, starts_at, _, patient_mis_id, first, middle, last, phones, doctor, specialty = row
    name = " ".join(p for p in (first, middle) if p) or last
    doctor_text = f"{specialty} {doctor}".strip() if specialty else (doctor or "")
    common = {
        "key": key,
        "patient_mis_id": patient_mis_id,
        "priority": PRIORITY_REMINDER,
        "due_at": due,
    }
    if sub is None:
        lang = config.clinic.language
        phone_suffix = f", {config.clinic.phone}" if config.clinic.phone else ""
        text = render(
            "reminder_sms",
            lang,
            name=name,
            when=when(starts_at.astimezone(tz), today, lang),
            doctor=doctor_text,
            clinic=config.clinic.name,
            phone=phone_suffix,
        )
        return {
            **common,
            "channel": "sms",
            "chat_id": 0,
            "phone": phones[0],
            "text": text,
            "kind": "reminder",
        }
    if key.startswith("awaiting:"):
        address = config.clinic.address
        text = render(
            "awaiting",
            sub.language,
            name=name,
            time=starts_at.astimezone(tz).strftime("%H:%M"),
            doctor=doctor_text,
            address=render("awaiting_address", sub.language, address=address) if address else "",
        )
        return {
            **common,
            "channel": sub.channel,
            "chat_id": sub.chat_id,
            "text": text,
            "kind": "awaiting",
        }
    text = render(
        "reminder",
        sub.language,
        name=name,
        # "today" as of when it is read: the day it is due, not the day it was planned.
        when=when(starts_at.astimezone(tz), due.astimezone(tz).date(), sub.language),
        doctor=doctor_text,
    )
    return {
        **common,
        "channel": sub.channel,
        "chat_id": sub.chat_id,
        "text": text,
        "kind": "reminder",
        "reply_markup": reminder_keyboard(appt_id, sub.language),
    }


@dataclass(frozen=True)
class _Chat:
    id: int
    chat_id: int
    language: str
    channel: str = "telegram"  # the messenger the chat is in
    muted: bool = False  # the patient is muted in this chat's «Семья»: nothing goes there
    others: tuple[int, ...] = ()  # the person's chats in other messengers (any state)


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk))))
    return found


def _person_chats(session: Session, phones: set[str]) -> dict[str, list[int]]:
    """Every chat proven on these numbers, blocked ones too (their keys count)."""
    found: dict[str, list[int]] = defaultdict(list)
    wanted = sorted(p for p in phones if p)
    for start in range(0, len(wanted), 500):
        for phone, sub_id in session.execute(
            select(Subscriber.phone, Subscriber.id).where(
                Subscriber.phone.in_(wanted[start : start + 500])
            )
        ):
            found[phone].append(sub_id)
    return found


def _chats_of(session: Session, patient_ids: list[str]) -> dict[str, list[_Chat]]:
    """Reachable chats of many patients in one query (a reminder run covers thousands)."""
    seen: dict[str, list[tuple[str, Rank, int, _Chat]]] = defaultdict(list)
    held: dict[str, list[_Chat]] = defaultdict(list)
    for (
        patient_mis_id,
        sub_id,
        chat_id,
        language,
        channel,
        phone,
        last_seen,
        preferred,
        muted,
    ) in session.execute(
        select(
            PatientLink.patient_mis_id,
            Subscriber.id,
            Subscriber.chat_id,
            Subscriber.language,
            Subscriber.channel,
            Subscriber.phone,
            Subscriber.last_seen_at,
            Subscriber.preferred_at,
            PatientLink.muted,
        )
        .join(Subscriber, Subscriber.id == PatientLink.subscriber_id)
        .where(
            PatientLink.patient_mis_id.in_(patient_ids),
            Subscriber.unreachable_at.is_(None),
        )
        .order_by(Subscriber.id)
    ):
        if muted:
            # Muted in that chat's «Семья»: no message there, yet the patient is not
            # "without a chat" either, so no SMS goes instead.
            held[patient_mis_id].append(_Chat(sub_id, chat_id, language, channel, muted=True))
            continue
        seen[patient_mis_id].append(
            (
                phone,
                chat_rank(preferred, last_seen),
                sub_id,
                _Chat(sub_id, chat_id, language, channel),
            )
        )
    # A patient in Telegram and in MAX on the same number gets one reminder, by the
    # messenger chosen in settings, else the one used last (core.patients.linking.one_chat_per_person);
    # each chosen chat knows the person's others, whose keys say it was sent already.
    others = _person_chats(session, {phone for chats in seen.values() for phone, *_ in chats})
    found: dict[str, list[_Chat]] = defaultdict(list)
    for patient_mis_id, chats in seen.items():
        phone_of = {chat.id: phone for phone, _, _, chat in chats}
        found[patient_mis_id] = [
            replace(
                chat, others=tuple(i for i in others.get(phone_of[chat.id], ()) if i != chat.id)
            )
            for chat in one_chat_per_person(chats)
        ]
    for patient_mis_id, muted_chats in held.items():
        found[patient_mis_id] += muted_chats
    return found
