"""The nightly run: expire lots, remind of points about to expire, birthday bonuses, tier
downgrades, and families the MIS changed. Each step is keyed (expiry:<lot>,
birthday:<patient>:<year>, reminder keys), so running it twice in a night does nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import ledger
from core.config import Config, LoyaltyConfig
from core.db import transaction
from core.greetings import born_on
from core.loyalty.accounts import account_of, reconcile_all
from core.loyalty.basis import note as basis_note
from core.loyalty.crediting import earn
from core.loyalty.earning import refresh_tier
from core.loyalty.notices import notify_account
from core.loyalty.settings import effective
from core.models import KeyValue, LoyaltyAccount, LoyaltyLot, Patient, PatientLink

LAST_RUN_KEY = "loyalty:nightly:last"
NIGHTLY_HOUR = 3  # clinic time; the run happens at the first job tick after it


@dataclass
class NightlyReport:
    expired_lots: int = 0
    reminders: int = 0
    birthdays: int = 0
    tier_changes: int = 0
    family_moves: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def is_due(session: Session, config: Config, now: datetime) -> bool:
    """Once per clinic day, at NIGHTLY_HOUR or at the first tick after it (after downtime)."""
    local = now.astimezone(config.clinic.tz)
    if local.hour < NIGHTLY_HOUR:
        return False
    row = session.get(KeyValue, LAST_RUN_KEY)
    return row is None or row.value != local.date().isoformat()


def mark_done(session: Session, config: Config, now: datetime) -> None:
    today = now.astimezone(config.clinic.tz).date().isoformat()
    row = session.get(KeyValue, LAST_RUN_KEY)
    if row is None:
        session.add(KeyValue(key=LAST_RUN_KEY, value=today))
    else:
        row.value = today


def expire(factory: sessionmaker[Session], now: datetime, batch: int = 20000) -> int:
    """Expire every due lot, one committed batch at a time (a crash keeps what is done).

    Batches are large because each commit of a big write costs a WAL checkpoint."""
    total = 0
    while True:
        with transaction(factory) as session:
            done = ledger.expire_batch(session, now, limit=batch)
        if not done:
            return total
        total += done


def remind_expiring(
    session: Session, config: Config, settings: LoyaltyConfig, now: datetime
) -> int:
    """One notice per account for its lots expiring within `expiry_reminder_days` that were
    not announced yet: the points and the nearest date."""
    if not settings.expiry_reminder_days:
        return 0
    horizon = now + timedelta(days=settings.expiry_reminder_days)
    window = (
        LoyaltyLot.is_open.is_(True),
        LoyaltyLot.expires_at > now,
        LoyaltyLot.expires_at <= horizon,
        LoyaltyLot.reminded_at.is_(None),
    )
    rows = session.execute(
        select(
            LoyaltyLot.account_id,
            func.sum(LoyaltyLot.remaining),
            func.min(LoyaltyLot.expires_at),
            func.min(LoyaltyLot.id),
        )
        .where(*window)
        .group_by(LoyaltyLot.account_id)
    ).all()
    sent = 0
    for account_id, points, first_expiry, first_lot in rows:
        account = session.get(LoyaltyAccount, account_id)
        assert account is not None
        sent += notify_account(
            session,
            config,
            account,
            f"expiry-reminder:{account_id}:{first_lot}",
            "expiry_reminder",
            dates={"date": first_expiry} if first_expiry is not None else None,
            points=int(points),
            balance=account.balance,
        )
    session.execute(update(LoyaltyLot).where(*window).values(reminded_at=now))
    return sent


def birthday_bonuses(
    session: Session, config: Config, settings: LoyaltyConfig, now: datetime
) -> int:
    """A bonus on the birthday of every patient connected to the bot, once a year."""
    if not settings.enabled or not settings.birthday_bonus:
        return 0
    today = now.astimezone(config.clinic.tz).date()
    # Only today's birthdays are loaded: 30,000 patient objects held ~50 MB for the run.
    patients = session.scalars(
        select(Patient).where(
            Patient.mis_id.in_(select(PatientLink.patient_mis_id)),
            Patient.birth_date.is_not(None),
            born_on(today),
            Patient.status != "deleted",
        )
    ).all()
    given = 0
    for patient in patients:
        account = account_of(session, patient.mis_id, now)
        posting = earn(
            session,
            config,
            settings,
            account,
            settings.birthday_bonus,
            kind="birthday",
            cause=f"birthday:{patient.mis_id}:{today.year}",
            now=now,
            note=basis_note("birthday"),
            patient_mis_id=patient.mis_id,
            expiry_days=settings.birthday_expiry_days,
        )
        if posting is None or not posting.created:
            continue
        given += 1
        lot_expiry = posting.entry.expires_at
        notify_account(
            session,
            config,
            account,
            f"birthday:{patient.mis_id}:{today.year}",
            "birthday_bonus" if lot_expiry else "birthday_bonus_forever",
            about=patient.mis_id,
            dates={"until": lot_expiry} if lot_expiry else None,
            points=posting.entry.amount,
            balance=account.balance,
        )
    return given


def downgrade_tiers(session: Session, settings: LoyaltyConfig, now: datetime) -> int:
    changed = 0
    for account in session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.tier != "")):
        before = account.tier
        if refresh_tier(session, settings, account, now, allow_downgrade=True) != before:
            changed += 1
    return changed


def run(factory: sessionmaker[Session], config: Config, now: datetime) -> NightlyReport:
    report = NightlyReport()
    with transaction(factory) as session:
        report.family_moves = reconcile_all(session, now)
    report.expired_lots = expire(factory, now)
    with transaction(factory) as session:
        settings = effective(session, config)
        report.reminders = remind_expiring(session, config, settings, now)
    with transaction(factory) as session:
        report.birthdays = birthday_bonuses(session, config, settings, now)
    with transaction(factory) as session:
        report.tier_changes = downgrade_tiers(session, settings, now)
        mark_done(session, config, now)
    return report
