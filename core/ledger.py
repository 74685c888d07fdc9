"""The loyalty ledger: append-only entries, one per cause, lots with expiry, cached balances.

Every entry names its cause ("payment:123", "reversal:payment:123", "manual:<key>");
`cause` is unique in the table, so posting the same cause twice is a no-op, whichever
process, restart or retry tries it.

A credit (an accrual, a bonus, a grant) creates a lot: its points, with their own expiry.
A debit (a spend, an expiry, a reversal, a transfer) consumes lots, oldest first, and
records which ones in `ledger_allocations`. Balances, lot remainders and debts are caches
of sums over entries and allocations, written in the same transaction; `verify` recomputes
all of them.

Points are never taken below zero. A reversal that finds its points already spent takes
what there is and records the rest as the account's debt, which the next credits repay
before they add to the balance; so, while an account owes, its balance is zero.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.loyalty.basis import note as basis_note
from core.models import LedgerAllocation, LedgerEntry, LoyaltyAccount, LoyaltyLot

# Credits that create lots. "transfer" credits too, but moves points rather than earning.
EARN_KINDS = ("accrual", "welcome", "referral", "birthday", "review", "social", "staff", "manual")
SPEND_KINDS = ("redemption", "spend")
# What a debit may do when the balance is short: refuse, take what there is, or take
# what there is and record the rest as debt.
Short = Literal["refuse", "cap", "debt"]


class InsufficientPoints(ValueError):
    """A debit asked for more points than the account holds."""


@dataclass(frozen=True)
class Posting:
    entry: LedgerEntry
    created: bool  # False when the cause was already posted


@dataclass(frozen=True)
class Discrepancy:
    """A cache that disagrees with the entries: what, which row, the cached and true values."""

    what: str
    id: int
    cached: int
    actual: int

    def __str__(self) -> str:
        return f"{self.what} {self.id}: cached {self.cached}, recomputed {self.actual}"


def find_account(session: Session, owner_kind: str, owner_id: str) -> LoyaltyAccount | None:
    return session.scalar(
        select(LoyaltyAccount).where(
            LoyaltyAccount.owner_kind == owner_kind, LoyaltyAccount.owner_id == owner_id
        )
    )


def account_for(session: Session, owner_kind: str, owner_id: str) -> LoyaltyAccount:
    account = find_account(session, owner_kind, owner_id)
    if account is None:
        account = LoyaltyAccount(owner_kind=owner_kind, owner_id=owner_id, balance=0, debt=0)
        session.add(account)
        session.flush()
    return account


def find_entry(session: Session, cause: str) -> LedgerEntry | None:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.cause == cause))


def _entry(
    session: Session,
    account: LoyaltyAccount,
    amount: int,
    *,
    kind: str,
    cause: str,
    now: datetime,
    note: str,
    created_by: str,
    patient_mis_id: str,
    shortfall: int = 0,
    expires_at: datetime | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(
        account_id=account.id,
        amount=amount,
        kind=kind,
        cause=cause,
        note=note,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
        shortfall=shortfall,
        patient_mis_id=patient_mis_id,
    )
    session.add(entry)
    account.balance += amount
    account.debt += shortfall
    session.flush()
    return entry


def _lock(session: Session, account: LoyaltyAccount) -> None:
    """Reload the account under a row lock before changing its balance.

    SQLite serialises writers by itself; on PostgreSQL, two transactions posting to one
    account (the runner's accrual and a spend at the desk) would otherwise both add to the
    balance they read, and one change would be lost. Pending changes are flushed first so
    the reload keeps them.
    """
    session.flush()
    session.refresh(account, with_for_update=True)


def credit(
    session: Session,
    account: LoyaltyAccount,
    amount: int,
    *,
    kind: str,
    cause: str,
    now: datetime | None = None,
    expires_at: datetime | None = None,
    earned_at: datetime | None = None,
    note: str = "",
    created_by: str = "system",
    patient_mis_id: str = "",
    settle: bool = True,
) -> Posting:
    """Add points as a new lot; then repay the account's debt from them, if it has one."""
    if amount <= 0:
        raise ValueError(f"credit {cause} of {amount}: a credit must be positive")
    existing = find_entry(session, cause)
    if existing is not None:
        return Posting(existing, created=False)
    now = now or utcnow()
    _lock(session, account)
    entry = _entry(
        session,
        account,
        amount,
        kind=kind,
        cause=cause,
        now=now,
        note=note,
        created_by=created_by,
        patient_mis_id=patient_mis_id,
        expires_at=expires_at,
    )
    session.add(
        LoyaltyLot(
            account_id=account.id,
            entry_id=entry.id,
            amount=amount,
            remaining=amount,
            is_open=True,
            earned_at=earned_at or now,
            expires_at=expires_at,
        )
    )
    session.flush()
    if settle:
        settle_debt(session, account, cause, now=now)
    return Posting(entry, created=True)


def open_lots(session: Session, account: LoyaltyAccount) -> list[LoyaltyLot]:
    """Lots with points left, oldest first: the order they are spent in."""
    return list(
        session.scalars(
            select(LoyaltyLot)
            .where(LoyaltyLot.account_id == account.id, LoyaltyLot.is_open.is_(True))
            .order_by(LoyaltyLot.earned_at, LoyaltyLot.id)
        )
    )


def debit(
    session: Session,
    account: LoyaltyAccount,
    points: int,
    *,
    kind: str,
    cause: str,
    now: datetime | None = None,
    note: str = "",
    created_by: str = "system",
    patient_mis_id: str = "",
    short: Short = "refuse",
    first_lot_id: int | None = None,
    only_lot_id: int | None = None,
) -> Posting | None:
    """Take points from the account's lots, oldest first (`first_lot_id` before the rest).

    Returns None when there was nothing to take and nothing to record.
    """
    if points < 0:
        raise ValueError(f"debit {cause} of {points}: points must not be negative")
    existing = find_entry(session, cause)
    if existing is not None:
        return Posting(existing, created=False)
    now = now or utcnow()
    _lock(session, account)
    lots = open_lots(session, account)
    if only_lot_id is not None:
        lots = [lot for lot in lots if lot.id == only_lot_id]
    elif first_lot_id is not None:
        lots.sort(key=lambda lot: lot.id != first_lot_id)  # stable: the rest stay FIFO
    available = sum(lot.remaining for lot in lots)
    take = min(points, available)
    if take < points and short == "refuse":
        raise InsufficientPoints(
            f"{cause}: {points} points asked, account {account.id} holds {available}"
        )
    shortfall = points - take if short == "debt" else 0
    if take == 0 and shortfall == 0:
        return None
    entry = _entry(
        session,
        account,
        -take,
        kind=kind,
        cause=cause,
        now=now,
        note=note,
        created_by=created_by,
        patient_mis_id=patient_mis_id,
        shortfall=shortfall,
    )
    left = take
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        if part == 0:
            continue
        session.add(LedgerAllocation(entry_id=entry.id, lot_id=lot.id, points=part))
        lot.remaining -= part
        lot.is_open = lot.remaining > 0
        left -= part
    session.flush()
    return Posting(entry, created=True)


def settle_debt(
    session: Session, account: LoyaltyAccount, trigger: str, *, now: datetime | None = None
) -> Posting | None:
    """Repay the account's debt from its balance, as far as it goes."""
    repay = min(account.debt, account.balance)
    if repay <= 0:
        return None
    posting = debit(
        session,
        account,
        repay,
        kind="recovery",
        cause=f"recovery:{trigger}",
        now=now,
        note=basis_note("recovery", points=repay),
    )
    if posting is not None and posting.created:
        posting.entry.shortfall = -repay
        account.debt -= repay
        session.flush()
    return posting


def reversed_points(session: Session, cause: str) -> int:
    """Points already taken back from the credit `cause` (taken, or owed as debt) by its
    reversals: the whole `reversal:<cause>` and the parts `reversal:<cause>:<part>`."""
    total = 0
    for amount, shortfall in session.execute(
        select(LedgerEntry.amount, LedgerEntry.shortfall).where(
            (LedgerEntry.cause == f"reversal:{cause}")
            | LedgerEntry.cause.startswith(f"reversal:{cause}:", autoescape=True)
        )
    ):
        total += -amount + shortfall
    return total


def reverse(
    session: Session,
    cause: str,
    *,
    now: datetime | None = None,
    note: str = "",
    created_by: str = "system",
    points: int | None = None,
    part: str = "",
) -> Posting | None:
    """Take back what a credit gave: from its own lot first, then from the oldest others;
    what was already spent becomes debt. None if `cause` was never credited or nothing of
    it is left to take back.

    Without `points`, everything not yet taken back (`reversal:<cause>`). With `points` and
    `part`, a share of it (`reversal:<cause>:<part>`, e.g. one partial refund), never more
    than is left: the parts and the whole never take back more than the credit gave."""
    original = find_entry(session, cause)
    if original is None or original.amount <= 0:
        return None
    reversal_cause = f"reversal:{cause}:{part}" if part else f"reversal:{cause}"
    existing = find_entry(session, reversal_cause)
    if existing is not None:
        return Posting(existing, created=False)
    left = original.amount - reversed_points(session, cause)
    want = left if points is None else min(points, left)
    if want <= 0:
        return None
    account = session.get(LoyaltyAccount, original.account_id)
    assert account is not None
    lot_id = session.scalar(select(LoyaltyLot.id).where(LoyaltyLot.entry_id == original.id))
    return debit(
        session,
        account,
        want,
        kind="reversal",
        cause=reversal_cause,
        now=now,
        note=note,
        created_by=created_by,
        patient_mis_id=original.patient_mis_id,
        short="debt",
        first_lot_id=lot_id,
    )


def transfer_all(
    session: Session,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    *,
    now: datetime | None = None,
    note: str = "",
    created_by: str = "system",
    patient_mis_id: str = "",
) -> int:
    """Move every open lot (keeping its age and expiry) and any debt to another account.

    Returns the points moved. One entry pair per lot, keyed by the lot, so a repeated move
    moves nothing twice.
    """
    if source.id == target.id:
        return 0
    now = now or utcnow()
    moved = 0
    for lot in open_lots(session, source):
        points = lot.remaining
        out = debit(
            session,
            source,
            points,
            kind="transfer",
            cause=f"transfer-out:{lot.id}",
            now=now,
            note=note,
            created_by=created_by,
            patient_mis_id=patient_mis_id,
            only_lot_id=lot.id,
        )
        if out is None or not out.created:
            continue
        credit(
            session,
            target,
            points,
            kind="transfer",
            cause=f"transfer-in:{lot.id}",
            now=now,
            earned_at=lot.earned_at,
            expires_at=lot.expires_at,
            note=note,
            created_by=created_by,
            patient_mis_id=patient_mis_id,
            settle=False,
        )
        moved += points
    if source.debt > 0:
        debt = source.debt
        # Entries only ever grow, so their count names this move uniquely.
        seq = session.scalar(
            select(func.count(LedgerEntry.id)).where(LedgerEntry.account_id == source.id)
        )
        for account, sign, side in ((source, -1, "out"), (target, 1, "in")):
            _entry(
                session,
                account,
                0,
                kind="transfer",
                cause=f"transfer-debt-{side}:{source.id}:{seq}",
                now=now,
                note=note or basis_note("debt_moved", points=debt),
                created_by=created_by,
                patient_mis_id=patient_mis_id,
                shortfall=sign * debt,
            )
    # Named by the target's entry count, not the clock: a replay after a crash must
    # produce the same cause, or the recovery could be posted twice.
    target_seq = session.scalar(
        select(func.count(LedgerEntry.id)).where(LedgerEntry.account_id == target.id)
    )
    settle_debt(session, target, f"transfer:{source.id}:{target.id}:{target_seq}", now=now)
    return moved


def expire_batch(session: Session, now: datetime, limit: int = 5000) -> int:
    """Expire up to `limit` lots whose time has come; returns how many.

    Written in bulk (one INSERT of entries, one of allocations, one UPDATE each of lots
    and accounts) because the first run after a long stop may face a year of lots.
    """
    rows = session.execute(
        select(LoyaltyLot.id, LoyaltyLot.account_id, LoyaltyLot.remaining)
        .where(LoyaltyLot.is_open.is_(True), LoyaltyLot.expires_at <= now)
        .order_by(LoyaltyLot.expires_at, LoyaltyLot.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    # A cause posted by an interrupted run of another process must not be posted again.
    causes = [f"expiry:{lot_id}" for lot_id, _, _ in rows]
    done = set(session.scalars(select(LedgerEntry.cause).where(LedgerEntry.cause.in_(causes))))
    todo = [
        (lid, aid, rem) for (lid, aid, rem), c in zip(rows, causes, strict=True) if c not in done
    ]
    if not todo:
        return 0
    entries = cast(Table, LedgerEntry.__table__)
    session.execute(
        insert(entries),
        [
            {
                "account_id": account_id,
                "amount": -remaining,
                "kind": "expiry",
                "cause": f"expiry:{lot_id}",
                "expires_at": None,
                "note": "",
                "created_by": "system",
                "created_at": now,
                "shortfall": 0,
                "patient_mis_id": "",
            }
            for lot_id, account_id, remaining in todo
        ],
    )
    # Plain executemany (no RETURNING, which is several times slower in bulk): the ids are
    # read back by the unique cause.
    entry_of = dict(
        session.execute(
            select(LedgerEntry.cause, LedgerEntry.id).where(
                LedgerEntry.cause.in_([f"expiry:{lot_id}" for lot_id, _, _ in todo])
            )
        ).all()
    )
    session.execute(
        insert(cast(Table, LedgerAllocation.__table__)),
        [
            {"entry_id": entry_of[f"expiry:{lot_id}"], "lot_id": lot_id, "points": remaining}
            for lot_id, _, remaining in todo
        ],
    )
    lots = cast(Table, LoyaltyLot.__table__)
    session.execute(
        update(lots)
        .where(lots.c.id.in_([lot_id for lot_id, _, _ in todo]))
        .values(remaining=0, is_open=False)
    )
    per_account: dict[int, int] = defaultdict(int)
    for _, account_id, remaining in todo:
        per_account[account_id] += remaining
    table = cast(Table, LoyaltyAccount.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("account"))
        .values(balance=table.c.balance - bindparam("points")),
        [{"account": a, "points": p} for a, p in per_account.items()],
    )
    # The bulk statements bypassed the identity map; objects loaded before are stale.
    session.expire_all()
    return len(todo)


_BALANCE = select(LoyaltyAccount.balance).where(
    LoyaltyAccount.owner_kind == bindparam("kind"), LoyaltyAccount.owner_id == bindparam("owner")
)


def balance(session: Session, owner_kind: str, owner_id: str) -> int:
    """The cached balance: one indexed row, read on the connection (the ORM's per-query
    overhead is four times the read itself, and the bot and the panel read it often)."""
    value = session.connection().execute(_BALANCE, {"kind": owner_kind, "owner": owner_id})
    return value.scalar() or 0


def verify(session: Session) -> list[Discrepancy]:
    """Recompute every cache from the entries and allocations; list what disagrees.

    Checks: balance = sum(amounts), debt = sum(shortfalls), neither below zero; each credit
    has one lot of its amount and each lot's remainder = amount - its allocations; each
    debit's allocations add up to what it took; an account's open lots add up to its balance.
    """
    problems: list[Discrepancy] = []
    sums = {
        account_id: (int(amount), int(shortfall))
        for account_id, amount, shortfall in session.execute(
            select(
                LedgerEntry.account_id,
                func.coalesce(func.sum(LedgerEntry.amount), 0),
                func.coalesce(func.sum(LedgerEntry.shortfall), 0),
            ).group_by(LedgerEntry.account_id)
        )
    }
    lot_sums = dict(
        session.execute(
            select(LoyaltyLot.account_id, func.sum(LoyaltyLot.remaining)).group_by(
                LoyaltyLot.account_id
            )
        ).all()
    )
    for account_id, cached_balance, cached_debt in session.execute(
        select(LoyaltyAccount.id, LoyaltyAccount.balance, LoyaltyAccount.debt)
    ):
        actual, owed = sums.get(account_id, (0, 0))
        if actual != cached_balance:
            problems.append(Discrepancy("account balance", account_id, cached_balance, actual))
        if owed != cached_debt:
            problems.append(Discrepancy("account debt", account_id, cached_debt, owed))
        if actual < 0:
            problems.append(Discrepancy("negative balance", account_id, cached_balance, actual))
        if owed < 0:
            problems.append(Discrepancy("negative debt", account_id, cached_debt, owed))
        in_lots = int(lot_sums.get(account_id) or 0)
        if in_lots != actual:
            problems.append(Discrepancy("points in lots", account_id, in_lots, actual))

    allocated = dict(
        session.execute(
            select(LedgerAllocation.lot_id, func.sum(LedgerAllocation.points)).group_by(
                LedgerAllocation.lot_id
            )
        ).all()
    )
    for lot_id, amount, remaining, is_open, entry_amount in session.execute(
        select(
            LoyaltyLot.id,
            LoyaltyLot.amount,
            LoyaltyLot.remaining,
            LoyaltyLot.is_open,
            LedgerEntry.amount,
        ).join(LedgerEntry, LedgerEntry.id == LoyaltyLot.entry_id)
    ):
        if amount != entry_amount:
            problems.append(Discrepancy("lot amount", lot_id, amount, entry_amount))
        actual = amount - int(allocated.get(lot_id) or 0)
        if remaining != actual or actual < 0:
            problems.append(Discrepancy("lot remainder", lot_id, remaining, actual))
        if bool(is_open) != (actual > 0):
            problems.append(
                Discrepancy("lot open flag", lot_id, int(bool(is_open)), int(actual > 0))
            )

    lotless = session.scalars(
        select(LedgerEntry.id)
        .outerjoin(LoyaltyLot, LoyaltyLot.entry_id == LedgerEntry.id)
        .where(LedgerEntry.amount > 0, LoyaltyLot.id.is_(None))
    ).all()
    problems += [Discrepancy("credit without a lot", entry_id, 0, 1) for entry_id in lotless]

    taken = dict(
        session.execute(
            select(LedgerAllocation.entry_id, func.sum(LedgerAllocation.points)).group_by(
                LedgerAllocation.entry_id
            )
        ).all()
    )
    for entry_id, amount in session.execute(
        select(LedgerEntry.id, LedgerEntry.amount).where(LedgerEntry.amount <= 0)
    ):
        actual = int(taken.get(entry_id) or 0)
        if actual != -amount:
            problems.append(Discrepancy("debit allocations", entry_id, -amount, actual))
    return problems
