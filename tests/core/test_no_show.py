"""No-shows: a staff task at once, one offer to book again when due - never for a visit the
MIS has since shown otherwise, a patient who may not be messaged, or in quiet hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.health import record_mis_ok
from core.models import (
    Appointment,
    Doctor,
    DomainEvent,
    OutboxMessage,
    Patient,
    Subscriber,
    Task,
)
from core.rules import Rules
from core.tasks import transition
from core.visits import no_show
from tests.conftest import make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

MOSCOW = ZoneInfo("Europe/Moscow")
# A Tuesday visit at 10:00 in Moscow (07:00 UTC), half an hour long.
VISIT = datetime(2026, 3, 10, 10, 0, tzinfo=MOSCOW)
# The sync's sweep notices it an hour after its end (mis.no_show_grace_minutes).
NOTICED = VISIT + timedelta(minutes=90)
STAFF = -4_000_000_077


def _config(tmp_path: Path, **messaging: object) -> Config:
    return make_config(tmp_path, telegram={"staff_chat_id": STAFF}, messaging=messaging)


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOTICED, tick=False) as traveller:
        yield traveller


def _world(
    factory: sessionmaker[Session], *, allowed: bool = True, status: str = "active"
) -> tuple[int, int, int]:
    """Anna, her chat, and her visit, which the sweep has just marked a no-show."""
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
        anna = patient(s, "p1", phones=["+79123456789"], allowed=allowed, status=status)
        sub = chat_for(s, anna)
        appt = Appointment(
            mis_id="v1",
            patient_mis_id="p1",
            doctor_mis_id="d1",
            starts_at=VISIT,
            ends_at=VISIT + timedelta(minutes=30),
            status="no_show",
        )
        s.add(appt)
        s.flush()
        return sub.id, sub.chat_id, appt.id


def _noticed(factory: sessionmaker[Session], config: Config, **payload: object) -> None:
    """What the sweep records, then a good read of the MIS and the rules, as sync_job runs."""
    with transaction(factory) as s:
        s.add(
            DomainEvent(
                key=f"appointment.no_show:v1:{VISIT.isoformat()}",
                kind="appointment.no_show",
                subject="v1",
                payload={
                    "patient_mis_id": "p1",
                    "doctor_mis_id": "d1",
                    "starts_at": VISIT.isoformat(),
                    "status": "no_show",
                    **payload,
                },
                created_at=utcnow(),
            )
        )
    _mis_read(factory)
    Rules(config).process_pending(factory)


def _mis_read(factory: sessionmaker[Session]) -> None:
    record_mis_ok(factory, utcnow())


def _offers(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "no_show")))


def _task(factory: sessionmaker[Session], kind: str = "no_show") -> Task:
    with factory() as s:
        return s.scalars(select(Task).where(Task.kind == kind)).one()


def _set_visit(factory: sessionmaker[Session], **values: object) -> None:
    with transaction(factory) as s:
        appt = s.scalar(select(Appointment).where(Appointment.mis_id == "v1"))
        for name, value in values.items():
            setattr(appt, name, value)


def test_a_no_show_opens_a_task_at_once_and_offers_to_book_again_after_the_delay(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path)
    sub_id, chat, appt_id = _world(factory)
    _noticed(factory, config)

    task = _task(factory)
    assert task.state == "open" and task.appointment_mis_id == "v1"
    # The visit's date and time in the clinic's zone, absolute: a task is read later.
    assert task.text == (
        "🚷 Не пришёл(ла) на приём: Иванова Анна Сергеевна (+7 912 345-67-89), визит "
        "10 марта 2026, 10:00, Терапевт Петров П. П.. Свяжитесь с пациентом, чтобы перезаписать."
    )
    with factory() as s:
        announce = s.scalar(select(OutboxMessage).where(OutboxMessage.key.endswith(":announce")))
    assert announce is not None and announce.chat_id == STAFF
    assert _offers(factory) == []  # the desk may still record her arrival

    frozen.shift(timedelta(minutes=59))
    _mis_read(factory)
    assert no_show.run(factory, config) == 0
    frozen.shift(timedelta(minutes=1))
    assert no_show.run(factory, config) == 0  # no read of the MIS since it became due
    _mis_read(factory)
    assert no_show.run(factory, config) == 1
    assert no_show.run(factory, config) == 0  # once

    (offer,) = _offers(factory)
    assert offer.chat_id == chat and offer.state == "pending"
    assert offer.key == f"no_show:v1:2026-03-10T07:00:00+00:00:{sub_id}"
    assert offer.text.startswith(
        "Анна Сергеевна, мы ждали вас сегодня, 10 марта, в 10:00 (Терапевт Петров П. П.), "
        "но визит не состоялся."
    )
    # The button names the visit.
    assert offer.reply_markup == {
        "inline_keyboard": [[{"text": "📅 Записаться снова", "callback_data": f"nr:{appt_id}"}]]
    }
    assert offer.respect_quiet_hours


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"status": "arrived"}, "В МИС пациент отмечен как пришедший"),
        ({"status": "completed"}, "В МИС визит отмечен как состоявшийся"),
        ({"status": "cancelled"}, "В МИС визит отменён"),
        ({"deleted": True}, "В МИС визит удалён"),
        (
            {"status": "scheduled", "starts_at": VISIT + timedelta(days=2)},
            "В МИС визит перенесён на 12 марта 2026, 10:00",
        ),
    ],
)
def test_a_visit_the_mis_shows_otherwise_gets_no_message_and_its_task_closes(
    tmp_path: Path,
    factory: sessionmaker[Session],
    frozen: time_machine.Coordinates,
    change: dict[str, object],
    note: str,
) -> None:
    config = _config(tmp_path)
    _world(factory)
    _noticed(factory, config)
    with transaction(factory) as s:  # the dispatcher announced the task in the group
        announce = s.scalar(select(OutboxMessage).where(OutboxMessage.key.endswith(":announce")))
        announce.state, announce.telegram_message_id = "sent", 501

    frozen.shift(timedelta(minutes=30))
    _set_visit(factory, **change)  # the desk records it late; the sync brings it
    frozen.shift(timedelta(minutes=31))
    _mis_read(factory)
    assert no_show.run(factory, config) == 1  # the task closed, nothing queued
    assert no_show.run(factory, config) == 0

    assert _offers(factory) == []
    task = _task(factory)
    assert task.state == "done" and task.taken_by == "system"
    assert task.text.endswith(f"\n\nℹ️ {note} — задача закрыта автоматически.")
    with factory() as s:
        edit = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "edit_text"))
    assert edit is not None and edit.edit_message_id == 501 and edit.chat_id == STAFF
    assert edit.text.startswith(f"#{task.id} {task.text}")
    assert edit.text.endswith("✅ Готово: автоматически")
    assert edit.reply_markup == {"inline_keyboard": []}


def test_a_row_read_back_as_scheduled_at_the_same_time_is_still_a_no_show(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    # IDENT has no no-show status: an edit of the missed row reads it back as scheduled.
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory)
    _set_visit(factory, status="scheduled")
    _noticed(factory, config)
    assert _task(factory).state == "open"
    assert len(_offers(factory)) == 1  # a delay of 0: queued by the rule itself
    assert no_show.run(factory, config) == 0


def test_a_message_queued_and_not_yet_sent_is_cancelled_when_the_visit_turns_out_fine(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory)
    _noticed(factory, config)
    (offer,) = _offers(factory)
    _set_visit(factory, status="completed")
    assert no_show.run(factory, config) == 2  # the task, and the message
    (offer,) = _offers(factory)
    assert offer.state == "cancelled" and offer.last_error == "no longer due: completed"


def test_a_queued_message_is_cancelled_when_the_mis_forbids_messages_meanwhile(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory)
    _noticed(factory, config)
    with transaction(factory) as s:
        s.scalars(select(Patient)).one().messaging_allowed = False
    assert no_show.run(factory, config) == 1
    (offer,) = _offers(factory)
    assert offer.state == "cancelled" and offer.last_error == "no longer due: no messages"
    assert _task(factory).state == "open"  # the desk may still call


def test_a_task_the_staff_closed_first_means_no_message(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path)
    _world(factory)
    _noticed(factory, config)
    with transaction(factory) as s:  # the desk called her and booked a new visit
        transition(s, s.scalars(select(Task)).one(), "done", "Ольга")
    frozen.shift(timedelta(minutes=61))
    _mis_read(factory)
    assert no_show.run(factory, config) == 0
    assert _offers(factory) == []


def test_a_queued_message_is_cancelled_when_the_staff_close_the_task(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory)
    _noticed(factory, config)
    with transaction(factory) as s:
        transition(s, s.scalars(select(Task)).one(), "dismiss", "Ольга")
    assert no_show.run(factory, config) == 1
    (offer,) = _offers(factory)
    assert offer.state == "cancelled" and offer.last_error == "no longer due: task closed"


@pytest.mark.parametrize(
    ("allowed", "status", "task"),
    [(False, "active", True), (True, "archived", True), (True, "deleted", False)],
)
def test_a_patient_who_may_not_be_messaged_gets_no_message(
    tmp_path: Path,
    factory: sessionmaker[Session],
    frozen: time_machine.Coordinates,
    allowed: bool,
    status: str,
    task: bool,
) -> None:
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory, allowed=allowed, status=status)
    _noticed(factory, config)
    frozen.shift(timedelta(minutes=5))
    _mis_read(factory)
    no_show.run(factory, config)
    assert _offers(factory) == []
    with factory() as s:
        # The desk may still call a patient who refused messages; a deleted one, nobody.
        assert len(s.scalars(select(Task)).all()) == int(task)


def test_the_message_waits_for_the_end_of_quiet_hours_and_is_checked_then(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, quiet_hours_start="21:00", quiet_hours_end="09:00")
    # Noticed late in the evening (the sync was down all day): due at 21:30, in quiet hours.
    with time_machine.travel(datetime(2026, 3, 10, 20, 30, tzinfo=MOSCOW), tick=False) as t:
        _world(factory)
        _noticed(factory, config)
        for moment in (datetime(2026, 3, 10, 22, 30), datetime(2026, 3, 11, 8, 59)):
            t.move_to(moment.replace(tzinfo=MOSCOW))
            _mis_read(factory)
            assert no_show.run(factory, config) == 0
        t.move_to(datetime(2026, 3, 11, 9, 0, tzinfo=MOSCOW))
        _mis_read(factory)
        assert no_show.run(factory, config) == 1
    (offer,) = _offers(factory)
    assert "мы ждали вас во вторник, 10 марта, в 10:00" in offer.text


def test_an_arrival_recorded_before_quiet_hours_end_sends_nothing(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, quiet_hours_start="21:00", quiet_hours_end="09:00")
    with time_machine.travel(datetime(2026, 3, 10, 20, 30, tzinfo=MOSCOW), tick=False) as t:
        _world(factory)
        _noticed(factory, config)
        t.move_to(datetime(2026, 3, 11, 8, 0, tzinfo=MOSCOW))
        _set_visit(factory, status="arrived")  # the desk catches up in the morning
        t.move_to(datetime(2026, 3, 11, 9, 0, tzinfo=MOSCOW))
        _mis_read(factory)
        no_show.run(factory, config)
    assert _offers(factory) == []
    assert _task(factory).state == "done"


def test_switched_off_only_the_task_opens(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path, no_show_message_enabled=False, no_show_message_delay_minutes=0)
    _world(factory)
    _noticed(factory, config)
    frozen.shift(timedelta(hours=2))
    _mis_read(factory)
    assert no_show.run(factory, config) == 0
    assert _offers(factory) == [] and _task(factory).state == "open"


def test_a_no_show_learnt_of_days_later_opens_a_task_but_sends_nothing(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    # After a long MIS outage the sweep catches up on visits of days ago.
    config = _config(tmp_path, no_show_message_delay_minutes=0)
    _world(factory)
    frozen.move_to(NOTICED + timedelta(days=2))
    _noticed(factory, config)
    assert no_show.run(factory, config) == 0
    assert _offers(factory) == [] and _task(factory).state == "open"


def test_pressing_book_again_opens_a_reschedule_task_and_closes_the_no_show_one(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path)
    _world(factory)
    _noticed(factory, config)
    with transaction(factory) as s:
        sub = s.scalars(select(Subscriber)).one()
        sub.phone = "+79123456789"
        appt = s.scalar(select(Appointment).where(Appointment.mis_id == "v1"))
        rebook = no_show.request_rebook(s, config, sub, appt)
        assert rebook is not None
        assert no_show.request_rebook(s, config, sub, appt) is None  # once per missed visit
        rebook_id = rebook.id
    rebook = _task(factory, "reschedule")
    assert rebook.id == rebook_id and rebook.appointment_mis_id == "v1"
    assert rebook.text == (
        "🔁 Перезапись: Иванова Анна Сергеевна (+79123456789) не пришёл(ла) на приём "
        "10 марта 2026, 10:00, Терапевт Петров П. П., и просит записать снова."
    )
    missed = _task(factory)
    assert missed.state == "done"
    assert missed.text.endswith(
        f"ℹ️ Пациент сам попросил записать его снова: задача #{rebook_id} — задача закрыта "
        "автоматически."
    )
    # Not announced yet: the closed task is not announced at all, the new one is.
    with factory() as s:
        states = {
            m.key: m.state
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == STAFF))
        }
    assert states == {
        f"task:{missed.id}:announce": "cancelled",
        f"task:{rebook_id}:announce": "pending",
    }


def test_an_event_without_a_start_is_kept_with_a_clear_error(
    tmp_path: Path, factory: sessionmaker[Session], frozen: time_machine.Coordinates
) -> None:
    config = _config(tmp_path)
    _world(factory)
    _noticed(factory, config, starts_at="yesterday")
    with factory() as s:
        event = s.scalars(select(DomainEvent)).one()
        assert s.scalars(select(Task)).all() == []
    assert event.processed_at is not None
    assert "has no valid aware starts_at: 'yesterday'" in event.error
