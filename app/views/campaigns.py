"""Campaigns: build a segment, preview who gets it, confirm, watch it go out. Owner and manager.

The builder's form is a `Segment` (core.campaigns.segments) with a template and a schedule.
«Показать, кому уйдёт» counts the recipients and shows a sample with the text as the first
of them will read it; only from there can the campaign be sent, by a confirmation that
says «Отправить сейчас» (or «Запланировать на …») and the number of patients. A campaign's
page shows its progress (kept current by panel.js's data-poll) and its results.

Only chats that allow mailings receive it (core.campaigns); the runner sends it at the
lowest priority, ~29 messages a second, so 30,000 patients take about 17 minutes and
reminders and replies never wait behind it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from app.auth import current_user
from app.extensions import db
from app.forms import PanelForm
from app.permissions import requires
from app.views.campaign_forms import (
    FLAG_FIELDS,
    BuilderForm,
    CancelForm,
    segment_values,
    shape_errors,
    typed,
)
from core import campaigns
from core.campaigns import presets, results
from core.campaigns.segments import Segment, SegmentError, describe
from core.clock import local_now, utcnow
from core.config import Config
from core.models import Campaign, Doctor

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

STATE_LABELS = {
    "scheduled": "запланирована",
    "expanding": "готовится",
    "sending": "отправляется",
    "done": "завершена",
    "cancelled": "отменена",
}
CHANNEL_LABELS = {"telegram": "Telegram", "max": "MAX"}
SAMPLE = 10
SCHEDULE_DAYS = 366


def _config() -> Config:
    config: Config = current_app.config["KABINET"]
    return config


@dataclass
class Draft:
    """The builder's form as typed, and what it means once checked."""

    values: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    segment: Segment | None = None
    text: str = ""
    send_at: datetime | None = None  # None: now

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


def _draft_from(form: PanelForm) -> Draft:
    """The builder's form as a draft: every refusal at once (the form's shape, then the
    segment's and the text's rules), the values kept as typed."""
    form.validate()
    draft = Draft(values=typed(form), errors=shape_errors(form))
    if not draft.errors:
        try:
            draft.segment = Segment(**segment_values(form))
        except SegmentError as exc:
            draft.errors.append(str(exc))
    try:
        draft.text = campaigns.check_template(draft.get("text"))
    except SegmentError as exc:
        draft.errors.append(str(exc))
    if draft.get("when") == "later":
        draft.send_at = _send_at(draft)
    return draft


def _send_at(draft: Draft) -> datetime | None:
    raw = draft.get("send_at")
    tz = _config().clinic.tz
    try:
        moment = datetime.fromisoformat(raw).replace(tzinfo=tz)
    except ValueError:
        draft.errors.append("Укажите дату и время отправки (время клиники).")
        return None
    now = local_now(tz)
    if not now - timedelta(minutes=5) <= moment <= now + timedelta(days=SCHEDULE_DAYS):
        draft.errors.append("Время отправки — от сейчас до года вперёд.")
        return None
    return moment


def _preset_draft(key: str) -> Draft:
    preset = presets.presets().get(key)
    if preset is None:
        return Draft()
    values = {k: str(v) for k, v in preset.segment.to_json().items()}
    for name in FLAG_FIELDS:
        if name in values:
            values[name] = "1"
    values.update(
        title=preset.title,
        text=preset.text,
        preset=preset.key,
        booking="1" if preset.booking else "",
        when="now",
    )
    return Draft(values=values)


def _page(draft: Draft, preview: dict[str, Any] | None = None, status: int = 200) -> Any:
    session = db.session()
    rows = list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc()).limit(100)))
    listed = [(c, results.results(session, c)) for c in rows]
    doctors = list(session.scalars(select(Doctor).order_by(Doctor.full_name)))
    specialties = sorted({d.specialty for d in doctors if d.specialty})
    return (
        render_template(
            "campaigns.html",
            rows=listed,
            draft=draft,
            preview=preview,
            presets=presets.presets(),
            placeholders=campaigns.PLACEHOLDERS,
            doctors=doctors,
            specialties=specialties,
            labels=STATE_LABELS,
            tz=_config().clinic.tz,
        ),
        status,
    )


@bp.route("/")
@requires("campaigns.manage")
def index() -> Any:
    return _page(_preset_draft(request.args.get("preset", "")))


def _preview(draft: Draft) -> dict[str, Any]:
    assert draft.segment is not None
    config = _config()
    session = db.session()
    now = utcnow()
    closed = campaigns.closed_to_mailings(config)
    tz = config.clinic.tz
    count = campaigns.audience_size(session, draft.segment, now, closed, tz)
    sample = campaigns.marketing_chats(
        session, draft.segment, now, limit=SAMPLE, closed=closed, tz=tz
    )
    first = sample[0][1] if sample else None
    text = draft.text
    if first is not None:
        balance = campaigns._balances(session, [first.mis_id]).get(first.mis_id, 0)
        text = campaigns.personalise(
            draft.text,
            first.address_name,
            balance=campaigns.points(balance),
            clinic=config.clinic.name,
        )
    return {
        "count": count,
        "sample": [(p.full_name, CHANNEL_LABELS.get(s.channel, s.channel)) for s, p in sample],
        "conditions": describe(draft.segment, _doctor_names(session, draft.segment)),
        "text": text,
        "closed": [CHANNEL_LABELS.get(c, c) for c in closed],
        "send_at": draft.send_at,
    }


@bp.route("/preview", methods=["POST"])
@requires("campaigns.manage")
def preview() -> Any:
    draft = _draft_from(BuilderForm())
    if draft.errors or draft.segment is None:
        return _page(draft, status=400)
    return _page(draft, preview=_preview(draft))


@bp.route("/", methods=["POST"])
@requires("campaigns.manage")
def create() -> Any:
    form = BuilderForm()
    draft = _draft_from(form)
    confirm = form.confirm.data
    wanted = "schedule" if draft.get("when") == "later" else "now"
    if not draft.errors and confirm != wanted:
        draft.errors.append(
            "Сначала нажмите «Показать, кому уйдёт» и подтвердите отправку после просмотра."
        )
    if draft.errors or draft.segment is None:
        return _page(draft, status=400)
    user = current_user()
    assert user is not None
    preset = draft.get("preset") if draft.get("preset") in presets.presets() else ""
    campaign = campaigns.create_campaign(
        db.session(),
        title=draft.get("title"),
        text=draft.text,
        segment=draft.segment,
        created_by=user.full_name or user.login,
        send_at=draft.send_at,
        preset=preset,
        booking=bool(draft.get("booking")),
    )
    db.session.commit()
    if draft.send_at is None:
        flash(f"Рассылка «{campaign.title}» отправляется.", "info")
    else:
        when = draft.send_at.strftime("%d.%m.%Y %H:%M")
        flash(f"Рассылка «{campaign.title}» запланирована на {when}.", "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


def _progress_parts(campaign: Campaign) -> tuple[str, dict[str, str]]:
    got = results.results(db.session(), campaign)
    html = render_template(
        "campaign_progress.html", c=campaign, r=got, labels=STATE_LABELS, tz=_config().clinic.tz
    )
    # From what the part shows, not its html: that carries a CSRF token signed anew each time.
    seen = f"{campaign.state}|{campaign.finished_at}|{asdict(got)}"
    version = hashlib.sha256(seen.encode()).hexdigest()[:16]
    return version, {"campaign-progress": html}


def _doctor_names(session: Any, segment: Segment | None) -> dict[str, str]:
    if segment is None or not segment.doctor:
        return {}
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == segment.doctor))
    return {segment.doctor: doctor.full_name} if doctor is not None else {}


@bp.route("/<int:campaign_id>")
@requires("campaigns.manage")
def show(campaign_id: int) -> Any:
    campaign = db.get_or_404(Campaign, campaign_id)
    session = db.session()
    segment = campaigns.segment_of(session, campaign)
    conditions = (
        describe(segment, _doctor_names(session, segment))
        if isinstance(segment, Segment)
        else [campaigns.SEGMENTS.get(segment, "сегмент прежней версии")]
    )
    version, parts = _progress_parts(campaign)
    return render_template(
        "campaign.html",
        c=campaign,
        conditions=conditions,
        meta=campaigns.meta_of(session, campaign),
        presets=presets.presets(),
        version=version,
        progress_html=parts["campaign-progress"],
        labels=STATE_LABELS,
        tz=_config().clinic.tz,
    )


@bp.route("/<int:campaign_id>/progress")
@requires("campaigns.manage")
def progress(campaign_id: int) -> Any:
    campaign = db.get_or_404(Campaign, campaign_id)
    version, parts = _progress_parts(campaign)
    changed = request.args.get("v", "") != version
    return jsonify(changed=changed, version=version, parts=parts if changed else {})


@bp.route("/<int:campaign_id>/cancel", methods=["POST"])
@requires("campaigns.manage")
def cancel(campaign_id: int) -> Any:
    campaign = db.get_or_404(Campaign, campaign_id)
    if not CancelForm().validate():
        abort(400)  # only a token the page did not sign; CSRFProtect refuses that first
    stopped = campaigns.cancel(db.session(), campaign)
    db.session.commit()
    flash(f"Рассылка отменена; не отправлено: {stopped}.", "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))
