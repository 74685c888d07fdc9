"""SIGKILL during sync and accrual, 100 times: the ledger ends exactly as a clean run's.

The demo clinic changes round after round (payments, bonus payments, refunds, deletions,
family changes, referred patients' first paid visits). After each round's changes, store A
is brought up to date by one uninterrupted run; store B by a real child process that is
killed with SIGKILL 10-300 ms after it starts working and restarted until it finishes.
Once B has been killed 100 times, both stores must hold the same ledger entries, lots,
allocations, balances, debts, referrals, events and queued messages, and B must verify.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core import ledger
from core.clock import utcnow
from core.config import from_mapping
from core.db import make_engine, session_factory, transaction
from core.loyalty.referrals import on_linked, payload_for
from core.migrate import upgrade
from core.models import (
    DomainEvent,
    LedgerAllocation,
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyLot,
    OutboxMessage,
    Patient,
    PatientLink,
    Referral,
    Subscriber,
)
from sandbox.demo_clinic import BookingConflict, DemoClinic, build_demo_clinic
from tests.conftest import clinic_now
from tests.core import crash_worker

KILLS = 100
SERVICES = (
    "Имплантация (установка импланта)",
    "Лечение кариеса (глубокий)",
    "Коронка металлокерамическая",
    "Консультация стоматолога-терапевта",
)
LOYALTY = {
    "cashback_percent": 5,
    "cashback_rules": "service:имплант=2; service:коронка=7",
    "welcome_bonus": 50,
    "referrer_points": 300,
    "referred_points": 100,
    "balance_notice_threshold": 1000,
}


def _raw_config(root: Path, clinic: Path) -> dict[str, Any]:
    return {
        "clinic": {"name": "Тест", "timezone": "Europe/Moscow"},
        "storage": {"data_dir": str(root)},
        "mis": {"profile": "demo", "dsn": str(clinic)},
        "messaging": {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"},
        "loyalty": LOYALTY,
    }


class MisActivity:
    """A clinic's day, in rounds, from a seeded generator: the same for both stores."""

    def __init__(self, clinic: DemoClinic, seed: int, referred: list[int]) -> None:
        self.clinic = clinic
        self.rng = random.Random(seed)
        with clinic.connect() as con:
            self.patients = [r[0] for r in con.execute("SELECT ID_Persons FROM Patients")]
            self.families = [r[0] for r in con.execute("SELECT ID FROM Families")]
        self.doctors = [d[0] for d in clinic.doctors()]
        self.referred = list(referred)
        self.payments: list[int] = []
        self.slot = 0

    def _visit(self, patient: int) -> int | None:
        for _ in range(5):
            self.slot += 1
            start = (clinic_now() - timedelta(days=40)).replace(hour=8, minute=0, second=0)
            start += timedelta(minutes=20 * self.slot)
            try:
                visit = self.clinic.book(
                    patient,
                    self.rng.choice(self.doctors),
                    start,
                    minutes=15,
                    services=[self.rng.choice(SERVICES)],
                )
            except BookingConflict:
                continue
            self.clinic.complete(visit)
            return visit
        return None

    def _pay(self, patient: int, amount: int, method: str = "card") -> None:
        visit = self._visit(patient) if method != "bonus" and self.rng.random() < 0.5 else None
        payment = self.clinic.pay(patient, Decimal(amount), method=method, reception_id=visit)
        if method != "bonus":
            self.payments.append(payment)

    def round(self) -> None:
        rng = self.rng
        for _ in range(16):
            self._pay(rng.choice(self.patients), rng.randrange(500, 30_000, 50))
        for _ in range(4):
            self._pay(rng.choice(self.patients), rng.randrange(100, 2_000, 10), method="bonus")
        for _ in range(4):
            if not self.payments:
                break
            payment = self.payments.pop(rng.randrange(len(self.payments)))
            if rng.random() < 0.25:
                self.clinic.delete_payment(payment)
            else:
                self.clinic.refund(payment)
        # A family changes in the MIS: a patient joins one, or leaves theirs.
        patient = rng.choice(self.patients)
        family = rng.choice([*self.families, None])
        with self.clinic.connect() as con:
            con.execute(
                "UPDATE Patients SET ID_Families = ?, DateTimeChanged = ? WHERE ID_Persons = ?",
                (family, str(clinic_now()), patient),
            )
            con.commit()
        if self.referred:
            self._pay(self.referred.pop(0), rng.randrange(3_000, 9_000, 100))


def _copy(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def _prepare(root: Path, seed: int) -> tuple[DemoClinic, Path, list[int]]:
    """The demo clinic, imported into a template store with some patients connected to the
    bot (a few of them new patients who came by another patient's referral link)."""
    clinic_path = root / "clinic.sqlite3"
    clinic = build_demo_clinic(clinic_path, patients=80, seed=seed, now=clinic_now())
    clinic = DemoClinic(clinic_path, clock=clinic_now)
    referred = [
        clinic.add_patient(
            "Новикова",
            f"Гостья{i}",
            "Петровна",
            clinic_now().date().replace(year=1990),
            f"+7 999 100-00-{i:02d}",
        )
        for i in range(12)
    ]
    template = root / "template"
    template.mkdir()
    raw = _raw_config(template, clinic_path)
    config = from_mapping(raw, environ={})
    engine = make_engine(config.storage.url)
    upgrade(engine, template / "migrate.lock")
    factory = session_factory(engine)
    connector = open_connector(config)
    SyncEngine(connector, factory).run_once()  # the initial import: history, no events
    connector.close()
    rng = random.Random(seed)
    with transaction(factory) as s:
        ids = list(
            s.scalars(
                select(Patient.mis_id).where(Patient.mis_id.not_in([str(r) for r in referred]))
            )
        )
        referrers = rng.sample(ids, 4)
        for n, pid in enumerate([*rng.sample(ids, 15), *map(str, referred)]):
            payload = payload_for(s, "patient", rng.choice(referrers)) if n >= 15 else ""
            sub = Subscriber(telegram_user_id=5000 + n, chat_id=5000 + n, start_payload=payload)
            s.add(sub)
            s.flush()
            s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=pid, phone=""))
            s.flush()
            patient = s.scalar(select(Patient).where(Patient.mis_id == pid))
            assert patient is not None
            on_linked(s, config, sub, [patient], utcnow())
    engine.dispose()
    return clinic, template / "kabinet.sqlite3", referred


def _state(url: str) -> dict[str, Any]:
    """Everything the runs must agree on; ids and times only where they are part of a key."""
    engine = make_engine(url)
    with Session(engine) as s:
        cause = {e.id: e.cause for e in s.scalars(select(LedgerEntry))}
        owner = {a.id: (a.owner_kind, a.owner_id) for a in s.scalars(select(LoyaltyAccount))}
        lot_cause = {lot.id: cause[lot.entry_id] for lot in s.scalars(select(LoyaltyLot))}
        state = {
            "entries": sorted(
                (e.cause, e.kind, e.amount, e.shortfall, owner[e.account_id], e.patient_mis_id)
                for e in s.scalars(select(LedgerEntry))
            ),
            "lots": sorted(
                (cause[lot.entry_id], lot.amount, lot.remaining, lot.is_open)
                for lot in s.scalars(select(LoyaltyLot))
            ),
            "allocations": sorted(
                (cause[a.entry_id], lot_cause[a.lot_id], a.points)
                for a in s.scalars(select(LedgerAllocation))
            ),
            "accounts": sorted(
                (a.owner_kind, a.owner_id, a.balance, a.debt)
                for a in s.scalars(select(LoyaltyAccount))
            ),
            "referrals": sorted(
                (r.referred_patient_mis_id, r.state, r.payment_mis_id)
                for r in s.scalars(select(Referral))
            ),
            "events": sorted(
                (e.key, e.processed_at is not None, e.error) for e in s.scalars(select(DomainEvent))
            ),
            "messages": sorted((m.key, m.text) for m in s.scalars(select(OutboxMessage))),
            "problems": [str(p) for p in ledger.verify(s)],
        }
    engine.dispose()
    return state


@pytest.mark.slow
def test_sigkill_during_sync_and_accrual_changes_nothing(tmp_path: Path) -> None:
    # A failure prints its seed; KABINET_CRASH_SEED replays that run.
    seed = int(os.environ.get("KABINET_CRASH_SEED") or int.from_bytes(os.urandom(4), "big"))
    clinic, template, referred = _prepare(tmp_path, seed)
    stores = {}
    for name in ("clean", "killed"):
        (tmp_path / name).mkdir()
        _copy(template, tmp_path / name / "kabinet.sqlite3")
        stores[name] = _raw_config(tmp_path / name, clinic.path)
    activity = MisActivity(clinic, seed, referred)

    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["tests.core.crash_worker"])
    delays = random.Random(seed + 1)
    kills = finished_runs = rounds = 0
    killed_in: list[float] = []
    while kills < KILLS or rounds == 0:
        activity.round()
        rounds += 1
        started = time.monotonic()
        crash_worker.run_once(stores["clean"])
        # Kills land anywhere in the round's real work, however fast this machine (or the
        # sync) is today: a fixed window would miss the work when it got quicker.
        window = max(0.020, 1.2 * (time.monotonic() - started))
        while True:
            receive, send = mp.Pipe(duplex=False)
            child = mp.Process(target=crash_worker.run_once, args=(stores["killed"], send))
            child.start()
            send.close()
            assert receive.poll(30), "the worker did not start"
            receive.recv()
            delay = delays.uniform(0.005, window) if kills < KILLS else 0
            child.join(delay or None)
            if child.exitcode is None:
                os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
                child.join()
                if child.exitcode == -signal.SIGKILL:
                    kills += 1
                    killed_in.append(delay)
                    continue
                # Otherwise it finished in the instant between the wait and the kill.
            assert child.exitcode == 0, f"the worker failed (seed {seed})"
            finished_runs += 1
            break
        # A round whose work fits under the shortest delay teaches nothing; keep them long.
        assert rounds < 60, f"only {kills} kills in {rounds} rounds: rounds are too short"

    clean = _state(f"sqlite:///{tmp_path / 'clean' / 'kabinet.sqlite3'}")
    killed = _state(f"sqlite:///{tmp_path / 'killed' / 'kabinet.sqlite3'}")
    context = f"seed {seed}, {rounds} rounds, {kills} kills, {finished_runs} completed runs"
    assert killed["problems"] == [], context
    assert clean["problems"] == [], context
    # The work was real: payments accrued, refunds reversed, bonus payments spent, families
    # shared, referrals rewarded, messages queued.
    kinds = {entry[1] for entry in clean["entries"]}
    assert {"accrual", "reversal", "redemption", "referral", "welcome"} <= kinds, kinds
    assert any(state == "rewarded" for _, state, _ in clean["referrals"]), context
    assert len(clean["messages"]) > rounds, context
    for key in clean:
        assert killed[key] == clean[key], f"{key} differ ({context})"
    assert min(killed_in) >= 0.005
