"""A clock jump — NTP correcting the server by an hour, either way — neither sends a
reminder twice nor skips one.

The reminder job runs every few minutes and the dispatcher all the time; here the wall
clock itself (time-machine) jumps between their runs, as it does on a real server.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from bot_handlers.bot import build_bot
from core.db import transaction
from core.models import Appointment, OutboxMessage
from core.reminders import plan_reminders_in_batches
from jobs.dispatcher import Dispatcher
from jobs.transports import TelegramTransport
from tests.conftest import TOKEN, make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

HOUR = timedelta(hours=1)


def _run(dispatcher: Dispatcher, rounds: int = 5) -> None:
    for _ in range(rounds):
        dispatcher.dispatch_once()
        time.sleep(0.02)


def _drain(dispatcher: Dispatcher, factory, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Dispatch until nothing due is left (one chat gets at most a message a second)."""
    deadline = time.monotonic() + timeout
    while True:
        dispatcher.dispatch_once()
        with factory() as s:
            if not s.scalar(select(OutboxMessage.id).where(OutboxMessage.state == "pending")):
                return
        assert time.monotonic() < deadline, "a reminder was never sent"
        time.sleep(0.05)


# (clinic-local start, jumps applied one after another; the job and the dispatcher run
# before the first jump and after each)
JUMPS = {
    "back an hour after it was sent": ("12:05", [-HOUR, +HOUR]),
    "forward an hour before it was due": ("11:30", [+HOUR]),
    "back an hour before it was due": ("11:55", [-HOUR, +HOUR, +HOUR]),
    "forward over the clinic's midnight": ("23:30", [+HOUR]),
    "back over the clinic's midnight": ("00:30", [-HOUR, +HOUR]),
}


@pytest.mark.parametrize("case", list(JUMPS))
def test_a_clock_jump_neither_doubles_nor_skips_a_reminder(
    tmp_path: Path, emulator, factory, case: str
) -> None:  # type: ignore[no-untyped-def]
    start_at, jumps = JUMPS[case]
    config = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url},
        messaging={"reminder_send_at": "12:00"},
    )
    tz = config.clinic.tz
    hour, minute = map(int, start_at.split(":"))
    day = datetime(2027, 4, 14, tzinfo=tz)  # any day: the instant is what matters
    start = day.replace(hour=hour, minute=minute)
    dispatcher = Dispatcher(
        factory, TelegramTransport(build_bot(config)), config, rng=random.Random(3)
    )
    user = emulator.create_user(first_name="Анна")
    emulator.send_text(user["id"], "/start")
    with time_machine.travel(start, tick=True) as traveller:
        with transaction(factory) as s:
            sub = chat_for(s, patient(s, "p1"))
            sub.telegram_user_id = sub.chat_id = user["id"]
            # Visits on each of the next three clinic days at 10:00: whichever "tomorrow"
            # the jumps pass through has one.
            for offset in (1, 2, 3):
                visit = (start + timedelta(days=offset)).replace(hour=10, minute=0)
                s.add(
                    Appointment(
                        mis_id=f"v{offset}",
                        patient_mis_id="p1",
                        starts_at=visit,
                        ends_at=visit + timedelta(minutes=30),
                    )
                )
        tomorrows = set()
        for jump in [timedelta(0), *jumps]:
            traveller.shift(jump)
            tomorrows.add((datetime.now(tz).date() + timedelta(days=1)).isoformat())
            plan_reminders_in_batches(factory, config)
            _run(dispatcher)
        # Whatever the jumps did, the day's reminder is due by 12:00 of the last local day.
        last_day = datetime.now(tz).replace(hour=12, minute=0, second=1)
        if datetime.now(tz) < last_day:
            traveller.move_to(last_day)
        plan_reminders_in_batches(factory, config)
        _drain(dispatcher, factory)
    with factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
        visits = {
            a.mis_id: a.starts_at.astimezone(tz).date().isoformat()
            for a in s.scalars(select(Appointment))
        }
    sent = [m["text"] for m in emulator.messages(user["id"])]
    # One row and one message per visit that was "tomorrow" at some point: never two.
    wanted = {mis for mis, d in visits.items() if d in tomorrows}
    assert wanted, "the scenario must pass through at least one reminder day"
    assert sorted(m.key.split(":")[1] for m in rows) == sorted(wanted)
    assert {m.state for m in rows} == {"sent"}
    assert len(sent) == len(wanted)
