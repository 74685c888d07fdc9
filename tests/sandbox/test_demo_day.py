"""`make demo`'s few minutes: Anna gets the reminder, the arrival welcome and the rating.

The demo as `kabinet demo` builds it (prepare_demo: the demo clinic, the Telegram emulator,
the config), the appliance's jobs run as the runner runs them, and the clinic simulator
acts at the clinic's real time while time_machine moves the clock. Nothing the simulator
marks may be refused as «не может быть» (core/visits/arrival.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.config import load
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import DomainEvent, OutboxMessage, PatientLink, Subscriber
from core.visits.arrival import NOT_BELIEVED
from jobs.runner import Appliance
from sandbox.demo import DemoSetup, prepare_demo
from sandbox.demo_clinic import ClinicSimulator, DemoClinic, SimulatorRates, build_demo_clinic
from sandbox.demo_clinic.personas import persona
from sandbox.demo_clinic.timeline import DEMO_TIMELINE
from sandbox.demo_clinic.wallclock import clinic_now
from tests.conftest import WallClock

pytestmark = pytest.mark.clock

# 12:00 in Moscow, a Tuesday: the desk is open.
NOON = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
JOB_EVERY = timedelta(minutes=5)  # the reminders and ratings jobs (jobs/table.py)


@pytest.fixture
def setup(tmp_path: Path, clock: WallClock) -> Iterator[DemoSetup]:
    clock.set(NOON)
    made = prepare_demo(tmp_path / "demo", port=18080, emulator_port=0, patients=30)
    yield made
    made.stop()


def _buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def test_a_visitor_sees_reminder_arrival_and_rating_within_minutes(
    setup: DemoSetup, clock: WallClock
) -> None:
    config = load(setup.config_path, environ={})
    assert config.messaging.rating_delay_minutes == DEMO_TIMELINE.rating_delay_minutes
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    appliance = Appliance(config, factory=session_factory(engine))
    sim = setup.simulator
    sim.rates = SimulatorRates().busier(config.demo.speed)  # as run_demo sets it
    emu = setup.emulator
    chat = setup.patient_user_id
    started = clinic_now()
    assert setup.visit.starts_at - started <= DEMO_TIMELINE.starts_in + timedelta(minutes=1)

    def pump(until: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if emu.stats()["pending_updates"]:
                appliance.poller.poll_once(timeout=1)
            appliance.dispatcher.dispatch_once()
            if until():
                return
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def linked() -> bool:
        with appliance.factory() as s:
            sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
            return sub is not None and bool(
                s.scalar(select(PatientLink.id).where(PatientLink.subscriber_id == sub.id))
            )

    try:
        # The runner's start: a sync and the reminder run; then the visitor presses START.
        appliance.sync_job()
        appliance.reminders_job()
        appliance.ratings_job()
        emu.send_text(chat, "/start demo")
        pump(lambda: bool(emu.messages(chat)))
        accept = next(d for d in _buttons(emu.messages(chat)[-1]) if d.startswith("cs:yes:"))
        emu.press(chat, emu.messages(chat)[-1]["message_id"], accept)
        pump(lambda: len(emu.messages(chat)) >= 2)
        emu.send_contact(chat, persona("anna").phone_e164.lstrip("+"), first_name="Анна")
        pump(linked)

        def settled() -> bool:
            with appliance.factory() as s:
                return not s.scalar(
                    select(OutboxMessage.id).where(
                        OutboxMessage.chat_id == chat, OutboxMessage.state == "pending"
                    )
                )

        # Then the demo's first quarter of an hour goes by, 30 seconds at a time: the
        # simulator acts, the appliance syncs (every 5 s really) and runs its 5-minute jobs
        # when they are due.
        next_jobs = NOON + JOB_EVERY
        for _ in range(2 * 15):
            clock.advance(timedelta(seconds=30))
            sim.step(clinic_now())
            appliance.sync_job()
            if utcnow() >= next_jobs:
                appliance.reminders_job()
                appliance.ratings_job()
                next_jobs += JOB_EVERY
            pump(settled)  # the dispatcher sends meanwhile, as the runner's does

        pump(settled)
        with appliance.factory() as s:
            sent = [
                (m.kind, m.sent_at)
                for m in s.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.chat_id == chat, OutboxMessage.state == "sent")
                    .order_by(OutboxMessage.sent_at, OutboxMessage.id)
                )
            ]
            refused = [
                e.error
                for e in s.scalars(select(DomainEvent).where(DomainEvent.error != ""))
                if e.error.startswith(NOT_BELIEVED)
            ]
        kinds = [kind for kind, _ in sent]
        assert {"reminder", "arrival", "rating"} <= set(kinds), kinds
        assert kinds.index("reminder") < kinds.index("arrival") < kinds.index("rating")
        assert not refused
        # On her phone: the reminder has Confirm and Reschedule; the welcome and the
        # rating came after it.
        texts = emu.messages(chat)
        reminder = next(m for m in texts if any(d.startswith("c:") for d in _buttons(m)))
        assert any(d.startswith("r:") for d in _buttons(reminder))
        assert texts.index(reminder) < len(texts) - 2
        arrived = setup.clinic.reception(setup.visit.reception_id)
        assert arrived["status"] == "completed", arrived
        assert arrived["PatientAppeared"] > arrived["PlanStart"]
    finally:
        appliance.stop()
        engine.dispose()


def test_following_the_wall_clock_the_simulator_never_runs_ahead(
    tmp_path: Path, clock: WallClock
) -> None:
    """The cause of «не может быть» in the demo was a simulated day at 60x: arrivals for
    visits hours ahead of the appliance's clock. With a wallclock the thread keeps to it."""
    clock.set(NOON)
    path = tmp_path / "clinic.sqlite3"
    build_demo_clinic(path, patients=30, now=clinic_now())
    clinic = DemoClinic(path)
    sim = ClinicSimulator(
        clinic, speed=3600.0, wallclock=clinic_now, rates=SimulatorRates().busier(60)
    )
    stop = threading.Event()
    seen: list[str] = []
    thread = sim.run_in_thread(stop, tick=0.05, on_actions=seen.extend)
    try:
        target = clinic_now() + timedelta(hours=1)
        clock.set(NOON + timedelta(hours=1))
        deadline = time.monotonic() + 20
        while sim.now < target:
            assert time.monotonic() < deadline, "the simulator did not follow the clock"
            time.sleep(0.05)
        assert clinic.now() <= clinic_now()
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert sim.now <= clinic_now()
    assert seen  # the desk worked meanwhile
    con = clinic.connect()
    try:
        stamps = [
            r[0]
            for r in con.execute(
                "SELECT MAX(COALESCE(PatientAppeared, ''), COALESCE(ReceptionEnded, ''),"
                " DateTimeChanged) FROM Receptions"
            )
        ]
    finally:
        con.close()
    assert max(stamps) <= clinic_now().strftime("%Y-%m-%d %H:%M:%S")
