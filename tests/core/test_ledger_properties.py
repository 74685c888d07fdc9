"""Property-based: random sequences of payments, refunds (whole and partial), bonus
payments, desk spends, referrals, family moves, grants and expiry, each delivered twice (as
a retry or a restart would), keep the ledger sound: no balance below zero, every balance and
lot equal to its entries, no cause posted twice, a debt only on an empty account, cashback
as the rule says, and refunds taking back their share of it, never more."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from core import ledger
from core.config import Config, from_mapping
from core.db import Base, transaction
from core.loyalty import accounts, earning, nightly, operations, referrals
from core.loyalty.earning import cashback_points
from core.models import (
    Appointment,
    LedgerEntry,
    LoyaltyAccount,
    Patient,
    PatientLink,
    Payment,
    Subscriber,
)

PATIENTS = [f"p{i}" for i in range(3)]
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class LedgerMachine(RuleBasedStateMachine):
    payments = Bundle("payments")
    bonus_payments = Bundle("bonus_payments")

    def __init__(self) -> None:
        super().__init__()
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        Base.metadata.create_all(engine)
        self.engine = engine
        self.factory: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self.now = T0
        self.ids = itertools.count(1)
        self.expected_cashback: dict[str, int] = {}
        # payment -> (refunded so far, paid); payments refunded in full or deleted
        self.refunds: dict[str, tuple[Decimal, Decimal]] = {}
        self.gone: set[str] = set()
        self.config: Config = from_mapping({}, environ={})

    @initialize(
        percent=st.sampled_from([0, 3, 5, 10]),
        expiry=st.sampled_from([0, 20, 90]),
        member_cap=st.sampled_from([0, 400]),
        share=st.sampled_from([30, 100]),
    )
    def setup(self, percent: int, expiry: int, member_cap: int, share: int) -> None:
        self.member_cap = member_cap
        self.config = from_mapping(
            {
                "loyalty": {
                    "cashback_percent": percent,
                    "expiry_days": expiry,
                    "member_cap_per_month": member_cap,
                    "max_bill_share_percent": share,
                    "referrer_points": 150,
                    "referred_points": 50,
                    "welcome_bonus": 20,
                    "balance_notice_threshold": 100,
                }
            },
            environ={},
        )
        with transaction(self.factory) as s:
            for pid in PATIENTS:
                s.add(Patient(mis_id=pid, first_name=pid, phones=[], status="active"))

    def teardown(self) -> None:
        self.engine.dispose()

    def twice(self, action) -> None:  # type: ignore[no-untyped-def]
        """Run an event's handling, then run it again as a restart would: no change."""
        with transaction(self.factory) as s:
            action(s)
        before = self.snapshot()
        with transaction(self.factory) as s:
            action(s)
        assert self.snapshot() == before

    def snapshot(self) -> tuple[list[tuple[str, int]], list[tuple[int, int, int]]]:
        with self.factory() as s:
            entries = [(e.cause, e.amount) for e in s.scalars(select(LedgerEntry))]
            balances = list(
                s.execute(
                    select(LoyaltyAccount.id, LoyaltyAccount.balance, LoyaltyAccount.debt)
                ).all()
            )
        return entries, balances

    # -- rules ----------------------------------------------------------------------------

    @rule(
        target=payments,
        patient=st.sampled_from(PATIENTS),
        amount=st.integers(min_value=1, max_value=40_000),
        completed=st.booleans(),
    )
    def pay(self, patient: str, amount: int, completed: bool) -> str:
        pid = f"pay{next(self.ids)}"
        with transaction(self.factory) as s:
            s.add(
                Payment(
                    mis_id=pid,
                    patient_mis_id=patient,
                    paid_at=self.now,
                    amount=Decimal(amount),
                    method="money",
                )
            )
            if completed:
                s.add(
                    Appointment(
                        mis_id=f"v{pid}",
                        patient_mis_id=patient,
                        status="completed",
                        starts_at=self.now,
                        ends_at=self.now,
                        services=[],
                    )
                )
        payload = {"patient_mis_id": patient, "amount": str(amount), "method": "money"}

        def handle(s: Session) -> None:
            earning.on_payment_received(s, self.config, payload, pid, self.now)
            referrals.check_first_paid_visit(s, self.config, patient, self.now)

        self.twice(handle)
        if not self.member_cap:
            self.expected_cashback[pid] = cashback_points(
                Decimal(amount), self.config.loyalty.cashback_percent
            )
        return pid

    @rule(payment=consumes(payments))
    def refund(self, payment: str) -> None:
        with transaction(self.factory) as s:
            row = s.scalar(select(Payment).where(Payment.mis_id == payment))
            assert row is not None
            row.reversed = True
            payload = {"patient_mis_id": row.patient_mis_id, "amount": str(row.amount)}
        self.twice(
            lambda s: earning.on_payment_reversed(s, self.config, payload, payment, self.now)
        )
        self.expected_cashback.pop(payment, None)
        self.gone.add(payment)

    @rule(payment=payments, share=st.sampled_from(["0.1", "0.3", "0.5", "1"]))
    def partial_refund(self, payment: str, share: str) -> None:
        """A refund row for part of what is left of a payment (all of it, at "1")."""
        refunds = self.refunds
        with transaction(self.factory) as s:
            row = s.scalar(select(Payment).where(Payment.mis_id == payment))
            assert row is not None
            paid, before = row.amount, refunds.get(payment, (Decimal(0), 0))[0]
            amount = ((paid - before) * Decimal(share)).quantize(Decimal("0.01"))
            if amount <= 0:
                return
            rid = f"r{next(self.ids)}"
            if before + amount >= paid:
                row.reversed = True
            payload = {
                "patient_mis_id": row.patient_mis_id,
                "amount": str(paid),
                "refund_id": rid,
                "refund_amount": str(amount),
                "refunded_before": str(before),
            }
        refunds[payment] = (before + amount, paid)
        self.twice(
            lambda s: earning.on_payment_reversed(s, self.config, payload, payment, self.now)
        )

    @rule(payment=consumes(payments))
    def refund_after_spending_everything(self, payment: str) -> None:
        """The case refunds make hard: the points are gone when the refund comes."""
        with self.factory() as s:
            patient = s.scalar(select(Payment.patient_mis_id).where(Payment.mis_id == payment))
        assert patient is not None
        self.pay_with_bonus(patient, 1.0)
        self.refund(payment)

    def held(self, patient: str) -> int:
        with self.factory() as s:
            account = accounts.read_account(s, patient)
            return account.balance if account is not None else 0

    # Spending is drawn as a share of what the patient holds, so that it often succeeds,
    # sometimes empties the account, and sometimes asks for more than there is.
    @rule(
        target=bonus_payments,
        patient=st.sampled_from(PATIENTS),
        share=st.sampled_from([0.1, 0.5, 1.0, 1.5]),
    )
    def pay_with_bonus(self, patient: str, share: float) -> str:
        amount = max(int(self.held(patient) * share), 1)
        pid = f"bonus{next(self.ids)}"
        with transaction(self.factory) as s:
            s.add(
                Payment(
                    mis_id=pid,
                    patient_mis_id=patient,
                    paid_at=self.now,
                    amount=Decimal(amount),
                    method="bonus",
                )
            )
        payload = {"patient_mis_id": patient, "amount": str(amount), "method": "bonus"}
        self.twice(lambda s: earning.on_payment_received(s, self.config, payload, pid, self.now))
        return pid

    @rule(payment=consumes(bonus_payments))
    def delete_bonus_payment(self, payment: str) -> None:
        """The cashier deletes a bill paid with points: the points come back."""
        self.refund(payment)

    @rule(patient=st.sampled_from(PATIENTS), amount=st.integers(min_value=2000, max_value=40_000))
    def earn_spend_and_delete_the_spend(self, patient: str, amount: int) -> None:
        self.pay(patient, amount, False)
        self.refund(self.pay_with_bonus(patient, 0.5))

    @rule(
        patient=st.sampled_from(PATIENTS),
        share=st.sampled_from([0.2, 0.7, 1.0, 1.3]),
        bill_factor=st.sampled_from([0.5, 1.0, 4.0]),
    )
    def spend_at_desk(self, patient: str, share: float, bill_factor: float) -> None:
        points = max(int(self.held(patient) * share), 1)
        # The bill that makes `points` exactly the allowed share, scaled up or down.
        limit = self.config.loyalty.max_bill_share_percent / 100
        bill = max(int(points / limit * bill_factor), 1)
        key = f"{next(self.ids):032x}"

        def handle(s: Session) -> None:
            # Over the share or the balance: refused, nothing posted.
            with contextlib.suppress(operations.OperationError):
                operations.spend(
                    s,
                    self.config,
                    patient,
                    points=points,
                    bill=str(bill),
                    key=key,
                    user="admin",
                    now=self.now,
                )

        self.twice(handle)

    @rule(patient=st.sampled_from(PATIENTS), points=st.integers(min_value=-500, max_value=500))
    def manual(self, patient: str, points: int) -> None:
        key = f"{next(self.ids):032x}"

        def handle(s: Session) -> None:
            with contextlib.suppress(operations.OperationError):
                operations.grant(
                    s,
                    self.config,
                    patient,
                    points=points,
                    reason="проверка",
                    key=key,
                    user="owner",
                    now=self.now,
                )

        self.twice(handle)

    @rule(referrer=st.sampled_from(PATIENTS))
    def referral(self, referrer: str) -> None:
        new = f"n{next(self.ids)}"
        with transaction(self.factory) as s:
            s.add(Patient(mis_id=new, first_name=new, phones=[], status="active"))
            code = referrals.payload_for(s, "patient", referrer)
            sub = Subscriber(telegram_user_id=next(self.ids) + 10**6, chat_id=1, start_payload=code)
            s.add(sub)
            s.flush()
            s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=new, phone=""))
            sub_id = sub.id
        new_id = new

        def handle(s: Session) -> None:
            row = s.get(Subscriber, sub_id)
            patient = s.scalar(select(Patient).where(Patient.mis_id == new_id))
            assert row is not None and patient is not None
            referrals.on_linked(s, self.config, row, [patient], self.now)

        self.twice(handle)
        self.new_patients = [*getattr(self, "new_patients", []), new]

    @rule(data=st.data())
    def referred_pays(self, data: st.DataObject) -> None:
        news = getattr(self, "new_patients", [])
        if news:
            self.pay(data.draw(st.sampled_from(news)), 5000, True)

    @rule(patient=st.sampled_from(PATIENTS), family=st.sampled_from(["F1", "F2", None]))
    def family(self, patient: str, family: str | None) -> None:
        with transaction(self.factory) as s:
            row = s.scalar(select(Patient).where(Patient.mis_id == patient))
            assert row is not None
            row.family_id = family
        self.twice(lambda s: accounts.reconcile(s, patient, self.now))

    @rule(days=st.integers(min_value=1, max_value=45))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)
        before = self.snapshot()
        nightly.expire(self.factory, self.now, batch=3)
        with self.factory() as s:
            due = s.scalar(
                select(func.count())
                .select_from(ledger.LoyaltyLot)
                .where(
                    ledger.LoyaltyLot.is_open.is_(True), ledger.LoyaltyLot.expires_at <= self.now
                )
            )
        assert due == 0
        after = self.snapshot()
        nightly.expire(self.factory, self.now)
        assert self.snapshot() == after
        assert len(after[0]) >= len(before[0])

    # -- what must always hold ------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        with self.factory() as s:
            assert ledger.verify(s) == []
            balances = s.execute(select(LoyaltyAccount.balance, LoyaltyAccount.debt)).all()
            assert all(b >= 0 and d >= 0 for b, d in balances)
            # While an account owes, nothing is left on it: debts are repaid first.
            assert all(b == 0 for b, d in balances if d > 0)
            causes = s.scalar(select(func.count(LedgerEntry.cause)))
            distinct = s.scalar(select(func.count(func.distinct(LedgerEntry.cause))))
            assert causes == distinct

    @invariant()
    def refunds_take_back_their_share_never_more(self) -> None:
        """Partial refunds take back the share of everything refunded so far (rounded
        down); a payment refunded in full or deleted, all of its cashback."""
        gone = self.gone
        with self.factory() as s:
            for payment, (refunded, paid) in self.refunds.items():
                accrual = ledger.find_entry(s, f"payment:{payment}")
                if accrual is None:
                    continue
                taken = ledger.reversed_points(s, f"payment:{payment}")
                if payment in gone or refunded >= paid:
                    assert taken == accrual.amount
                else:
                    assert taken == earning.refund_share(accrual.amount, paid, refunded)

    @invariant()
    def cashback_is_what_the_rule_says(self) -> None:
        with self.factory() as s:
            posted = dict(
                s.execute(
                    select(LedgerEntry.cause, LedgerEntry.amount).where(
                        LedgerEntry.kind == "accrual"
                    )
                ).all()
            )
        for payment, points in self.expected_cashback.items():
            assert posted.get(f"payment:{payment}", 0) == points


TestLedgerProperties = LedgerMachine.TestCase
TestLedgerProperties.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
