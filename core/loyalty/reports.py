"""The owner's numbers: what the programme costs per month against the flat discount it
replaced, and the staff leaderboard for connecting patients."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from core.config import Config
from core.ledger import EARN_KINDS, SPEND_KINDS
from core.loyalty.money import money_paid, referred_money
from core.loyalty.settings import effective
from core.models import LedgerEntry, LoyaltyAccount, Payment, Referral, StaffUser

CORRECTION_KINDS = ("reversal", "recovery", "manual")


def is_accrued() -> ColumnElement[bool]:
    """What "accrued" means in every report and on the dashboard: points earned (cashback,
    welcome, referral, birthday, review, social, staff bonuses, manual grants). Moves between
    accounts (`transfer`), spends given back (`restore`) and a manual deduction are not."""
    return and_(LedgerEntry.kind.in_(EARN_KINDS), LedgerEntry.amount > 0)


def points_accrued(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> int:
    """Points accrued (see `is_accrued`), all time or in [start, end)."""
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(is_accrued())
    if start is not None:
        stmt = stmt.where(LedgerEntry.created_at >= start)
    if end is not None:
        stmt = stmt.where(LedgerEntry.created_at < end)
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True)
class MonthEconomics:
    month: date
    accrued: int  # points earned (cashback, bonuses, grants)
    taken_back: int  # reversed on refunds, withheld against debts, deducted by hand
    spent: int  # paid with, in the MIS or the panel (net of spends undone)
    expired: int
    liability_points: int  # points outstanding at the month's end (or now)
    point_value_rub: Decimal
    revenue_rub: Decimal  # money payments, net of refunds
    referred_revenue_rub: Decimal  # of which from patients who came by a patient's link
    flat_discount_percent: Decimal

    @property
    def liability_rub(self) -> Decimal:
        return Decimal(self.liability_points) * self.point_value_rub

    @property
    def spent_rub(self) -> Decimal:
        return Decimal(self.spent) * self.point_value_rub

    @property
    def cost_rub(self) -> Decimal:
        """What the month's points will cost: earned, less taken back and expired."""
        return Decimal(self.accrued - self.taken_back - self.expired) * self.point_value_rub

    @property
    def effective_discount_percent(self) -> Decimal | None:
        """Points paid with, as a share of revenue: the discount patients actually took."""
        if not self.revenue_rub:
            return None
        return self.spent_rub * 100 / self.revenue_rub

    @property
    def cost_percent(self) -> Decimal | None:
        if not self.revenue_rub:
            return None
        return self.cost_rub * 100 / self.revenue_rub

    @property
    def flat_discount_rub(self) -> Decimal:
        """The same bills under the old flat discount."""
        return self.revenue_rub * self.flat_discount_percent / 100

    @property
    def saving_rub(self) -> Decimal:
        return self.flat_discount_rub - self.cost_rub


def month_starts(now: datetime, config: Config, months: int) -> list[datetime]:
    """Starts (UTC) of the last `months` clinic-calendar months, oldest first, plus the
    start of the next month as the end bound."""
    local = now.astimezone(config.clinic.tz)
    year, month = local.year, local.month
    firsts = []
    for _ in range(months):
        firsts.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    firsts.reverse()
    ny, nm = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
    firsts.append((ny, nm))
    tz = config.clinic.tz
    return [datetime(y, m, 1, tzinfo=tz).astimezone(UTC) for y, m in firsts]


def economics(
    session: Session, config: Config, now: datetime, months: int = 12
) -> list[MonthEconomics]:
    settings = effective(session, config)
    value = Decimal(str(settings.point_value_rub))
    flat = Decimal(str(settings.previous_discount_percent))
    bounds = month_starts(now, config, months)
    kind, amount = LedgerEntry.kind, LedgerEntry.amount
    # The points owed to patients at a month's end, worked back from what they hold now
    # (the cached balances, which `kabinet ledger verify` keeps equal to the entries' sum)
    # minus what moved since: short index ranges instead of summing the whole ledger once
    # a month (3 s at 1,000,000 entries). Staff accounts are no liability of the clinic.
    staff_accounts = select(LoyaltyAccount.id).where(LoyaltyAccount.owner_kind == "staff")
    patients_own = LedgerEntry.account_id.not_in(staff_accounts.scalar_subquery())
    owed_now = session.scalar(
        select(func.coalesce(func.sum(LoyaltyAccount.balance), 0)).where(
            LoyaltyAccount.owner_kind != "staff"
        )
    )
    moved_after = session.scalar(
        select(func.coalesce(func.sum(amount), 0)).where(
            LedgerEntry.created_at >= bounds[-1], patients_own
        )
    )
    liability = int(owed_now or 0) - int(moved_after or 0)  # at the end of the last month
    nets: list[int] = []
    rows = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        in_month = and_(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        sums = session.execute(
            select(
                func.coalesce(func.sum(case((is_accrued(), amount), else_=0)), 0),
                func.coalesce(
                    func.sum(
                        case((and_(kind.in_(CORRECTION_KINDS), amount < 0), -amount), else_=0)
                    ),
                    0,
                ),
                func.coalesce(func.sum(case((kind.in_(SPEND_KINDS), -amount), else_=0)), 0),
                func.coalesce(func.sum(case((kind == "restore", amount), else_=0)), 0),
                func.coalesce(func.sum(case((kind == "expiry", -amount), else_=0)), 0),
                func.coalesce(func.sum(case((patients_own, amount), else_=0)), 0),
            ).where(in_month)
        ).one()
        accrued, taken_back, spent, restored, expired, net = (int(x) for x in sums)
        nets.append(net)
        in_period = (Payment.paid_at >= start, Payment.paid_at < end)
        revenue = money_paid(session, *in_period)
        referred = referred_money(session, start, end)
        rows.append(
            MonthEconomics(
                month=start.astimezone(config.clinic.tz).date(),
                accrued=accrued,
                taken_back=taken_back,
                spent=spent - restored,
                expired=expired,
                liability_points=0,  # filled in below, from the last month back
                point_value_rub=value,
                revenue_rub=revenue,
                referred_revenue_rub=referred,
                flat_discount_percent=flat,
            )
        )
    for index in range(len(rows) - 1, -1, -1):
        rows[index] = replace(rows[index], liability_points=liability)
        liability -= nets[index]
    return rows


@dataclass(frozen=True)
class StaffStanding:
    staff_id: int
    name: str
    connected: int  # patients connected through their link in the period
    paying: int  # of whom paid for a visit after connecting
    points: int  # earned by connecting, in the period


def leaderboard(session: Session, start: datetime, end: datetime) -> list[StaffStanding]:
    in_period = and_(
        Referral.referrer_kind == "staff",
        Referral.state == "rewarded",
        Referral.created_at >= start,
        Referral.created_at < end,
    )
    connected = dict(
        session.execute(
            select(Referral.referrer_id, func.count(Referral.id))
            .where(in_period)
            .group_by(Referral.referrer_id)
        ).all()
    )
    paying_patients = (
        select(Payment.id)
        .where(
            Payment.patient_mis_id == Referral.referred_patient_mis_id,
            Payment.method == "money",
            Payment.reversed.is_(False),
            Payment.paid_at >= Referral.created_at,
        )
        .exists()
    )
    paying = dict(
        session.execute(
            select(Referral.referrer_id, func.count(Referral.id))
            .where(in_period, paying_patients)
            .group_by(Referral.referrer_id)
        ).all()
    )
    points = dict(
        session.execute(
            select(LoyaltyAccount.owner_id, func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.account_id == LoyaltyAccount.id)
            .where(
                LoyaltyAccount.owner_kind == "staff",
                LedgerEntry.kind == "staff",
                LedgerEntry.created_at >= start,
                LedgerEntry.created_at < end,
            )
            .group_by(LoyaltyAccount.owner_id)
        ).all()
    )
    rows = [
        StaffStanding(
            staff_id=user.id,
            name=user.full_name or user.login,
            connected=int(connected.get(str(user.id), 0)),
            paying=int(paying.get(str(user.id), 0)),
            points=int(points.get(str(user.id)) or 0),
        )
        for user in session.scalars(select(StaffUser).where(StaffUser.active.is_(True)))
    ]
    return sorted(rows, key=lambda r: (-r.connected, -r.points, r.name))
