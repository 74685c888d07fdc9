"""Money paid, net of partial refunds: one definition for Экономика, the leaderboard and
tiers.

The mirror marks a payment `reversed` only when it is refunded in full or deleted; a
refund of part of it is known from its own `payment.reversed` event, which carries the
refund row's amount (connectors.sync). Those events are kept for good, so they are the
record of what each payment gave back.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from core.models import DomainEvent, Payment, Referral


def money_paid(session: Session, *where: ColumnElement[bool], join: Any = None) -> Decimal:
    """Sum of the money payments matching `where` (refunded in full excluded), less what
    partial refunds of them gave back. `join` is an extra (target, onclause) for `where`."""
    conditions = (Payment.method == "money", Payment.reversed.is_(False), *where)
    total = select(func.coalesce(func.sum(Payment.amount), 0))
    ids: Select[Any] = select(Payment.mis_id)
    if join is not None:
        total, ids = total.join(*join), ids.join(*join)
    paid = Decimal(str(session.scalar(total.where(*conditions)) or 0))
    refunds = session.scalars(
        select(DomainEvent.payload).where(
            DomainEvent.kind == "payment.reversed",
            DomainEvent.subject.in_(ids.where(*conditions)),
        )
    )
    given_back = sum(
        (Decimal(str(p["refund_amount"])) for p in refunds if p.get("refund_amount")),
        Decimal(0),
    )
    return paid - given_back


def referred_money(
    session: Session, start: datetime, end: datetime, *where: ColumnElement[bool]
) -> Decimal:
    """Money paid in [start, end) by patients who came by another patient's link, from
    their coming on (a referral refused or reversed does not count): the revenue referred
    patients brought, in Экономика and the referrals report alike."""
    return money_paid(
        session,
        Payment.paid_at >= start,
        Payment.paid_at < end,
        Referral.referrer_kind == "patient",
        Referral.state.in_(("pending", "rewarded")),
        Payment.paid_at >= Referral.created_at,
        *where,
        join=(Referral, Referral.referred_patient_mis_id == Payment.patient_mis_id),
    )
