"""The loyalty programme in the panel: the patient card's bonuses (lots, entries, spending,
grants, family), the programme's settings, the staff leaderboard and the economics.

Owners change settings, see the economics and grant points by hand; administrators spend
points at the desk, approve review bonuses and manage families.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.context import clinic_config, signed_in
from app.extensions import db
from app.permissions import requires
from app.views.loyalty_forms import (
    ApproveForm,
    FamilyForm,
    GrantForm,
    LinksForm,
    SettingsForm,
    SpendForm,
    first_error,
    setting_values,
)
from core.clock import utcnow
from core.config import Config, ConfigError, LoyaltyConfig
from core.loyalty import accounts, operations, reports, settings
from core.loyalty.referrals import deep_link, payload_for
from core.models import (
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyFamily,
    LoyaltyLot,
    LoyaltyMember,
    Patient,
    PatientPhone,
    Referral,
    ReferralCode,
    StaffUser,
)
from core.phones import normalize
from core.reports.period import PeriodError
from core.reports.period import parse as parse_period

bp = Blueprint("loyalty", __name__)

KIND_LABELS = {
    "accrual": "за оплату",
    "reversal": "возврат оплаты",
    "redemption": "оплата бонусами в МИС",
    "spend": "списание на стойке",
    "welcome": "приветственные",
    "referral": "за рекомендацию",
    "birthday": "день рождения",
    "review": "за отзыв",
    "social": "за публикацию",
    "staff": "за подключение пациента",
    "manual": "вручную",
    "expiry": "сгорание",
    "transfer": "перенос между счетами",
    "recovery": "удержание долга",
    "restore": "возврат списания",
}
REFERRAL_STATES = {
    "pending": "ждём первый оплаченный визит",
    "rewarded": "вознаграждение начислено",
    "ineligible": "не засчитана",
    "reversed": "отменена (возврат оплаты)",
}
SETTING_LABELS = {
    "enabled": "Программа включена",
    "cashback_percent": "Кешбэк, % от оплаты",
    "cashback_rules": "Особые проценты (услуга, врач, филиал)",
    "tiers": "Уровни по тратам за 12 месяцев",
    "tier_hold_days": "Уровень держится не меньше, дней",
    "welcome_bonus": "Приветственные бонусы",
    "referrer_points": "Рекомендателю за нового пациента",
    "referred_points": "Новому пациенту по рекомендации",
    "staff_connect_points": "Сотруднику за подключённого пациента",
    "birthday_bonus": "Бонусы в день рождения",
    "birthday_expiry_days": "Бонусы ко дню рождения действуют, дней",
    "review_bonus": "За отзыв (одобряет сотрудник)",
    "social_bonus": "За публикацию (одобряет сотрудник)",
    "bonus_screenshots": "Пациент присылает скриншот отзыва или публикации в боте",
    "member_cap_per_month": "Не больше бонусов на счёт в месяц (0 — без лимита)",
    "global_cap_per_month": "Не больше бонусов по программе в месяц (0 — без лимита)",
    "point_value_rub": "1 бонус = ₽",
    "max_bill_share_percent": "Бонусами можно оплатить не больше, % счёта",
    "expiry_days": "Бонусы сгорают через, дней (0 — никогда)",
    "expiry_reminder_days": "Напомнить о сгорании за, дней (0 — не напоминать)",
    "balance_notice_threshold": "Сообщить, когда баланс достиг (0 — не сообщать)",
    "previous_discount_percent": "Прежняя скидка клиники, % (для сравнения)",
}


def _session() -> Session:
    """The request's session itself (db.session is its scoped proxy)."""
    session: Session = db.session()
    return session


def _form_key() -> str:
    """A fresh idempotency key for a form: a double submit posts once."""
    return uuid.uuid4().hex


def _patient_or_404(s: Session, mis_id: str) -> Patient:
    patient = s.scalar(select(Patient).where(Patient.mis_id == mis_id))
    if patient is None:
        abort(404)
    return patient


def patient_card(s: Session, config: Config, patient: Patient) -> dict[str, Any]:
    """What the patient card shows about bonuses (used by the patients view)."""
    effective = settings.effective(s, config)
    account = accounts.read_account(s, patient.mis_id)
    member = accounts.member(s, patient.mis_id)
    family = s.get(LoyaltyFamily, member.family_id) if member and member.family_id else None
    members: list[tuple[Patient, bool]] = []
    if family is not None:
        rows = s.execute(
            select(Patient, LoyaltyMember.muted)
            .join(LoyaltyMember, LoyaltyMember.patient_mis_id == Patient.mis_id)
            .where(LoyaltyMember.family_id == family.id)
            .order_by(LoyaltyMember.id)
        ).all()
        members = [(p, bool(muted)) for p, muted in rows]
    lots: list[LoyaltyLot] = []
    entries: list[LedgerEntry] = []
    if account is not None:
        lots = list(
            s.scalars(
                select(LoyaltyLot)
                .where(LoyaltyLot.account_id == account.id)
                .order_by(LoyaltyLot.is_open.desc(), LoyaltyLot.earned_at.desc())
                .limit(30)
            )
        )
        entries = list(
            s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.account_id == account.id)
                .order_by(LedgerEntry.id.desc())
                .limit(50)
            )
        )
    referral = s.scalar(select(Referral).where(Referral.referred_patient_mis_id == patient.mis_id))
    referrer_name = ""
    if referral is not None and referral.referrer_kind == "patient":
        referrer = s.scalar(select(Patient).where(Patient.mis_id == referral.referrer_id))
        referrer_name = referrer.full_name if referrer else referral.referrer_id
    elif referral is not None:
        staff = (
            s.get(StaffUser, int(referral.referrer_id)) if referral.referrer_id.isdigit() else None
        )
        referrer_name = (staff.full_name or staff.login) if staff else referral.referrer_id
    code = s.scalar(
        select(ReferralCode.code).where(
            ReferralCode.owner_kind == "patient", ReferralCode.owner_id == patient.mis_id
        )
    )
    return {
        # The patient's own link exists once they opened their bonuses in the bot.
        "referral_link": deep_link(config, f"r{code}") if code else "",
        "settings": effective,
        "account": account,
        "balance": account.balance if account is not None else 0,
        "family": family,
        "members": members,
        "muted": bool(member and member.muted),
        "lots": lots,
        "entries": entries,
        "labels": KIND_LABELS,
        "referral": referral,
        "referral_states": REFERRAL_STATES,
        "referrer_name": referrer_name,
        "platforms": operations.BONUS_PLATFORMS,
        "spend_key": _form_key(),
        "grant_key": _form_key(),
    }


# --- actions on a patient's points ---------------------------------------------------------


def _back(mis_id: str) -> Any:
    return redirect(url_for("patients.detail", mis_id=mis_id) + "#bonuses")


def _post_operation(
    mis_id: str,
    form: SpendForm | GrantForm,
    operation: Any,
    repeated: str,
    done: Callable[[Any], str],
    *fields: str,
) -> Any:
    """Run a keyed ledger operation from a form: its shape checked by the form, then
    commit, or roll back with the domain's reason shown."""
    s = _session()
    _patient_or_404(s, mis_id)
    if not form.validate():
        flash(first_error(form), "error")
        return _back(mis_id)
    try:
        outcome = operation(
            s,
            clinic_config(),
            mis_id,
            key=form.key.data,
            user=signed_in().login,
            now=utcnow(),
            **{name: form[name].data for name in fields},
        )
        s.commit()
    except operations.OperationError as exc:
        s.rollback()
        flash(str(exc), "error")
        return _back(mis_id)
    flash(repeated if outcome.repeated else done(outcome))
    return _back(mis_id)


@bp.route("/patients/<mis_id>/bonuses/spend", methods=["POST"])
@requires("bonus.spend")
def spend(mis_id: str) -> Any:
    return _post_operation(
        mis_id,
        SpendForm(),
        operations.spend,
        "Это списание уже проведено (форма была отправлена повторно).",
        lambda outcome: f"Списано {-outcome.posting.entry.amount} бонусов.",
        "points",
        "bill",
    )


@bp.route("/patients/<mis_id>/bonuses/grant", methods=["POST"])
@requires("bonus.grant")
def grant(mis_id: str) -> Any:
    return _post_operation(
        mis_id,
        GrantForm(),
        operations.grant,
        "Это начисление уже проведено (форма была отправлена повторно).",
        lambda outcome: f"Проведено: {outcome.posting.entry.amount:+d} бонусов.",
        "points",
        "reason",
    )


@bp.route("/patients/<mis_id>/bonuses/approve", methods=["POST"])
@requires("bonus.spend")
def approve(mis_id: str) -> Any:
    s = _session()
    _patient_or_404(s, mis_id)
    form = ApproveForm()
    if not form.validate():
        flash(first_error(form), "error")
        return _back(mis_id)
    try:
        outcome = operations.approve_bonus(
            s,
            clinic_config(),
            mis_id,
            kind=form.kind.data or "",
            platform=form.platform.data or "",
            user=signed_in().login,
            now=utcnow(),
        )
        s.commit()
    except operations.OperationError as exc:
        s.rollback()
        flash(str(exc), "error")
        return _back(mis_id)
    flash(
        "Этот бонус уже был начислен."
        if outcome.repeated
        else f"Начислено {outcome.posting.entry.amount} бонусов."
    )
    return _back(mis_id)


def _find_patient(s: Session, text: str) -> Patient | None:
    """By MIS number or by phone, as staff type them."""
    text = text.strip()
    if not text:
        return None
    patient = s.scalar(select(Patient).where(Patient.mis_id == text))
    if patient is not None:
        return patient
    phone = normalize(text, clinic_config().clinic.phone_region)
    if not phone:
        return None
    return s.scalar(
        select(Patient)
        .join(PatientPhone, PatientPhone.patient_id == Patient.id)
        .where(PatientPhone.phone == phone, Patient.status != "deleted")
        .order_by(Patient.birth_date.is_(None), Patient.birth_date)
        .limit(1)
    )


@bp.route("/patients/<mis_id>/family", methods=["POST"])
@requires("bonus.spend")
def family(mis_id: str) -> Any:
    """Form a family, add or remove a member, mute a member's balance notices."""
    s = _session()
    patient = _patient_or_404(s, mis_id)
    now = utcnow()
    form = FamilyForm()
    if not form.validate():
        if form.action.errors:
            abort(400)  # no such action: not a form the card shows
        flash(first_error(form), "error")
        return _back(mis_id)
    action = form.action.data
    member = accounts.member(s, mis_id)
    current = s.get(LoyaltyFamily, member.family_id) if member and member.family_id else None
    if action == "create":
        if current is not None:
            flash("Пациент уже в семье.", "error")
            return _back(mis_id)
        created = accounts.create_family(s, f"Семья {patient.last_name}", signed_in().login, now)
        accounts.join(s, mis_id, created, source="panel", now=now, created_by=signed_in().login)
        flash("Семья создана; баллы пациента перенесены на семейный счёт.")
    elif action == "add":
        other = _find_patient(s, form.who.data or "")
        if current is None or other is None:
            flash("Не нашли пациента с таким номером в МИС или телефоном.", "error")
            return _back(mis_id)
        if other.mis_id == mis_id:
            flash("Это тот же пациент.", "error")
            return _back(mis_id)
        moved = accounts.join(
            s, other.mis_id, current, source="panel", now=now, created_by=signed_in().login
        )
        flash(f"{other.full_name} в семье; перенесено {moved} бонусов.")
    elif action in ("remove", "mute", "unmute"):
        # Without a member, the card's own patient (the buttons of a card not in a family).
        target = form.member.data if form.member.raw_data else mis_id
        allowed = {mis_id} | (set(accounts.family_members(s, current.id)) if current else set())
        if target not in allowed:
            abort(400)
        if action == "remove":
            accounts.leave(s, target, source="panel", now=now)
            flash("Пациент выведен из семьи; накопленные бонусы остаются у семьи.")
        else:
            row = accounts.member_row(s, target, now)
            row.muted, row.updated_at = action == "mute", now
            flash(
                "Уведомления о бонусах выключены." if action == "mute" else "Уведомления включены."
            )
    else:
        abort(400)
    s.commit()
    return _back(mis_id)


# --- owner's screens -----------------------------------------------------------------------


def _setting_rows(s: Session) -> list[dict[str, Any]]:
    config = clinic_config()
    effective = settings.effective(s, config)
    overridden = settings.overrides(s)
    rows = []
    for f in dataclasses.fields(LoyaltyConfig):
        rows.append(
            {
                "key": f.name,
                "label": SETTING_LABELS.get(f.name, f.name),
                "value": getattr(effective, f.name),
                "default": getattr(config.loyalty, f.name),
                "overridden": f.name in overridden,
                "type": "bool" if f.type in (bool, "bool") else "text",
            }
        )
    return rows


@bp.route("/loyalty/settings", methods=["GET", "POST"])
@requires("bonus.settings")
def settings_view() -> Any:
    s = _session()
    if request.method == "POST":
        form = SettingsForm()
        if not form.validate():
            wrong = next(field for field in form if field.errors)
            label = SETTING_LABELS.get(wrong.name, wrong.name)
            flash(f"Не сохранено: {label}: {wrong.errors[0]}", "error")
            return render_template("loyalty/settings.html", rows=_setting_rows(s)), 400
        try:
            settings.save(s, clinic_config(), setting_values(form), signed_in().login)
            s.commit()
        except ConfigError as exc:
            s.rollback()
            flash(f"Не сохранено: {exc}", "error")
            return render_template("loyalty/settings.html", rows=_setting_rows(s)), 400
        flash("Настройки программы сохранены.")
        return redirect(url_for("loyalty.settings_view"))
    return render_template("loyalty/settings.html", rows=_setting_rows(s))


def _period(arg: str, now: datetime, config: Config) -> tuple[datetime, datetime, str]:
    """'month' (this one), 'previous', 'quarter', 'year', or 'YYYY-MM-DD:YYYY-MM-DD'."""
    tz = config.clinic.tz
    today = now.astimezone(tz).date()
    first = today.replace(day=1)

    def at(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)

    if arg == "previous":
        end = first
        start = (first - timedelta(days=1)).replace(day=1)
        return at(start), at(end), f"{start:%m.%Y}"
    if arg == "quarter":
        start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        return at(start), now, f"квартал с {start:%d.%m.%Y}"
    if arg == "year":
        start = date(today.year, 1, 1)
        return at(start), now, f"{today.year} год"
    if ":" in arg:
        # The reports' parser (core.reports.period): the same dates accepted, the same
        # bounds (from 2000 to today, at most three years), so no day past the calendar's
        # end reaches date arithmetic; what cannot be a period is a 400 saying why.
        raw_from, raw_to = arg.split(":", 1)
        try:
            chosen = parse_period(raw_from, raw_to, today, tz)
        except PeriodError as exc:
            abort(400, str(exc))
        return chosen.start, chosen.end, f"{chosen.first:%d.%m.%Y}–{chosen.last:%d.%m.%Y}"
    return at(first), now, f"{first:%m.%Y}"


@bp.route("/loyalty/leaderboard")
@requires("panel.view")
def leaderboard() -> Any:
    """Read-only: staff members without a link yet (accounts made before links existed)
    get one from the «Создать ссылки» button, a POST."""
    s = _session()
    config = clinic_config()
    period = request.args.get("period", "month")
    start, end, label = _period(period, utcnow(), config)
    rows = reports.leaderboard(s, start, end)
    codes = dict(
        s.execute(
            select(ReferralCode.owner_id, ReferralCode.code).where(
                ReferralCode.owner_kind == "staff"
            )
        ).all()
    )
    links = {
        row.staff_id: deep_link(config, "s" + codes[str(row.staff_id)])
        for row in rows
        if str(row.staff_id) in codes
    }
    return render_template(
        "loyalty/leaderboard.html",
        rows=rows,
        links=links,
        missing=len(rows) - len(links),
        period=period,
        label=label,
        points_per_connection=settings.effective(s, config).staff_connect_points,
    )


@bp.route("/loyalty/leaderboard/links", methods=["POST"])
@requires("panel.view")
def leaderboard_links() -> Any:
    """Make the missing staff links (an explicit action: GET never writes)."""
    s = _session()
    form = LinksForm()
    form.validate()  # nothing to refuse but a missing CSRF token, which CSRFProtect did
    made = 0
    for user in s.scalars(select(StaffUser).where(StaffUser.active.is_(True))):
        if (
            s.scalar(
                select(ReferralCode.code).where(
                    ReferralCode.owner_kind == "staff", ReferralCode.owner_id == str(user.id)
                )
            )
            is None
        ):
            payload_for(s, "staff", str(user.id))
            made += 1
    s.commit()
    flash(f"Создано ссылок: {made}." if made else "У всех сотрудников уже есть ссылки.")
    return redirect(
        url_for("loyalty.leaderboard", period=form.period.data if form.period.raw_data else "month")
    )


@bp.route("/loyalty/economics")
@requires("loyalty.economics")
def economics() -> Any:
    s = _session()
    months = reports.economics(s, clinic_config(), utcnow(), months=12)
    outstanding = sum(
        a.balance
        for a in s.scalars(select(LoyaltyAccount).where(LoyaltyAccount.owner_kind != "staff"))
    )
    effective = settings.effective(s, clinic_config())
    return render_template(
        "loyalty/economics.html",
        months=months,
        outstanding=outstanding,
        outstanding_rub=Decimal(outstanding) * Decimal(str(effective.point_value_rub)),
        settings=effective,
        total_cost=sum(m.cost_rub for m in months),
        total_flat=sum(m.flat_discount_rub for m in months),
    )
