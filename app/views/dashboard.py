"""The first screen: what needs attention now, and the programme's numbers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from app.extensions import db
from app.permissions import requires
from core.clock import utcnow
from core.health import mis_health
from core.loyalty.reports import points_accrued
from core.models import Appointment, OutboxMessage, PatientLink, Subscriber, Task

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@requires("panel.view")
def index() -> Any:
    s = db.session()
    config = current_app.config["KABINET"]
    now = utcnow()
    tomorrow_end = now + timedelta(days=2)
    stats = {
        "connected": s.scalar(select(func.count(func.distinct(PatientLink.patient_mis_id)))) or 0,
        "subscribers": s.scalar(select(func.count(Subscriber.id))) or 0,
        "unreachable": s.scalar(
            select(func.count(Subscriber.id)).where(Subscriber.unreachable_at.is_not(None))
        )
        or 0,
        "open_tasks": s.scalar(select(func.count(Task.id)).where(Task.state.in_(("open", "taken"))))
        or 0,
        "upcoming": s.scalar(
            select(func.count(Appointment.id)).where(
                Appointment.starts_at.between(now, tomorrow_end), Appointment.status == "scheduled"
            )
        )
        or 0,
        "confirmed": s.scalar(
            select(func.count(Appointment.id)).where(
                Appointment.starts_at.between(now, tomorrow_end),
                Appointment.confirmation == "confirmed",
            )
        )
        or 0,
        "sent_today": s.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state == "sent", OutboxMessage.sent_at >= now - timedelta(days=1)
            )
        )
        or 0,
        "queued": s.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
        )
        or 0,
        # Earned points only, as Экономика counts them: not moves between accounts, nor
        # spends given back.
        "points_accrued": points_accrued(s),
    }
    return render_template("dashboard.html", stats=stats, mis=mis_health(s), config=config)
