"""The loyalty ledger: append-only entries, one per cause, and a cached balance.

Every entry names its cause ("payment:123", "reversal:payment:123", "manual:<uuid>");
`cause` is unique in the table, so posting the same cause twice is a no-op, whichever
process, restart or retry tries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import LedgerEntry, LoyaltyAccount


@dataclass(frozen=True)
class Posting:
    entry: LedgerEntry
    created: bool  # False when the cause was already posted


def account_for(session: Session, owner_kind: str, owner_id: str) -> LoyaltyAccount:
    account = session.scalar(
        select(LoyaltyAccount).where(
            LoyaltyAccount.owner_kind == owner_kind, LoyaltyAccount.owner_id == owner_id
        )
    )
    if account is None:
        account = LoyaltyAccount(owner_kind=owner_kind, owner_id=owner_id, balance=0)
        session.add(account)
        session.flush()
    return account


def find_entry(session: Session, cause: str) -> LedgerEntry | None:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.cause == cause))


def post(
    session: Session,
    account: LoyaltyAccount,
    amount: int,
    *,
    kind: str,
    cause: str,
    note: str = "",
    created_by: str = "system",
    expires_at: datetime | None = None,
) -> Posting:
    """Append an entry unless its cause is already posted; never lets a balance go negative."""
    existing = find_entry(session, cause)
    if existing is not None:
        return Posting(existing, created=False)
    if account.balance + amount < 0:
        raise ValueError(
            f"entry {cause} of {amount} would take account {account.id} below zero "
            f"(balance {account.balance})"
        )
    entry = LedgerEntry(
        account_id=account.id,
        amount=amount,
        kind=kind,
        cause=cause,
        note=note,
        created_by=created_by,
        expires_at=expires_at,
        created_at=utcnow(),
    )
    session.add(entry)
    account.balance += amount
    session.flush()
    return Posting(entry, created=True)


def cashback_points(amount: Decimal, percent: float) -> int:
    """Whole points, rounded down: a fraction of a point is never promised."""
    points = (amount * Decimal(str(percent)) / Decimal(100)).quantize(
        Decimal(1), rounding=ROUND_FLOOR
    )
    return max(int(points), 0)


def accrue_for_payment(
    session: Session,
    patient_mis_id: str,
    payment_mis_id: str,
    amount: Decimal,
    percent: float,
    expiry_days: int,
) -> Posting | None:
    points = cashback_points(amount, percent)
    if points <= 0:
        return None
    account = account_for(session, "patient", patient_mis_id)
    expires = utcnow() + timedelta(days=expiry_days) if expiry_days else None
    return post(
        session,
        account,
        points,
        kind="accrual",
        cause=f"payment:{payment_mis_id}",
        note=f"{percent:g}% of {amount} ₽",
        expires_at=expires,
    )


def reverse_payment_accrual(session: Session, payment_mis_id: str) -> Posting | None:
    """Take back what a refunded payment earned, as far as the balance allows.

    If the points were already spent, the balance stops at zero and the note records the
    shortfall (recovering it from later accruals is part of the full loyalty engine).
    """
    accrual = find_entry(session, f"payment:{payment_mis_id}")
    if accrual is None:
        return None
    account = session.get(LoyaltyAccount, accrual.account_id)
    assert account is not None
    take = min(accrual.amount, max(account.balance, 0))
    shortfall = accrual.amount - take
    note = f"refund of payment {payment_mis_id}"
    if shortfall:
        note += f"; {shortfall} points already spent"
    return post(
        session,
        account,
        -take,
        kind="reversal",
        cause=f"reversal:payment:{payment_mis_id}",
        note=note,
    )


def redeem_for_payment(
    session: Session,
    patient_mis_id: str,
    payment_mis_id: str,
    amount: Decimal,
    point_value_rub: float,
) -> Posting | None:
    """A bill paid with bonus points in the MIS: spend the points, never below zero."""
    points = int(
        (amount / Decimal(str(point_value_rub))).quantize(Decimal(1), rounding=ROUND_FLOOR)
    )
    account = account_for(session, "patient", patient_mis_id)
    points = min(points, max(account.balance, 0))
    if points <= 0:
        return None
    return post(
        session, account, -points, kind="redemption", cause=f"redemption:payment:{payment_mis_id}"
    )


def balance(session: Session, owner_kind: str, owner_id: str) -> int:
    value = session.scalar(
        select(LoyaltyAccount.balance).where(
            LoyaltyAccount.owner_kind == owner_kind, LoyaltyAccount.owner_id == owner_id
        )
    )
    return value or 0


def verify(session: Session) -> list[tuple[int, int, int]]:
    """Accounts whose cached balance differs from the sum of their entries: (id, cached, sum)."""
    sums = dict(
        session.execute(
            select(LedgerEntry.account_id, func.coalesce(func.sum(LedgerEntry.amount), 0)).group_by(
                LedgerEntry.account_id
            )
        ).all()
    )
    problems = []
    for account in session.scalars(select(LoyaltyAccount)):
        actual = int(sums.get(account.id, 0))
        if actual != account.balance:
            problems.append((account.id, account.balance, actual))
    return problems
