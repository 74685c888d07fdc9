"""The day-before reminder with Confirm / Reschedule buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.db import utcnow
from core.models import Appointment, Patient
from core.outbox import PRIORITY_NOTICE, enqueue, inline_keyboard
from core.patients import reachable_subscribers
from core.rules import doctor_label
from core.texts import render, when


def reminder_keyboard(appointment: Appointment, lang: str) -> dict:
    return inline_keyboard(
        [
            [(render("btn_confirm", lang), f"c:{appointment.id}")],
            [(render("btn_reschedule", lang), f"r:{appointment.id}")],
        ]
    )


def plan_reminders(session: Session, config: Config, clock: Callable[[], datetime] = utcnow) -> int:
    """Queue reminders for visits `reminder_days_before` days ahead (clinic time).

    Due at the configured time of day, or at once if that time has passed (a visit booked
    in the evening for tomorrow still gets its reminder). Keyed by the visit's start, so a
    visit moved to another day gets a new reminder and an unchanged one never a second.
    """
    tz = config.clinic.tz
    now = clock()
    today = now.astimezone(tz).date()
    target_day = today + timedelta(days=config.messaging.reminder_days_before)
    day_start = datetime.combine(target_day, datetime.min.time(), tzinfo=tz)
    due = max(datetime.combine(today, config.messaging.reminder_time, tzinfo=tz), now)
    rows = session.execute(
        select(Appointment, Patient)
        .join(Patient, Patient.mis_id == Appointment.patient_mis_id)
        .where(
            Appointment.starts_at >= day_start,
            Appointment.starts_at < day_start + timedelta(days=1),
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
            Appointment.confirmation == "",
            Patient.messaging_allowed.is_(True),
            Patient.status != "deleted",
        )
    ).all()
    queued = 0
    for appt, patient in rows:
        for sub in reachable_subscribers(session, patient.mis_id):
            text = render(
                "reminder",
                sub.language,
                name=patient.address_name,
                when=when(appt.starts_at.astimezone(tz), today, sub.language),
                doctor=doctor_label(session, appt.doctor_mis_id),
            )
            if enqueue(
                session,
                key=f"reminder:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}",
                chat_id=sub.chat_id,
                text=text,
                kind="reminder",
                priority=PRIORITY_NOTICE,
                reply_markup=reminder_keyboard(appt, sub.language),
                due_at=due,
            ):
                queued += 1
    return queued
