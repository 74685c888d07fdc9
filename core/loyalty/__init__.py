"""The loyalty programme: earning rules, families, referrals, staff links, expiry, reports.

core.ledger keeps the books (entries, lots, allocations); this package decides what to
post and when. Plain Python on a SQLAlchemy session: no Flask, no Telegram.
"""

from __future__ import annotations

from core.loyalty.accounts import account_of, read_account
from core.loyalty.earning import on_payment_received, on_payment_reversed
from core.loyalty.referrals import check_first_paid_visit, on_linked, parse_payload
from core.loyalty.settings import effective

__all__ = [
    "account_of",
    "check_first_paid_visit",
    "effective",
    "on_linked",
    "on_payment_received",
    "on_payment_reversed",
    "parse_payload",
    "read_account",
]
