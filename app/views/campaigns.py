"""Campaigns: a message to a segment of connected patients. Owner only.

Only chats that allow mailings receive it (core.campaigns); the runner sends it at the
lowest priority, ~29 messages a second, so 30,000 patients take about 17 minutes and
reminders and replies never wait behind it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.auth import current_user
from app.extensions import db
from app.permissions import requires
from core import campaigns
from core.clock import utcnow
from core.models import Campaign

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

STATE_LABELS = {
    "scheduled": "запланирована",
    "expanding": "готовится",
    "sending": "отправляется",
    "done": "завершена",
    "cancelled": "отменена",
}


@bp.route("/")
@requires("campaigns.manage")
def index() -> Any:
    rows = db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc()).limit(100))
    listed = [(c, campaigns.progress(db.session(), c.id)) for c in rows]
    now = utcnow()
    audience = {
        seg: campaigns.audience_size(
            db.session(), seg, now, campaigns.closed_to_mailings(current_app.config["KABINET"])
        )
        for seg in campaigns.SEGMENTS
    }
    return render_template(
        "campaigns.html",
        rows=listed,
        segments=campaigns.SEGMENTS,
        audience=audience,
        labels=STATE_LABELS,
        tz=current_app.config["KABINET"].clinic.tz,
    )


@bp.route("/", methods=["POST"])
@requires("campaigns.manage")
def create() -> Any:
    user = current_user()
    assert user is not None
    tz = current_app.config["KABINET"].clinic.tz
    send_at = None
    raw_when = request.form.get("send_at", "").strip()
    if raw_when:
        try:
            send_at = datetime.fromisoformat(raw_when).replace(tzinfo=tz)
        except ValueError:
            flash(f"Непонятное время отправки: {raw_when!r}", "error")
            return redirect(url_for("campaigns.index"))
    try:
        campaign = campaigns.create_campaign(
            db.session(),
            title=request.form.get("title", ""),
            text=request.form.get("text", ""),
            segment=request.form.get("segment", "all"),
            created_by=user.full_name or user.login,
            send_at=send_at,
        )
        db.session.commit()
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("campaigns.index"))
    flash(f"Рассылка «{campaign.title}» запланирована.", "info")
    return redirect(url_for("campaigns.index"))


@bp.route("/<int:campaign_id>/cancel", methods=["POST"])
@requires("campaigns.manage")
def cancel(campaign_id: int) -> Any:
    campaign = db.get_or_404(Campaign, campaign_id)
    stopped = campaigns.cancel(db.session(), campaign)
    db.session.commit()
    flash(f"Рассылка отменена; не отправлено: {stopped}.", "info")
    return redirect(url_for("campaigns.index"))
