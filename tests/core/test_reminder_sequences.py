"""Reminder sequences (core/reminders.py): 3 days, 1 day and 2 hours before, across the quiet
hours, a confirmation, a move and a cancellation, at frozen instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import outbox
from core.config import Config
from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import Appointment, Doctor, DomainEvent, OutboxMessage
from core.reminders import cancel_asks, plan_reminders
from core.rules import Rules
from tests.conftest import make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

MOSCOW = ZoneInfo("Europe/Moscow")
# A Thursday visit at 10:00 in Moscow.
VISIT = datetime(2026, 3, 12, 10, 0, tzinfo=MOSCOW)
SEQUENCE = {
    "reminder_sequence": ["3d", "1d", "2h"],
    "reminder_send_at": "12:00",
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "09:00",
}


def _key_time(moment: datetime) -> str:
    """A start as the outbox keys name it (the store's UTC)."""
    return moment.astimezone(UTC).isoformat()


def _store(config: Config) -> sessionmaker[Session]:
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    return session_factory(engine)


def _world(
    tmp_path: Path, starts: datetime = VISIT, **messaging: object
) -> tuple[Config, sessionmaker[Session], int]:
    config = make_config(
        tmp_path,
        clinic={"address": "ул. Ленина, 5"},
        messaging={**SEQUENCE, **messaging},
    )
    factory = _store(config)
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
        anna = patient(s, "p1")
        sub = chat_for(s, anna)
        s.add(
            Appointment(
                mis_id="a1",
                patient_mis_id="p1",
                doctor_mis_id="d1",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                status="scheduled",
            )
        )
    return config, factory, sub.id


def _plan(config: Config, factory: sessionmaker[Session], at: datetime) -> int:
    with time_machine.travel(at, tick=False), transaction(factory) as s:
        return plan_reminders(s, config)


def _rows(factory: sessionmaker[Session], kind: str = "reminder") -> list[OutboxMessage]:
    with factory() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        s.expunge_all()
        return list(rows)


def _buttons(row: OutboxMessage) -> list[str]:
    return [
        b["callback_data"] for r in (row.reply_markup or {}).get("inline_keyboard", []) for b in r
    ]


def test_three_days_one_day_and_two_hours_before_each_ask_to_confirm(tmp_path: Path) -> None:
    config, factory, sub = _world(tmp_path)
    start = _key_time(VISIT)

    # Four days before: nothing yet. Three days before, early: the 3d one, due at 12:00.
    assert _plan(config, factory, VISIT - timedelta(days=4)) == 0
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=MOSCOW)) == 1
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 5, tzinfo=MOSCOW)) == 0  # once
    (three,) = _rows(factory)
    assert three.key == f"reminder:a1:{start}:3d:{sub}"
    assert three.due_at == datetime(2026, 3, 9, 12, 0, tzinfo=MOSCOW)
    assert "в четверг, 12 марта, в 10:00" in three.text
    id_ = three.reply_markup["inline_keyboard"][0][0]["callback_data"].split(":")[1]  # type: ignore[index]
    assert _buttons(three) == [f"c:{id_}", f"r:{id_}", f"x:{id_}"]

    # The day before, after 12:00 (the job ran late): due at once, «завтра».
    late = datetime(2026, 3, 11, 13, 0, tzinfo=MOSCOW)
    assert _plan(config, factory, late) == 1
    one = _rows(factory)[1]
    assert one.key == f"reminder:a1:{start}:1d:{sub}" and one.due_at == late
    assert "завтра, 12 марта, в 10:00" in one.text

    # Two hours before falls in the quiet hours (until 09:00): queued, then held by them.
    assert _plan(config, factory, datetime(2026, 3, 12, 7, 50, tzinfo=MOSCOW)) == 0
    at_eight = datetime(2026, 3, 12, 8, 0, tzinfo=MOSCOW)
    assert _plan(config, factory, at_eight) == 1
    two = _rows(factory)[2]
    assert two.key == f"reminder:a1:{start}:2h:{sub}" and "сегодня" in two.text
    with transaction(factory) as s:
        resume = datetime(2026, 3, 12, 9, 0, tzinfo=MOSCOW)
        assert outbox.defer_for_quiet_hours(s, at_eight, resume) >= 1
    assert _rows(factory)[2].due_at == resume
    assert _plan(config, factory, VISIT - timedelta(minutes=90)) == 0


def test_a_two_hour_step_the_quiet_hours_would_hold_too_long_is_skipped(tmp_path: Path) -> None:
    early = datetime(2026, 3, 12, 8, 30, tzinfo=MOSCOW)  # 2h before is 06:30, quiet to 09:00
    config, factory, _ = _world(tmp_path, starts=early)
    for minutes in range(0, 150, 5):
        _plan(config, factory, early - timedelta(hours=2, minutes=20) + timedelta(minutes=minutes))
    assert [r.key.split(":")[-2] for r in _rows(factory)] == []


def test_once_confirmed_only_the_same_day_message_comes_with_the_address(
    tmp_path: Path,
) -> None:
    config, factory, sub = _world(tmp_path)
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=MOSCOW)) == 1
    with transaction(factory) as s:
        appt = s.scalar(select(Appointment).where(Appointment.mis_id == "a1"))
        appt.confirmation = "confirmed"
        assert cancel_asks(s, "a1") == 1  # what bot_handlers/visits.py does on Confirm
    assert [r.state for r in _rows(factory)] == ["cancelled"]

    # The day before: nothing (it is confirmed); two hours before: «ждём вас», no buttons.
    assert _plan(config, factory, datetime(2026, 3, 11, 13, 0, tzinfo=MOSCOW)) == 0
    assert _plan(config, factory, datetime(2026, 3, 12, 8, 0, tzinfo=MOSCOW)) == 1
    (awaiting,) = _rows(factory, "awaiting")
    assert awaiting.key == f"awaiting:a1:{_key_time(VISIT)}:{sub}"
    assert awaiting.text == (
        "Анна Сергеевна, ждём вас сегодня в 10:00!\nТерапевт Петров П. П.\nАдрес: ул. Ленина, 5"
    )
    assert awaiting.reply_markup is None
    assert _plan(config, factory, datetime(2026, 3, 12, 8, 5, tzinfo=MOSCOW)) == 0


def _event(factory: sessionmaker[Session], kind: str, payload: dict[str, str]) -> None:
    with transaction(factory) as s:
        s.add(
            DomainEvent(key=f"{kind}:a1:{len(payload)}", kind=kind, subject="a1", payload=payload)
        )


def test_a_moved_visit_starts_its_sequence_again_and_the_old_one_is_cancelled(
    tmp_path: Path,
) -> None:
    config, factory, sub = _world(tmp_path)
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=MOSCOW)) == 1
    moved_to = datetime(2026, 3, 16, 15, 0, tzinfo=MOSCOW)  # the next Monday
    at = datetime(2026, 3, 9, 9, 30, tzinfo=MOSCOW)
    with time_machine.travel(at, tick=False):
        with transaction(factory) as s:
            appt = s.scalar(select(Appointment).where(Appointment.mis_id == "a1"))
            appt.starts_at, appt.ends_at = moved_to, moved_to + timedelta(minutes=30)
        payload = {
            "patient_mis_id": "p1",
            "doctor_mis_id": "d1",
            "starts_at": moved_to.isoformat(),
            "status": "scheduled",
            "previous_starts_at": VISIT.isoformat(),
            "previous_doctor_mis_id": "d1",
        }
        _event(factory, "appointment.moved", payload)
        Rules(config).process_pending(factory)
    (old,) = _rows(factory)
    assert old.state == "cancelled" and _key_time(VISIT) in old.key

    # The old time's days send nothing more; the new time's sequence runs from its start.
    assert _plan(config, factory, datetime(2026, 3, 11, 13, 0, tzinfo=MOSCOW)) == 0
    assert _plan(config, factory, datetime(2026, 3, 13, 8, 0, tzinfo=MOSCOW)) == 1
    new = _rows(factory)[-1]
    assert new.key == f"reminder:a1:{_key_time(moved_to)}:3d:{sub}" and new.state == "pending"
    assert "16 марта, в 15:00" in new.text


def test_a_cancelled_visit_has_its_queued_reminders_cancelled(tmp_path: Path) -> None:
    config, factory, _ = _world(tmp_path)
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=MOSCOW)) == 1
    with time_machine.travel(datetime(2026, 3, 9, 9, 30, tzinfo=MOSCOW), tick=False):
        with transaction(factory) as s:
            s.scalar(select(Appointment).where(Appointment.mis_id == "a1")).status = "cancelled"  # type: ignore[union-attr]
        payload = {"patient_mis_id": "p1", "starts_at": VISIT.isoformat(), "status": "cancelled"}
        _event(factory, "appointment.cancelled", payload)
        Rules(config).process_pending(factory)
    assert [r.state for r in _rows(factory)] == ["cancelled"]
    assert _plan(config, factory, datetime(2026, 3, 11, 13, 0, tzinfo=MOSCOW)) == 0
    assert _plan(config, factory, datetime(2026, 3, 12, 8, 0, tzinfo=MOSCOW)) == 0


def test_without_a_sequence_the_one_day_before_reminder_is_as_it_was(tmp_path: Path) -> None:
    config, factory, sub = _world(tmp_path, reminder_sequence=[])
    assert _plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=MOSCOW)) == 0
    assert _plan(config, factory, datetime(2026, 3, 11, 8, 0, tzinfo=MOSCOW)) == 1
    (row,) = _rows(factory)
    assert row.key == f"reminder:a1:{_key_time(VISIT)}:{sub}"
    assert row.due_at == datetime(2026, 3, 11, 12, 0, tzinfo=MOSCOW)
    assert _plan(config, factory, datetime(2026, 3, 12, 8, 0, tzinfo=MOSCOW)) == 0


@pytest.mark.parametrize(
    "sequence, message",
    [(["3x"], 'steps like "3d"'), (["15d"], "at most 14d"), (["1d", "1d"], "each step once")],
)
def test_a_bad_sequence_is_refused_with_the_key_named(
    tmp_path: Path, sequence: list[str], message: str
) -> None:
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="reminder_sequence") as err:
        make_config(tmp_path, messaging={"reminder_sequence": sequence})
    assert message in str(err.value)
