from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import ledger
from core.db import transaction
from core.models import LedgerEntry


def test_payment_accrues_once_whatever_the_retries(factory) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        with transaction(factory) as s:
            ledger.accrue_for_payment(s, "p1", "pay1", Decimal("3450.00"), 5.0, 365)
    with factory() as s:
        assert ledger.balance(s, "patient", "p1") == 172  # 5 % of 3450 = 172.5, rounded down
        assert s.scalar(select(func.count(LedgerEntry.id))) == 1
        assert ledger.verify(s) == []


def test_refund_reverses_and_never_goes_below_zero(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        ledger.accrue_for_payment(s, "p1", "pay1", Decimal("10000"), 5.0, 365)  # +500
        ledger.redeem_for_payment(s, "p1", "pay2", Decimal("300"), 1.0)  # -300
        posting = ledger.reverse_payment_accrual(s, "pay1")
        assert posting is not None and posting.entry.amount == -200
        assert "300 points already spent" in posting.entry.note
    with factory() as s:
        assert ledger.balance(s, "patient", "p1") == 0
        assert ledger.verify(s) == []


def test_redemption_is_capped_by_balance(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        ledger.accrue_for_payment(s, "p1", "pay1", Decimal("2000"), 5.0, 365)  # +100
        ledger.redeem_for_payment(s, "p1", "pay2", Decimal("500"), 1.0)
        assert ledger.balance(s, "patient", "p1") == 0


def test_post_refuses_negative_balance(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        account = ledger.account_for(s, "patient", "p1")
        with pytest.raises(ValueError, match="below zero"):
            ledger.post(s, account, -1, kind="manual", cause="manual:1")


def test_verify_reports_a_tampered_cache(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        ledger.accrue_for_payment(s, "p1", "pay1", Decimal("2000"), 5.0, 365)
        account = ledger.account_for(s, "patient", "p1")
        account.balance = 999
    with factory() as s:
        assert ledger.verify(s) == [(account.id, 999, 100)]
