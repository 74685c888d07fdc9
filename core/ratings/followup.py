"""After a score: the optional comment, and «Обсудить с руководством» on a low one.

The comment is the patient's next message within `COMMENT_WITHIN` of the score (or
nothing, with «Без комментария»); on a low score it is added to the service-recovery task
the score opened. «Обсудить с руководством» opens an episode of kind `MANAGER_KIND` for the
clinic's managers: announced in the staff group like any task, and the linked owners and
managers are pinged at once rather than only on escalation.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.conversations import staff_group
from core.conversations.staff_links import managers_to_ping
from core.models import Appointment, Doctor, Patient, Subscriber, Task, VisitRating
from core.outbox import PRIORITY_STAFF, enqueue
from core.ratings.scale import shown_score
from core.tasks import create_task
from core.texts import on_date, render

COMMENT_PREFIX = "rc"  # rc:<rating id> - «Без комментария»
MANAGER_PREFIX = "rm"  # rm:<rating id> - «Обсудить с руководством»
MANAGER_KIND = "manager_discussion"
COMMENT_WITHIN = timedelta(hours=1)
MAX_COMMENT = 2000


def followup_keyboard(rating_id: int, low: bool, lang: str) -> dict[str, Any]:
    rows = [
        [{"text": render("btn_no_comment", lang), "callback_data": f"{COMMENT_PREFIX}:{rating_id}"}]
    ]
    if low:
        rows.append(
            [
                {
                    "text": render("btn_discuss_manager", lang),
                    "callback_data": f"{MANAGER_PREFIX}:{rating_id}",
                }
            ]
        )
    return {"inline_keyboard": rows}


def own_rating(session: Session, sub: Subscriber, data: str) -> VisitRating | None:
    """The rating a follow-up button names, if it is this chat's own and was scored."""
    parts = data.split(":")
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    rating = session.get(VisitRating, int(parts[1]))
    if rating is None or rating.subscriber_id != sub.id or rating.score is None:
        return None
    return rating


def awaiting_comment(session: Session, sub: Subscriber, now: datetime) -> VisitRating | None:
    return session.scalar(
        select(VisitRating)
        .where(
            VisitRating.subscriber_id == sub.id,
            VisitRating.comment_state == "asked",
            VisitRating.answered_at >= now - COMMENT_WITHIN,
        )
        .order_by(VisitRating.answered_at.desc())
        .limit(1)
    )


def record_comment(session: Session, config: Config, rating: VisitRating, text: str) -> None:
    rating.comment, rating.comment_state = text.strip()[:MAX_COMMENT], "given"
    task = session.get(Task, rating.task_id) if rating.task_id is not None else None
    if task is not None:
        line = render(
            "task_rating_comment",
            config.clinic.language,
            score=shown_score(rating.score or 0, rating.scale),
            comment=rating.comment,
        )
        task.text = f"{task.text}\n\n{line}"
        staff_group.refresh(session, config, task, urgent=True)


def open_manager_episode(
    session: Session, config: Config, sub: Subscriber, rating: VisitRating
) -> Task:
    lang = config.clinic.language
    tz = config.clinic.tz
    patient = session.scalar(select(Patient).where(Patient.mis_id == rating.patient_mis_id))
    appt = session.scalar(
        select(Appointment).where(Appointment.mis_id == rating.appointment_mis_id)
    )
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == rating.doctor_mis_id))
    text = render(
        "task_manager_discussion",
        lang,
        patient=patient.full_name if patient else rating.patient_mis_id,
        phone=sub.phone or "—",
        score=shown_score(rating.score or 0, rating.scale),
        when=on_date(appt.starts_at.astimezone(tz), lang) if appt else "",
        doctor=f"{doctor.specialty} {doctor.full_name}".strip() if doctor else "",
    )
    if rating.comment:
        text += "\n" + render("task_rating_comment", lang, score="", comment=rating.comment)
    key = f"manager:{rating.id}"
    existing = session.scalar(select(Task).where(Task.key == key))
    task = create_task(
        session,
        config,
        kind=MANAGER_KIND,
        key=key,
        text=text,
        subscriber_id=sub.id,
        patient_mis_id=rating.patient_mis_id,
        appointment_mis_id=rating.appointment_mis_id,
        acknowledged=True,  # the patient is told at once
    )
    staff_chat = config.telegram.staff_chat_id
    if existing is None and staff_chat:
        mentions = " ".join(
            f'<a href="tg://user?id={tg}">{html.escape(name)}</a>'
            for name, tg in managers_to_ping(session)
        )
        enqueue(
            session,
            key=f"task:{task.id}:managers",
            chat_id=staff_chat,
            text=render("staff_ping_managers", lang, id=task.id, who=mentions),
            kind="task",
            priority=PRIORITY_STAFF,
            parse_mode="HTML",
            respect_quiet_hours=False,
        )
    return task
