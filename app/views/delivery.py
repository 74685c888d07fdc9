"""Delivery: the outbox at a glance, what needs a person, and who cannot be reached."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from sqlalchemy import func, select

from app.context import signed_in
from app.extensions import db
from app.permissions import requires
from core import outbox
from core.clock import utcnow
from core.models import Appointment, DomainEvent, OutboxMessage, Patient, PatientLink, Subscriber
from core.visits.arrival import NOT_BELIEVED, starts_at_of

bp = Blueprint("delivery", __name__, url_prefix="/delivery")

STATE_LABELS = {
    "pending": "в очереди",
    "claimed": "в очереди",
    "sending": "отправляется",
    "sent": "доставлено",
    "unknown": "неизвестно, дошло ли",
    "failed": "не отправлено",
    "unreachable": "пациент недоступен",
    "cancelled": "отменено",
}


@bp.route("/")
@requires("panel.view")
def index() -> Any:
    s = db.session
    now = utcnow()
    counts = dict(
        s.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    )
    sent_day = (
        s.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state == "sent", OutboxMessage.sent_at >= now - timedelta(days=1)
            )
        )
        or 0
    )
    attention = s.execute(
        select(OutboxMessage, Patient)
        .outerjoin(Patient, Patient.mis_id == OutboxMessage.patient_mis_id)
        .where(OutboxMessage.state.in_(("unknown", "failed")))
        .order_by(OutboxMessage.created_at.desc())
        .limit(100)
    ).all()
    unreachable = s.execute(
        select(Subscriber, Patient)
        .outerjoin(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .outerjoin(Patient, Patient.mis_id == PatientLink.patient_mis_id)
        .where(Subscriber.unreachable_at.is_not(None))
        .order_by(Subscriber.unreachable_at.desc())
        .limit(100)
    ).all()
    unreachable_count = (
        s.scalar(select(func.count(Subscriber.id)).where(Subscriber.unreachable_at.is_not(None)))
        or 0
    )
    upcoming = s.execute(
        select(OutboxMessage, Patient)
        .outerjoin(Patient, Patient.mis_id == OutboxMessage.patient_mis_id)
        .where(OutboxMessage.state.in_(("pending", "claimed", "sending")))
        .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
        .limit(30)
    ).all()
    return render_template(
        "delivery.html",
        anomalies=_anomalies(now),
        counts=counts,
        queued=sum(counts.get(k, 0) for k in ("pending", "claimed", "sending")),
        sent_day=sent_day,
        attention=attention,
        unreachable=unreachable,
        unreachable_count=unreachable_count,
        upcoming=upcoming,
        labels=STATE_LABELS,
        tz=current_app.config["KABINET"].clinic.tz,
    )


def _anomalies(now: datetime) -> list[tuple[DomainEvent, datetime, Patient | None]]:
    """Arrivals and completions not believed (core/visits/arrival.py), last 30 days."""
    s = db.session()
    events = s.scalars(
        select(DomainEvent)
        .where(
            DomainEvent.error.startswith(NOT_BELIEVED),
            DomainEvent.created_at >= now - timedelta(days=30),
        )
        .order_by(DomainEvent.id.desc())
        .limit(50)
    ).all()
    out = []
    for event in events:
        starts_at = starts_at_of(s, event)
        patient_id = event.payload.get("patient_mis_id") or s.scalar(
            select(Appointment.patient_mis_id).where(Appointment.mis_id == event.subject)
        )
        patient = s.scalar(select(Patient).where(Patient.mis_id == patient_id))
        if starts_at is not None:
            out.append((event, starts_at, patient))
    return out


@bp.route("/<int:message_id>/resend", methods=["POST"])
@requires("delivery.resend")
def resend(message_id: int) -> Any:
    """A person checked (e.g. asked the patient) and decided to send it (again)."""
    db.get_or_404(OutboxMessage, message_id)
    user = signed_in()
    if outbox.resend(db.session(), message_id, user.full_name or user.login):
        db.session.commit()
        flash("Сообщение снова в очереди.", "info")
    else:
        db.session.rollback()
        flash("Это сообщение уже не ждёт решения.", "error")
    return redirect(url_for("delivery.index"))
