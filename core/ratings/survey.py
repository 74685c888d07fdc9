"""A short rating after each completed visit, on the clinic's scale (1-5, 1-10 or smileys),
an optional comment, and service recovery for low scores (core.ratings.followup).

Review links follow the platforms' rules (no "review gating"): when the clinic configured
any (core.ratings.review_links picks which by its policy, never by a score), they are
offered in the rating request itself, to every patient asked (at most once per
`review_every_days` per patient), before any score exists, and they stay on the message
whatever score is given. A low score only opens a task for the staff to call the patient
back; it never decides who is asked for a review, and points never depend on a review.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.models import Appointment, Doctor, Patient, PatientLink, Subscriber, VisitRating
from core.outbox import PRIORITY_REMINDER, PRIORITY_REPLY, enqueue
from core.patients.linking import chat_rank, one_chat_per_person
from core.patients.notice_prefs import wants_clause
from core.ratings import review_links
from core.ratings.followup import followup_keyboard
from core.ratings.scale import SCALE_OF_SETTING, SMILEYS, is_low, shown_score, top_score
from core.settings import store as settings
from core.tasks import create_task
from core.texts import render, when

RATING_PREFIX = "rt"
# A visit that ended longer ago than this is not asked about any more (e.g. after downtime,
# or visits imported as history at installation).
ASK_WITHIN = timedelta(days=1)


REQUEST_TEXT = {
    "5": "rating_request",
    "10": "rating_request_10",
    "smileys": "rating_request_smileys",
}


def rating_keyboard(
    rating_id: int, review_rows: list[list[dict[str, Any]]], lang: str, scale: str = "5"
) -> dict[str, Any]:
    """The score buttons, then the review buttons (core.ratings.review_links), one a row."""

    def button(score: int) -> dict[str, str]:
        label = SMILEYS[score - 1] if scale == "smileys" else str(score)
        return {"text": label, "callback_data": f"{RATING_PREFIX}:{rating_id}:{score}"}

    scores = list(range(1, top_score(scale) + 1))
    # Ten buttons in two rows of five: one row of ten is too narrow on a phone.
    rows: list[list[dict[str, Any]]] = [
        [button(n) for n in scores[i : i + 5]] for i in range(0, len(scores), 5)
    ]
    return {"inline_keyboard": rows + review_rows}


def _one_chat_per_visit(session: Session, rows: Sequence[Any]) -> list[Any]:
    """(appointment, patient, chat, doctor) rows -> one chat per person and visit.

    A person in Telegram and in MAX is asked once, in the messenger they chose or used
    last; asked already in the other (before they switched, or handed over after a 403),
    they are not asked again.
    """
    ids = sorted({row[0].mis_id for row in rows})
    asked = set(
        session.execute(
            select(VisitRating.appointment_mis_id, Subscriber.phone)
            .join(Subscriber, Subscriber.id == VisitRating.subscriber_id)
            .where(VisitRating.appointment_mis_id.in_(ids), Subscriber.phone != "")
        ).all()
    )
    by_visit: dict[str, list[tuple[int, Any]]] = {}
    for order, row in enumerate(rows):
        if (row[0].mis_id, row[2].phone) not in asked:
            by_visit.setdefault(row[0].mis_id, []).append((order, row))
    kept: list[tuple[int, Any]] = []
    for group in by_visit.values():
        kept += one_chat_per_person(
            [
                (
                    row[2].phone,
                    chat_rank(row[2].preferred_at, row[2].last_seen_at),
                    row[2].id,
                    (order, row),
                )
                for order, row in group
            ]
        )
    return [row for _, row in sorted(kept, key=lambda item: item[0])]


def plan_rating_requests(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    config = settings.in_force(factory, config)  # the scale and link set on «Настройки»
    m = config.messaging
    if not m.rating_enabled:
        return 0
    now = clock()
    tz = config.clinic.tz
    scale = SCALE_OF_SETTING[m.rating_scale]
    with transaction(factory) as session:
        rows = session.execute(
            select(Appointment, Patient, Subscriber, Doctor)
            .join(Patient, Patient.mis_id == Appointment.patient_mis_id)
            .join(PatientLink, PatientLink.patient_mis_id == Patient.mis_id)
            .join(Subscriber, Subscriber.id == PatientLink.subscriber_id)
            .outerjoin(Doctor, Doctor.mis_id == Appointment.doctor_mis_id)
            .where(
                Appointment.status == "completed",
                Appointment.deleted.is_(False),
                Appointment.ends_at <= now - timedelta(minutes=m.rating_delay_minutes),
                Appointment.ends_at >= now - timedelta(minutes=m.rating_delay_minutes) - ASK_WITHIN,
                Patient.messaging_allowed.is_(True),
                Patient.status != "deleted",
                Subscriber.unreachable_at.is_(None),
                # The chat's «Настройки» and «Семья» (core.patients.notice_prefs, core.patients.family).
                wants_clause("ratings"),
                PatientLink.muted.is_(False),
                ~exists().where(
                    VisitRating.appointment_mis_id == Appointment.mis_id,
                    VisitRating.subscriber_id == Subscriber.id,
                ),
            )
            .order_by(Appointment.ends_at)
        ).all()
        rows = _one_chat_per_visit(session, rows)
        asked = 0
        offered_now: set[str] = set()
        links = review_links.configured(m)
        chooser = review_links.Chooser(session, links, m.review_policy)
        for appt, patient, sub, doctor in rows:
            offer = bool(links) and patient.mis_id not in offered_now
            if offer and m.review_every_days:
                since = now - timedelta(days=m.review_every_days)
                offer = (
                    session.scalar(
                        select(VisitRating.id).where(
                            VisitRating.patient_mis_id == patient.mis_id,
                            VisitRating.review_link_offered.is_(True),
                            VisitRating.asked_at >= since,
                        )
                    )
                    is None
                )
            rating = VisitRating(
                appointment_mis_id=appt.mis_id,
                patient_mis_id=patient.mis_id,
                subscriber_id=sub.id,
                doctor_mis_id=appt.doctor_mis_id,
                asked_at=now,
                review_link_offered=offer,
                scale=scale,
            )
            session.add(rating)
            session.flush()
            review_rows: list[list[dict[str, Any]]] = []
            if offer:
                offered_now.add(patient.mis_id)
                review_rows = review_links.offer(
                    session,
                    rating.id,
                    patient.mis_id,
                    chooser.next(),
                    config.web.public_url,
                    sub.language,
                    now,
                )
            doctor_text = (
                f"{doctor.specialty} {doctor.full_name}".strip() if doctor is not None else ""
            )
            text = render(
                REQUEST_TEXT[scale],
                sub.language,
                name=patient.address_name,
                when=when(appt.starts_at.astimezone(tz), now.astimezone(tz).date(), sub.language),
                doctor=doctor_text,
            )
            if offer:
                text += "\n\n" + render("rating_review_invite", sub.language)
            enqueue(
                session,
                key=f"rating:{appt.mis_id}:{sub.id}",
                chat_id=sub.chat_id,
                channel=sub.channel,
                patient_mis_id=patient.mis_id,
                text=text,
                kind="rating",
                priority=PRIORITY_REMINDER,
                reply_markup=rating_keyboard(rating.id, review_rows, sub.language, scale),
            )
            asked += 1
        return asked


@dataclass
class RatingAnswer:
    notice: str  # the button's toast: "" when all is well
    accepted: bool = False


def record_rating(
    session: Session,
    config: Config,
    sub: Subscriber,
    data: str,
    *,
    chat_id: int,
    message_id: int | None,
    now: datetime,
    current_markup: dict[str, Any] | None = None,
) -> RatingAnswer:
    """Store a pressed score. The data comes from the client and can be forged: the rating
    must be the pressing chat's own, and the score on the scale it was asked on."""
    parts = data.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return RatingAnswer(render("not_yours", sub.language))
    rating = session.get(VisitRating, int(parts[1]))
    if rating is None or rating.subscriber_id != sub.id:
        return RatingAnswer(render("not_yours", sub.language))
    score = int(parts[2])
    if not 1 <= score <= top_score(rating.scale) or parts[2] != str(score):
        return RatingAnswer(render("not_yours", sub.language))
    if rating.score is not None:
        return RatingAnswer(render("already_answered", sub.language))
    rating.score, rating.answered_at = score, now
    low = is_low(settings.effective(session, config), score, rating.scale)  # «Настройки»
    tz = config.clinic.tz
    appt = session.scalar(
        select(Appointment).where(Appointment.mis_id == rating.appointment_mis_id)
    )
    patient = session.scalar(select(Patient).where(Patient.mis_id == rating.patient_mis_id))
    if low:
        doctor = session.scalar(select(Doctor).where(Doctor.mis_id == rating.doctor_mis_id))
        lang = config.clinic.language
        task = create_task(
            session,
            config,
            kind="service_recovery",
            key=f"recovery:{rating.id}",
            text=render(
                "task_service_recovery",
                lang,
                score=shown_score(score, rating.scale),
                patient=patient.full_name if patient else rating.patient_mis_id,
                phone=sub.phone or "—",
                when=when(appt.starts_at.astimezone(tz), now.astimezone(tz).date(), lang)
                if appt
                else "",
                doctor=f"{doctor.specialty} {doctor.full_name}".strip() if doctor else "",
            ),
            subscriber_id=sub.id,
            patient_mis_id=rating.patient_mis_id,
            appointment_mis_id=rating.appointment_mis_id,
            acknowledged=True,  # the patient was just answered
        )
        rating.task_id = task.id
    # Thanks, the offer of a comment, and on a low score «Обсудить с руководством».
    rating.comment_state = "asked"
    thanks = render("rating_thanks_low" if low else "rating_thanks", sub.language)
    enqueue(
        session,
        key=f"rating-thanks:{rating.id}",
        chat_id=chat_id,
        channel=sub.channel,
        patient_mis_id=rating.patient_mis_id,
        text=f"{thanks}\n\n{render('rating_comment_ask', sub.language)}",
        kind="reply",
        priority=PRIORITY_REPLY,
        reply_markup=followup_keyboard(rating.id, low, sub.language),
        respect_quiet_hours=False,
    )
    if message_id is not None:
        # The score buttons go; the review link, if it was offered, stays - whatever the
        # score was. Taken from the message itself (or the offers it was sent with), so a
        # changed setting cannot drop it.
        if current_markup is not None:
            rows = current_markup.get("inline_keyboard") or []
        else:
            keep = review_links.buttons_of(session, rating.id, config.web.public_url, sub.language)
            rows = rating_keyboard(rating.id, keep, sub.language, rating.scale)["inline_keyboard"]
        markup = {
            "inline_keyboard": [
                row
                for row in rows
                if not any(
                    str(b.get("callback_data", "")).startswith(RATING_PREFIX + ":") for b in row
                )
            ]
        }
        enqueue(
            session,
            key=f"rating-unbutton:{rating.id}",
            chat_id=chat_id,
            channel=sub.channel,
            text="",
            kind="edit_markup",
            priority=PRIORITY_REPLY,
            reply_markup=markup,
            edit_message_id=message_id,
            respect_quiet_hours=False,
        )
    return RatingAnswer("", accepted=True)
