"""Earning and spending points on the MIS's payments: cashback rules, tiers, reversals
(the caps and the crediting itself: core.loyalty.crediting).

Each handler runs inside the transaction of the domain event it handles, and every entry it
writes is keyed by its cause, so a handler run twice (a crash, a retry) changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ledger
from core.config import Config, LoyaltyConfig
from core.loyalty.accounts import account_of, account_patients
from core.loyalty.basis import note as basis_note
from core.loyalty.crediting import earn
from core.loyalty.money import money_paid
from core.loyalty.notices import notify_account, rub
from core.loyalty.referrals import on_payment_reversed as referral_reversed
from core.loyalty.settings import effective
from core.models import (
    Appointment,
    LedgerAllocation,
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyLot,
    Payment,
)


def cashback_points(amount: Decimal, percent: float) -> int:
    """Whole points, rounded down: a fraction of a point is never promised."""
    points = (amount * Decimal(str(percent)) / Decimal(100)).quantize(
        Decimal(1), rounding=ROUND_FLOOR
    )
    return max(int(points), 0)


def points_for_roubles(amount: Decimal, point_value_rub: float) -> int:
    return int((amount / Decimal(str(point_value_rub))).quantize(Decimal(1), rounding=ROUND_FLOOR))


# --- tiers ---------------------------------------------------------------------------------


def spend_12_months(session: Session, account: LoyaltyAccount, now: datetime) -> Decimal:
    """Money the account's patients paid over the last 12 months, net of refunds."""
    patients = account_patients(session, account)
    if not patients:
        return Decimal(0)
    return money_paid(
        session,
        Payment.patient_mis_id.in_(patients),
        Payment.paid_at >= now - timedelta(days=365),
    )


def refresh_tier(
    session: Session,
    settings: LoyaltyConfig,
    account: LoyaltyAccount,
    now: datetime,
    *,
    allow_downgrade: bool,
) -> str:
    """Raise the tier as soon as the spend reaches it; lower it only when allowed (the
    nightly run) and after the tier has been held `tier_hold_days`."""
    tiers = settings.tier_list
    names = [""] + [t.name for t in tiers]
    spend = spend_12_months(session, account, now) if tiers else Decimal(0)
    qualifies = ""
    for tier in tiers:
        if spend >= tier.min_spend_rub:
            qualifies = tier.name
    have = names.index(account.tier) if account.tier in names else 0
    want = names.index(qualifies)
    held = account.tier_since is None or account.tier_since <= now - timedelta(
        days=settings.tier_hold_days
    )
    if want > have or (want < have and allow_downgrade and held) or account.tier not in names:
        account.tier, account.tier_since = qualifies, now
    return account.tier


def tier_bonus(settings: LoyaltyConfig, tier: str) -> float:
    return next((t.bonus_percent for t in settings.tier_list if t.name == tier), 0.0)


# --- cashback ------------------------------------------------------------------------------


def cashback_rate(
    session: Session, settings: LoyaltyConfig, appointment_mis_id: str, tier: str
) -> tuple[float, str]:
    """The percentage for a payment: the first matching service/doctor/branch rule, else
    the base rate; plus the tier's extra. Returns (percent, how it was arrived at)."""
    percent, why = settings.cashback_percent, f"{settings.cashback_percent:g}%"
    rules = settings.cashback_rule_list
    appt = (
        session.scalar(select(Appointment).where(Appointment.mis_id == appointment_mis_id))
        if rules and appointment_mis_id
        else None
    )
    if appt is not None:
        for rule in rules:
            if rule.kind == "service":
                hit = any(rule.match.lower() in s.lower() for s in appt.services or [])
            elif rule.kind == "doctor":
                hit = appt.doctor_mis_id == rule.match
            else:
                hit = appt.branch_id == rule.match
            if hit:
                percent, why = rule.percent, f"{rule.percent:g}% ({rule.kind} {rule.match})"
                break
    extra = tier_bonus(settings, tier)
    if extra:
        percent += extra
        why += f" + {extra:g}% ({tier})"
    return percent, why


def _threshold_notice(
    session: Session,
    config: Config,
    settings: LoyaltyConfig,
    account: LoyaltyAccount,
    before: int,
    trigger: LedgerEntry,
    about: str,
) -> None:
    threshold = settings.balance_notice_threshold
    if threshold and before < threshold <= account.balance:
        notify_account(
            session,
            config,
            account,
            f"threshold:{account.id}:{trigger.id}",
            "balance_threshold",
            about=about,
            balance=account.balance,
            rub=rub(Decimal(account.balance) * Decimal(str(settings.point_value_rub))),
            share=f"{settings.max_bill_share_percent:g}",
        )


def on_payment_received(
    session: Session, config: Config, payload: dict[str, Any], payment_mis_id: str, now: datetime
) -> ledger.Posting | None:
    settings = effective(session, config)
    if not settings.enabled:
        return None
    patient_id = payload["patient_mis_id"]
    amount = Decimal(payload["amount"])
    account = account_of(session, patient_id, now)
    if payload.get("method") == "bonus":
        return redeem_mis_bonus_payment(
            session, config, settings, account, patient_id, payment_mis_id, amount, now
        )
    refresh_tier(session, settings, account, now, allow_downgrade=False)
    percent, why = cashback_rate(
        session, settings, payload.get("appointment_mis_id", ""), account.tier
    )
    before = account.balance
    posting = earn(
        session,
        config,
        settings,
        account,
        cashback_points(amount, percent),
        kind="accrual",
        cause=f"payment:{payment_mis_id}",
        now=now,
        note=basis_note("cashback", why=why, amount=amount),
        patient_mis_id=patient_id,
    )
    if posting is not None and posting.created:
        notify_account(
            session,
            config,
            account,
            f"bonus:{payment_mis_id}",
            "bonus_accrued",
            family_template="bonus_accrued_family",
            about=patient_id,
            points=posting.entry.amount,
            amount=rub(amount),
            balance=account.balance,
        )
        _threshold_notice(session, config, settings, account, before, posting.entry, patient_id)
    return posting


def redeem_mis_bonus_payment(
    session: Session,
    config: Config,
    settings: LoyaltyConfig,
    account: LoyaltyAccount,
    patient_id: str,
    payment_mis_id: str,
    amount: Decimal,
    now: datetime,
) -> ledger.Posting | None:
    """The MIS took a bill partly in bonus points: spend them here, never below zero.

    The MIS has already given the discount; points it paid beyond the balance are noted on
    the entry (and show in `kabinet ledger verify`'s neighbour, the panel) but not owed.
    """
    points = points_for_roubles(amount, settings.point_value_rub)
    available = account.balance
    note = f"bonus payment of {amount} ₽ in the MIS"
    if points > available:
        note += f"; {points - available} points more than the balance were paid"
    posting = ledger.debit(
        session,
        account,
        points,
        kind="redemption",
        cause=f"redemption:payment:{payment_mis_id}",
        now=now,
        note=note,
        patient_mis_id=patient_id,
        short="cap",
    )
    if posting is not None and posting.created and posting.entry.amount:
        notify_account(
            session,
            config,
            account,
            f"bonus-spent:{payment_mis_id}",
            "bonus_spent",
            about=patient_id,
            points=-posting.entry.amount,
            rub=rub(amount),
            balance=account.balance,
        )
    return posting


def restore_redemption(
    session: Session,
    cause: str,
    now: datetime,
    note: str,
    *,
    share: tuple[Decimal, Decimal] | None = None,
    part: str = "",
) -> list[ledger.Posting]:
    """Give back the points of a spend that was undone, each into a lot like the one it
    came from (same age and expiry).

    `share` = (refunded so far, paid) gives back only that share of the spend (rounded up,
    in the patient's favour), less what earlier partial refunds gave back, keyed by `part`
    (the refund row). Without it, everything not given back yet."""
    spend = ledger.find_entry(session, cause)
    if spend is None or spend.amount >= 0:
        return []
    account = session.get(LoyaltyAccount, spend.account_id)
    assert account is not None
    prefix = f"restore:{spend.id}:"
    given: dict[int, int] = {}
    for restored_cause, points in session.execute(
        select(LedgerEntry.cause, LedgerEntry.amount).where(LedgerEntry.cause.startswith(prefix))
    ):
        lot = int(restored_cause[len(prefix) :].split(":", 1)[0])
        given[lot] = given.get(lot, 0) + points
    budget: int | None = None
    if share is not None:
        refunded, paid = share
        if paid > 0 and refunded < paid:
            due = (Decimal(-spend.amount) * refunded / paid).quantize(
                Decimal(1), rounding=ROUND_CEILING
            )
            budget = max(min(int(due), -spend.amount) - sum(given.values()), 0)
            if budget == 0:
                return []
    postings = []
    for lot_id, points, earned_at, expires_at in session.execute(
        select(
            LedgerAllocation.lot_id,
            LedgerAllocation.points,
            LoyaltyLot.earned_at,
            LoyaltyLot.expires_at,
        )
        .join(LoyaltyLot, LoyaltyLot.id == LedgerAllocation.lot_id)
        .where(LedgerAllocation.entry_id == spend.id)
        .order_by(LedgerAllocation.id)
    ):
        back = points - given.get(lot_id, 0)
        if budget is not None:
            back = min(back, budget)
        if back <= 0:
            continue
        postings.append(
            ledger.credit(
                session,
                account,
                back,
                kind="restore",
                cause=f"{prefix}{lot_id}" + (f":{part}" if budget is not None else ""),
                now=now,
                earned_at=earned_at,
                # A lot that expired meanwhile comes back already due: the next run expires it.
                expires_at=expires_at,
                note=note,
                patient_mis_id=spend.patient_mis_id,
            )
        )
        if budget is not None:
            budget -= back
            if budget <= 0:
                break
    return postings


def refund_share(accrued: int, paid: Decimal, refunded: Decimal) -> int:
    """Points of an accrual of `accrued` for a payment of `paid` that refunds adding up to
    `refunded` take back: the same share, rounded down (in the patient's favour); all of
    it once the refunds reach the payment."""
    if paid <= 0 or refunded >= paid:
        return accrued
    share = (Decimal(accrued) * refunded / paid).quantize(Decimal(1), rounding=ROUND_FLOOR)
    return max(int(share), 0)


def on_payment_reversed(
    session: Session, config: Config, payload: dict[str, Any], payment_mis_id: str, now: datetime
) -> ledger.Posting | None:
    """A refund or a deletion in the MIS: take back its cashback (even with the programme
    switched off, so no refund keeps its points), give back points a deleted bonus payment
    spent, and undo the referral rewards it triggered.

    A refund row names its own id and amount (`refund_id`, `refund_amount`; the rules add
    `refunded_before`, what earlier refund rows of the payment gave back): a partial refund
    takes back its share of the cashback, keyed by the refund row; the refund that
    completes the payment, a deletion, or an event with no amount takes back what is left,
    restores a bonus payment's points and undoes the referral rewards."""
    paid = Decimal(payload["amount"])
    refund_id = str(payload.get("refund_id") or "")
    refund = payload.get("refund_amount")
    if refund is not None and refund_id and refund_id != "deleted":
        refunded = Decimal(str(payload.get("refunded_before") or 0)) + Decimal(str(refund))
        if 0 < refunded < paid:
            # A bonus payment refunded in part: that share of its points comes back.
            restore_redemption(
                session,
                f"redemption:payment:{payment_mis_id}",
                now,
                f"refund {refund_id} of {refund} ₽ of payment {payment_mis_id} ({paid} ₽)",
                share=(refunded, paid),
                part=f"refund:{refund_id}",
            )
            return _partial_refund(
                session,
                config,
                payload,
                payment_mis_id,
                refund_id,
                Decimal(str(refund)),
                refunded,
                now,
            )
    note = f"refund of payment {payment_mis_id}"
    restore_redemption(session, f"redemption:payment:{payment_mis_id}", now, note)
    referral_reversed(session, config, payment_mis_id, now)
    posting = ledger.reverse(session, f"payment:{payment_mis_id}", now=now, note=note)
    _reversal_notice(session, config, payload, payment_mis_id, posting, note, paid)
    return posting


def _partial_refund(
    session: Session,
    config: Config,
    payload: dict[str, Any],
    payment_mis_id: str,
    refund_id: str,
    refund: Decimal,
    refunded: Decimal,
    now: datetime,
) -> ledger.Posting | None:
    """Take back the share of the cashback the refunds so far amount to: what the share
    comes to, less what earlier refund rows already took back (so rounding never adds up
    to more than the whole, and a refund row handled after a failed earlier one catches
    up)."""
    cause = f"payment:{payment_mis_id}"
    accrual = ledger.find_entry(session, cause)
    if accrual is None or accrual.amount <= 0:
        return None
    paid = Decimal(payload["amount"])
    due = refund_share(accrual.amount, paid, refunded) - ledger.reversed_points(session, cause)
    note = f"refund {refund_id} of {refund} ₽ of payment {payment_mis_id} ({paid} ₽)"
    posting = ledger.reverse(
        session, cause, now=now, note=note, points=max(due, 0), part=f"refund:{refund_id}"
    )
    _reversal_notice(
        session, config, payload, payment_mis_id, posting, note, refund, refund_id, paid
    )
    return posting


def _reversal_notice(
    session: Session,
    config: Config,
    payload: dict[str, Any],
    payment_mis_id: str,
    posting: ledger.Posting | None,
    note: str,
    amount: Decimal,
    refund_id: str = "",
    paid: Decimal | None = None,
) -> None:
    if posting is None or not posting.created:
        return
    entry = posting.entry
    if entry.shortfall:
        entry.note = f"{note}; {entry.shortfall} points already spent"
    if entry.amount:
        account = session.get(LoyaltyAccount, entry.account_id)
        assert account is not None
        partial = paid is not None
        extra: dict[str, Any] = {"paid": rub(paid)} if paid is not None else {}
        notify_account(
            session,
            config,
            account,
            f"bonus-reversed:{payment_mis_id}" + (f":{refund_id}" if partial else ""),
            "bonus_refund_partial" if partial else "bonus_reversed",
            family_template="bonus_refund_partial_family" if partial else "bonus_reversed_family",
            about=payload.get("patient_mis_id", ""),
            points=-entry.amount,
            amount=rub(amount),
            balance=account.balance,
            **extra,
        )
