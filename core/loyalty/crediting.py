"""Crediting points: the monthly caps and `earn`, the one way every automatic earning
(cashback, referral and staff rewards, birthdays, grants) is posted.

Apart from the earning rules so that every module that rewards can use it without
importing the others: referrals reward through it, and the earning rules undo referral
rewards when a payment is reversed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import ledger
from core.config import Config, LoyaltyConfig
from core.models import LedgerEntry, LoyaltyAccount

log = logging.getLogger(__name__)

# Automatic earnings that count against the caps; an owner's manual grant does not.
CAPPED_KINDS = ("accrual", "welcome", "referral", "birthday", "review", "social", "staff")


def month_start(now: datetime, config: Config) -> datetime:
    """The first instant of the clinic's current calendar month, in UTC."""
    local = now.astimezone(config.clinic.tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.astimezone(UTC)


def _earned_since(session: Session, since: datetime, account_id: int | None = None) -> int:
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.created_at >= since,
        LedgerEntry.kind.in_(CAPPED_KINDS),
        LedgerEntry.amount > 0,
    )
    if account_id is not None:
        stmt = stmt.where(LedgerEntry.account_id == account_id)
    return int(session.scalar(stmt) or 0)


def apply_caps(
    session: Session,
    config: Config,
    settings: LoyaltyConfig,
    account: LoyaltyAccount,
    points: int,
    now: datetime,
) -> tuple[int, str]:
    """Cut `points` to what the monthly caps leave; returns (points, why it was cut)."""
    since = month_start(now, config)
    notes = []
    if settings.member_cap_per_month and account.owner_kind != "staff":
        room = max(settings.member_cap_per_month - _earned_since(session, since, account.id), 0)
        if points > room:
            notes.append(
                f"member's monthly cap {settings.member_cap_per_month}: {points} -> {room}"
            )
            points = room
    if settings.global_cap_per_month and points > 0:
        room = max(settings.global_cap_per_month - _earned_since(session, since), 0)
        if points > room:
            notes.append(
                f"programme's monthly cap {settings.global_cap_per_month}: {points} -> {room}"
            )
            points = room
    return points, "; ".join(notes)


def earn(
    session: Session,
    config: Config,
    settings: LoyaltyConfig,
    account: LoyaltyAccount,
    points: int,
    *,
    kind: str,
    cause: str,
    now: datetime,
    note: str = "",
    created_by: str = "system",
    patient_mis_id: str = "",
    expiry_days: int | None = None,
    capped: bool = True,
) -> ledger.Posting | None:
    """Credit points as a lot expiring after `expiry_days` (default: the programme's)."""
    existing = ledger.find_entry(session, cause)
    if existing is not None:
        return ledger.Posting(existing, created=False)
    if capped:
        points, cut = apply_caps(session, config, settings, account, points, now)
        note = "; ".join(filter(None, [note, cut]))
        if cut:
            log.info("%s: %s", cause, cut)
    if points <= 0:
        return None
    days = settings.expiry_days if expiry_days is None else expiry_days
    return ledger.credit(
        session,
        account,
        points,
        kind=kind,
        cause=cause,
        now=now,
        expires_at=now + timedelta(days=days) if days else None,
        note=note,
        created_by=created_by,
        patient_mis_id=patient_mis_id,
    )
