"""A small clinic written straight into the mirror tables, with the domain events the sync
would produce, so the loyalty rules can be driven step by step with a controlled clock.

The world's clock is the wall clock frozen by time-machine (not a clock handed to the
rules alone), so the outbox's stamps, the models' defaults and the rules all agree."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import ledger
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.loyalty import accounts
from core.loyalty.referrals import on_linked
from core.models import (
    Appointment,
    DomainEvent,
    LoyaltyAccount,
    OutboxMessage,
    Patient,
    PatientLink,
    Payment,
    Subscriber,
)
from core.rules import Rules

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class World:
    """Use as a context manager (or call ``close``): it holds the frozen clock."""

    def __init__(self, factory: sessionmaker[Session], config: Config, now: datetime = T0) -> None:
        self.factory = factory
        self.config = config
        self._travel = time_machine.travel(now, tick=False)
        self._traveller = self._travel.start()
        self.rules = Rules(config)
        self._ids = itertools.count(1)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._travel.stop()

    @property
    def now(self) -> datetime:
        return utcnow()

    @now.setter
    def now(self, moment: datetime) -> None:
        self._traveller.move_to(moment)

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self.rules = Rules(config)

    def later(self, **delta: float) -> datetime:
        self._traveller.shift(timedelta(**delta))
        return self.now

    def _event(self, s: Session, kind: str, subject: str, payload: dict[str, Any]) -> None:
        s.add(
            DomainEvent(
                key=f"{kind}:{subject}:{next(self._ids)}",
                kind=kind,
                subject=subject,
                payload=payload,
            )
        )

    def patient(
        self,
        mis_id: str,
        *,
        family: str | None = None,
        birth: date | None = None,
        name: str = "Анна",
        messaging: bool = True,
    ) -> str:
        with transaction(self.factory) as s:
            s.add(
                Patient(
                    mis_id=mis_id,
                    last_name="Иванова",
                    first_name=name,
                    middle_name="",
                    birth_date=birth,
                    phones=[],
                    family_id=family,
                    status="active",
                    messaging_allowed=messaging,
                )
            )
        return mis_id

    def set_family(self, mis_id: str, family: str | None) -> None:
        with transaction(self.factory) as s:
            patient = s.scalar(select(Patient).where(Patient.mis_id == mis_id))
            assert patient is not None
            patient.family_id = family
            self._event(s, "patient.changed", mis_id, {})
        self.run()

    def visit(
        self,
        patient: str,
        *,
        services: tuple[str, ...] = (),
        doctor: str = "",
        branch: str = "",
        completed: bool = True,
    ) -> str:
        mis_id = f"v{next(self._ids)}"
        with transaction(self.factory) as s:
            s.add(
                Appointment(
                    mis_id=mis_id,
                    patient_mis_id=patient,
                    doctor_mis_id=doctor,
                    branch_id=branch,
                    starts_at=self.now,
                    ends_at=self.now,
                    status="completed" if completed else "scheduled",
                    services=list(services),
                )
            )
            if completed:
                self._event(s, "appointment.completed", mis_id, {"patient_mis_id": patient})
        self.run()
        return mis_id

    def pay(self, patient: str, amount: str, *, method: str = "money", visit: str = "") -> str:
        mis_id = f"p{next(self._ids)}"
        with transaction(self.factory) as s:
            s.add(
                Payment(
                    mis_id=mis_id,
                    patient_mis_id=patient,
                    paid_at=self.now,
                    amount=Decimal(amount),
                    method=method,
                )
            )
            self._event(
                s,
                "payment.received",
                mis_id,
                {
                    "patient_mis_id": patient,
                    "amount": amount,
                    "method": method,
                    "paid_at": self.now.isoformat(),
                    "appointment_mis_id": visit,
                },
            )
        self.run()
        return mis_id

    def refund(self, payment: str) -> None:
        with transaction(self.factory) as s:
            row = s.scalar(select(Payment).where(Payment.mis_id == payment))
            assert row is not None
            row.reversed = True
            self._event(
                s,
                "payment.reversed",
                payment,
                {"patient_mis_id": row.patient_mis_id, "amount": str(row.amount)},
            )
        self.run()

    def refund_row(self, payment: str, refund_id: str, amount: str) -> None:
        """A refund row of the MIS, as the sync reports it: one event per row, keyed by the
        row (a repeated read of the same row is no new event); a refund of the whole
        amount marks the payment reversed."""
        with transaction(self.factory) as s:
            row = s.scalar(select(Payment).where(Payment.mis_id == payment))
            assert row is not None
            key = f"payment.reversed:{payment}:refund:{refund_id}"
            if s.scalar(select(DomainEvent.id).where(DomainEvent.key == key)) is None:
                if Decimal(amount) >= row.amount:
                    row.reversed = True
                s.add(
                    DomainEvent(
                        key=key,
                        kind="payment.reversed",
                        subject=payment,
                        payload={
                            "patient_mis_id": row.patient_mis_id,
                            "amount": str(row.amount),
                            "refund_id": refund_id,
                            "refund_amount": amount,
                        },
                    )
                )
        self.run()

    def connect(self, *patients: str, payload: str = "", chat: int | None = None) -> int:
        """A Telegram user linked to `patients` (the first is the phone's owner)."""
        chat = chat or 1000 + next(self._ids)
        with transaction(self.factory) as s:
            sub = Subscriber(
                telegram_user_id=chat, chat_id=chat, start_payload=payload, phone=f"+7900{chat:07d}"
            )
            s.add(sub)
            s.flush()
            for pid in patients:
                s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=pid, phone=sub.phone))
            s.flush()
            rows = [s.scalar(select(Patient).where(Patient.mis_id == pid)) for pid in patients]
            on_linked(s, self.config, sub, [r for r in rows if r is not None], self.now)
        return chat

    def run(self) -> None:
        while self.rules.process_pending(self.factory):
            pass

    # -- reading ------------------------------------------------------------------------

    def balance(self, patient: str) -> int:
        with self.factory() as s:
            account = accounts.read_account(s, patient)
            return account.balance if account is not None else 0

    def account(self, patient: str) -> LoyaltyAccount | None:
        with self.factory() as s:
            return accounts.read_account(s, patient)

    def entries(self, patient: str | None = None) -> list[tuple[str, int, str]]:
        """(kind, amount, cause) of an account's entries, or of all, in order."""
        with self.factory() as s:
            stmt = select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.id)
            if patient is not None:
                account = accounts.read_account(s, patient)
                if account is None:
                    return []
                stmt = stmt.where(ledger.LedgerEntry.account_id == account.id)
            return [(e.kind, e.amount, e.cause) for e in s.scalars(stmt)]

    def messages(self, chat: int) -> list[str]:
        with self.factory() as s:
            return list(
                s.scalars(
                    select(OutboxMessage.text)
                    .where(OutboxMessage.chat_id == chat)
                    .order_by(OutboxMessage.id)
                )
            )

    def verify(self) -> list[ledger.Discrepancy]:
        with self.factory() as s:
            return ledger.verify(s)
