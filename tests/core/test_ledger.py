"""The ledger's primitives: credits make lots, debits consume them oldest first, reversals
turn what was already spent into debt, expiry is an entry, and verify sees every cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core import ledger
from core.db import transaction
from core.models import LedgerAllocation, LedgerEntry, LoyaltyAccount, LoyaltyLot

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _lots(s, account) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [
        (lot.amount, lot.remaining)
        for lot in s.scalars(
            select(LoyaltyLot).where(LoyaltyLot.account_id == account.id).order_by(LoyaltyLot.id)
        )
    ]


def test_a_cause_is_posted_once_whatever_the_retries(factory) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        with transaction(factory) as s:
            account = ledger.account_for(s, "patient", "p1")
            ledger.credit(s, account, 172, kind="accrual", cause="payment:1", now=T0)
    with factory() as s:
        assert ledger.balance(s, "patient", "p1") == 172
        assert s.scalar(select(func.count(LedgerEntry.id))) == 1
        assert s.scalar(select(func.count(LoyaltyLot.id))) == 1
        assert ledger.verify(s) == []


def test_debits_consume_lots_oldest_first_and_record_which(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        account = ledger.account_for(s, "patient", "p1")
        ledger.credit(s, account, 100, kind="accrual", cause="payment:2", now=T0 + timedelta(1))
        # Earned earlier but posted later (a lot moved from another account): still older.
        ledger.credit(
            s,
            account,
            50,
            kind="transfer",
            cause="transfer-in:9",
            now=T0 + timedelta(2),
            earned_at=T0,
        )
        posting = ledger.debit(s, account, 120, kind="spend", cause="spend:a", now=T0)
        assert posting is not None and posting.entry.amount == -120
        allocations = (
            s.execute(
                select(LedgerAllocation.points)
                .where(LedgerAllocation.entry_id == posting.entry.id)
                .order_by(LedgerAllocation.id)
            )
            .scalars()
            .all()
        )
        assert allocations == [50, 70]
        assert _lots(s, account) == [(100, 30), (50, 0)]
        with pytest.raises(ledger.InsufficientPoints):
            ledger.debit(s, account, 31, kind="spend", cause="spend:b", now=T0)
    with factory() as s:
        assert ledger.verify(s) == []


def test_reversal_takes_its_own_lot_first_then_the_rest_then_records_debt(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        account = ledger.account_for(s, "patient", "p1")
        ledger.credit(s, account, 100, kind="accrual", cause="payment:old", now=T0)
        ledger.credit(s, account, 500, kind="accrual", cause="payment:1", now=T0 + timedelta(1))
        ledger.debit(s, account, 450, kind="spend", cause="spend:x", now=T0)  # 100 old + 350
        posting = ledger.reverse(s, "payment:1", now=T0)
        assert posting is not None
        # 150 left in its own lot, nothing elsewhere: 350 were already spent.
        assert (posting.entry.amount, posting.entry.shortfall) == (-150, 350)
        assert (account.balance, account.debt) == (0, 350)
        # The next accruals repay the debt before anything reaches the balance.
        ledger.credit(s, account, 200, kind="accrual", cause="payment:2", now=T0)
        assert (account.balance, account.debt) == (0, 150)
        ledger.credit(s, account, 200, kind="accrual", cause="payment:3", now=T0)
        assert (account.balance, account.debt) == (50, 0)
        recoveries = s.scalars(
            select(LedgerEntry.amount)
            .where(LedgerEntry.kind == "recovery")
            .order_by(LedgerEntry.id)
        ).all()
        assert recoveries == [-200, -150]
        assert ledger.reverse(s, "payment:never") is None
    with factory() as s:
        assert ledger.verify(s) == []


def test_transfer_moves_lots_with_their_age_and_expiry_and_the_debt(factory) -> None:  # type: ignore[no-untyped-def]
    expiry = T0 + timedelta(days=365)
    with transaction(factory) as s:
        own = ledger.account_for(s, "patient", "p1")
        family = ledger.account_for(s, "family", "1")
        ledger.credit(s, own, 300, kind="accrual", cause="payment:1", now=T0, expires_at=expiry)
        ledger.credit(s, family, 1000, kind="accrual", cause="payment:2", now=T0 + timedelta(5))
        assert ledger.transfer_all(s, own, family, now=T0 + timedelta(9)) == 300
        moved = s.scalar(
            select(LoyaltyLot).join(LedgerEntry).where(LedgerEntry.cause == "transfer-in:1")
        )
        assert moved is not None and (moved.earned_at, moved.expires_at) == (T0, expiry)
        assert (own.balance, family.balance) == (0, 1300)
        # The moved lot is the family's oldest now, so it is spent first.
        ledger.debit(s, family, 10, kind="spend", cause="spend:1", now=T0)
        assert moved.remaining == 290

        # Debt moves too, and is repaid at once from what the family holds.
        other = ledger.account_for(s, "patient", "p2")
        ledger.credit(s, other, 40, kind="accrual", cause="payment:3", now=T0)
        ledger.debit(s, other, 40, kind="spend", cause="spend:2", now=T0)
        ledger.reverse(s, "payment:3", now=T0)
        assert other.debt == 40
        ledger.transfer_all(s, other, family, now=T0 + timedelta(10))
        assert (other.debt, family.debt, family.balance) == (0, 0, 1250)
    with factory() as s:
        assert ledger.verify(s) == []


def test_expiry_is_an_entry_per_lot_and_runs_once(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        account = ledger.account_for(s, "patient", "p1")
        ledger.credit(
            s,
            account,
            100,
            kind="accrual",
            cause="payment:1",
            now=T0,
            expires_at=T0 + timedelta(days=30),
        )
        ledger.credit(
            s,
            account,
            70,
            kind="accrual",
            cause="payment:2",
            now=T0,
            expires_at=T0 + timedelta(days=60),
        )
        ledger.credit(s, account, 5, kind="manual", cause="manual:x", now=T0)  # never expires
        ledger.debit(s, account, 40, kind="spend", cause="spend:1", now=T0)
    with transaction(factory) as s:
        assert ledger.expire_batch(s, T0 + timedelta(days=29)) == 0
        assert ledger.expire_batch(s, T0 + timedelta(days=31)) == 1
        assert ledger.expire_batch(s, T0 + timedelta(days=31)) == 0
    with factory() as s:
        assert ledger.balance(s, "patient", "p1") == 75
        entry = s.scalar(select(LedgerEntry).where(LedgerEntry.kind == "expiry"))
        assert entry is not None and entry.amount == -60  # what was left of the first lot
    with transaction(factory) as s:
        assert ledger.expire_batch(s, T0 + timedelta(days=3650)) == 1
    with factory() as s:
        assert ledger.balance(s, "patient", "p1") == 5
        assert ledger.verify(s) == []


def test_verify_reports_every_tampered_cache(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        account = ledger.account_for(s, "patient", "p1")
        ledger.credit(s, account, 100, kind="accrual", cause="payment:1", now=T0)
        ledger.debit(s, account, 30, kind="spend", cause="spend:1", now=T0)
        account_id = account.id
    with transaction(factory) as s:
        s.execute(update(LoyaltyAccount).values(balance=999, debt=3))
        s.execute(update(LoyaltyLot).values(remaining=1))
        s.execute(update(LedgerAllocation).values(points=29))
    with factory() as s:
        problems = ledger.verify(s)
        found = {(d.what, d.cached, d.actual) for d in problems}
        assert {d.id for d in problems if d.what.startswith("account")} == {account_id}
    assert ("account balance", 999, 70) in found
    assert ("account debt", 3, 0) in found
    assert ("lot remainder", 1, 71) in found  # 100 - 29 allocated
    assert ("debit allocations", 30, 29) in found
    assert ("points in lots", 1, 70) in found
