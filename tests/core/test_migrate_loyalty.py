"""0002_loyalty on a store written by 0001's simple cashback: lots, allocations and debts
come out such that `ledger verify` passes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import select, text

from core import ledger
from core.db import make_engine, session_factory
from core.migrate import _alembic_config, upgrade
from core.models import LoyaltyAccount, LoyaltyLot

OLD_ENTRIES = [
    # (account, amount, kind, cause, note, created_at)
    (1, 500, "accrual", "payment:1", "5% of 10000 ₽", "2026-01-01 10:00:00.000000"),
    (1, 100, "accrual", "payment:2", "5% of 2000 ₽", "2026-01-02 10:00:00.000000"),
    (1, -450, "redemption", "redemption:payment:3", "", "2026-01-03 10:00:00.000000"),
    # 0001 took what the balance allowed (150) and wrote the rest into the note.
    (
        1,
        -150,
        "reversal",
        "reversal:payment:1",
        "refund of payment 1; 350 points already spent",
        "2026-01-04 10:00:00.000000",
    ),
    (2, 40, "accrual", "payment:5", "", "2026-01-05 10:00:00.000000"),
]


def test_upgrade_turns_old_entries_into_lots_and_debts(tmp_path: Path, store_url: str) -> None:
    engine = make_engine(store_url)
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    with engine.begin() as c:
        for account_id, owner in ((1, "p1"), (2, "p2")):
            c.execute(
                text(
                    "INSERT INTO loyalty_accounts (id, owner_kind, owner_id, balance, created_at)"
                    " VALUES (:id, 'patient', :o, 0, '2026-01-01 00:00:00.000000')"
                ),
                {"id": account_id, "o": owner},
            )
        for account_id, amount, kind, cause, note, at in OLD_ENTRIES:
            c.execute(
                text(
                    "INSERT INTO ledger_entries (account_id, amount, kind, cause, expires_at,"
                    " note, created_by, created_at) VALUES (:a, :m, :k, :c, :e, :n, 'system', :t)"
                ),
                {
                    "a": account_id,
                    "m": amount,
                    "k": kind,
                    "c": cause,
                    # Credits expire; a plain parameter, so PostgreSQL types it by the column.
                    "e": "2027-01-01 00:00:00.000000" if amount > 0 else None,
                    "n": note,
                    "t": at,
                },
            )
            c.execute(
                text("UPDATE loyalty_accounts SET balance = balance + :m WHERE id = :a"),
                {"m": amount, "a": account_id},
            )
    upgrade(engine, tmp_path / "m.lock")
    with session_factory(engine)() as s:
        assert ledger.verify(s) == []
        lots = s.execute(
            select(LoyaltyLot.account_id, LoyaltyLot.amount, LoyaltyLot.remaining).order_by(
                LoyaltyLot.id
            )
        ).all()
        # The redemption took the oldest first (500 -> 50); the reversal took its own lot's 50
        # and then 100 from the next lot.
        assert lots == [(1, 500, 0), (1, 100, 0), (2, 40, 40)]
        debts = dict(s.execute(select(LoyaltyAccount.owner_id, LoyaltyAccount.debt)).all())
        assert debts == {"p1": 350, "p2": 0}
        account = ledger.find_account(s, "patient", "p1")
        assert account is not None
        # The debt is repaid from the next accrual, as the new rules say.
        ledger.credit(s, account, 400, kind="accrual", cause="payment:9")
        assert (account.balance, account.debt) == (50, 0)
        s.flush()
        assert ledger.verify(s) == []
    engine.dispose()
