"""Money paid, net of partial refunds: one definition for Экономика, the leaderboard and
tiers.

The mirror marks a payment `reversed` only when it is refunded in full or deleted; a
refund of part of it is known from its own `payment.reversed` event, which carries the
refund row's amount (connectors.sync). Those events are kept for good, so they are the
record of what each payment gave back.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def _referred(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Payments in [start, end) by patients who came by another patient's link, from their
    coming on, for referrals neither refused nor reversed (with Payment joined to Referral)."""
    return (
        Payment.paid_at >= start,
        Payment.paid_at < end,
        Referral.referrer_kind == "patient",
        Referral.state.in_(("pending", "rewarded")),
        Payment.paid_at >= Referral.created_at,
    )


_REFERRED_JOIN = (Referral, Referral.referred_patient_mis_id == Payment.patient_mis_id)


def referred_money(
    session: Session, start: datetime, end: datetime, *where: ColumnElement[bool]
) -> Decimal:
    """The revenue referred patients brought in [start, end) (see `_referred`), net of
    refunds: in Экономика and the referrals report alike."""
    return money_paid(session, *_referred(start, end), *where, join=_REFERRED_JOIN)


@dataclass(frozen=True)
class ReferredPayment:
    referrer_id: str  # the patient whose link brought the payer
    paid_at: datetime
    net: Decimal  # the amount less what partial refunds of it gave back


def referred_payments(session: Session, start: datetime, end: datetime) -> list[ReferredPayment]:
    """The payments `referred_money` sums, one by one, in two reads: a report splits them
    by day and by referrer without a query for each (their sum is `referred_money`)."""
    conditions = (Payment.method == "money", Payment.reversed.is_(False), *_referred(start, end))
    rows = session.execute(
        select(Referral.referrer_id, Payment.mis_id, Payment.paid_at, Payment.amount)
        .join(*_REFERRED_JOIN)
        .where(*conditions)
    ).all()
    given_back: dict[str, Decimal] = {}
    for subject, payload in session.execute(
        select(DomainEvent.subject, DomainEvent.payload).where(
            DomainEvent.kind == "payment.reversed",
            DomainEvent.subject.in_(
                select(Payment.mis_id).join(*_REFERRED_JOIN).where(*conditions)
            ),
        )
    ):
        if payload.get("refund_amount"):
            amount = Decimal(str(payload["refund_amount"]))
            given_back[subject] = given_back.get(subject, Decimal(0)) + amount
    return [
        ReferredPayment(referrer, paid_at, Decimal(str(amount)) - given_back.get(mis_id, 0))
        for referrer, mis_id, paid_at, amount in rows
    ]
