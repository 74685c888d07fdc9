"""The reminder's buttons and the arrival, through the Telegram emulator (the arrival in
MAX too): Reschedule asks which
days and part of the day suit (buttons, or her own words) and opens a task with them; Cancel
asks why; an arrival brings the welcome and the offer, whose choice is a task; an arrival
for a visit days ahead sends nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.models import Appointment, DomainEvent, OutboxMessage, Task
from sandbox.demo_clinic import BookingConflict, DemoClinic, persona
from sandbox.demo_clinic.wallclock import clinic_now
from tests.conftest import Wired
from tests.e2e.flows import buttons, connect
from tests.e2e.phone import Phone, max_emu, phone, smsru

__all__ = ["max_emu", "phone", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


def _next(wired: Wired, chat: int) -> dict:
    """The chat's next message from the bot."""
    return wired.wait_messages(chat, len(wired.emulator.messages(chat)) + 1)[-1]


def _press(wired: Wired, chat: int, message: dict, label: str) -> dict:
    data = dict(buttons(message))[label]
    wired.emulator.press(chat, message["message_id"], data)
    return _next(wired, chat)


def _book(clinic: DemoClinic, patient_id: int, start: datetime) -> int:
    for doctor_id, *_ in clinic.doctors():
        try:
            return clinic.book(patient_id, doctor_id, start, minutes=30)
        except BookingConflict:
            continue
    raise AssertionError("no doctor is free then")


def _reminder(wired: Wired, chat: int) -> dict:
    wired.appliance.reminders_job()
    reminder = _next(wired, chat)
    assert [t for t, _ in buttons(reminder)] == ["✅ Подтверждаю", "🔁 Перенести", "✖️ Отменить"]
    return reminder


def _task(wired: Wired, kind: str) -> Task:
    with wired.appliance.factory() as s:
        task = s.scalar(select(Task).where(Task.kind == kind))
        assert task is not None
        return task


def test_reschedule_asks_days_then_part_of_the_day_and_opens_a_task(wired: Wired) -> None:
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    reminder = _reminder(wired, chat)

    days = _press(wired, chat, reminder, "🔁 Перенести")
    assert days["text"].startswith("Подберём другое время. Какие дни вам удобны?")
    assert [t for t, _ in buttons(days)] == ["Будни", "Выходные", "Любой день"]
    parts = _press(wired, chat, days, "Будни")
    assert [t for t, _ in buttons(parts)] == ["Утро", "День", "Вечер", "Любое время"]
    done = _press(wired, chat, parts, "Утро")
    assert "администратор свяжется" in done["text"]

    staff = wired.wait_messages(wired.staff_chat_id, 1)[-1]["text"]
    assert "Перенос: Иванова Анна Сергеевна" in staff and "Удобно: Будни, утро" in staff
    task = _task(wired, "reschedule")
    assert task.state == "open" and task.patient_mis_id == str(anna.patient_id)

    # The days question pressed again: the request is with the staff already.
    seen = len(wired.emulator.messages(chat))
    wired.emulator.press(chat, days["message_id"], dict(buttons(days))["Выходные"], force=True)
    wired.pump(lambda: bool(wired.emulator.callback_answers))
    assert wired.emulator.callback_answers[-1]["text"] == "Ответ уже получен, спасибо."
    assert len(wired.emulator.messages(chat)) == seen
    with wired.appliance.factory() as s:
        assert len(s.scalars(select(Task).where(Task.kind == "reschedule")).all()) == 1
        # The reminder's own queue for the visit is empty: nothing more asks her to confirm.
        assert not s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.state == "pending"
            )
        ).all()


def test_reschedule_in_her_own_words_and_cancel_with_a_reason(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    reminder = _reminder(wired, chat)
    days = _press(wired, chat, reminder, "🔁 Перенести")
    wired.emulator.send_text(chat, "в пятницу после 18")
    assert "администратор свяжется" in _next(wired, chat)["text"]
    staff = wired.wait_messages(wired.staff_chat_id, 1)[-1]["text"]
    assert "Удобно: в пятницу после 18" in staff
    wired.pump(lambda: buttons(wired.emulator.messages(chat)[-2]) == [])  # the question's
    assert days["message_id"] == wired.emulator.messages(chat)[-2]["message_id"]

    # Another visit tomorrow at 16:00: Cancel asks why; a reason is a task.
    tomorrow_16 = (clinic_now() + timedelta(days=1)).replace(hour=16, minute=0, second=0)
    _book(demo_clinic, anna.patient_id, tomorrow_16)
    wired.appliance.sync_job()
    _next(wired, chat)  # «вы записаны»
    second = _reminder(wired, chat)
    why = _press(wired, chat, second, "✖️ Отменить")
    assert why["text"].startswith("Жаль. Подскажите, почему отменяете?")
    assert "визит отменят" in _press(wired, chat, why, "Заболел(а)")["text"]
    staff = wired.wait_messages(wired.staff_chat_id, 2)[-1]["text"]
    assert "Отмена: Иванова Анна Сергеевна" in staff and "Причина: Заболел(а)" in staff
    assert _task(wired, "cancel_visit").state == "open"

    # Later words are a message to the clinic as ever (in the thread, joining the open
    # episode), not another request.
    wired.emulator.send_text(chat, "спасибо")

    def in_thread() -> bool:
        with wired.appliance.factory() as s:
            return (
                s.scalar(select(ThreadMessage.id).where(ThreadMessage.text == "спасибо"))
                is not None
            )

    wired.pump(in_thread)
    with wired.appliance.factory() as s:
        assert len(s.scalars(select(Task).where(Task.kind == "cancel_visit")).all()) == 1
        visit = s.scalar(select(Appointment).where(Appointment.confirmation == "cancel"))
        assert visit is not None and visit.patient_mis_id == str(anna.patient_id)


def test_an_arrival_brings_the_offer_whose_choice_is_a_task(
    phone: Phone, demo_clinic: DemoClinic
) -> None:
    """In Telegram and in MAX (tests/e2e/phone.py): the welcome goes by her messenger."""
    wired, anna = phone.world, persona("anna")
    wired.appliance.sync_job()
    chat = phone.link("anna", anna.name)
    soon = (clinic_now() + timedelta(minutes=40)).replace(second=0, microsecond=0)
    visit = _book(demo_clinic, anna.patient_id, soon)
    seen = len(phone.messages(chat))
    wired.appliance.sync_job()
    phone.wait(chat, seen + 1)  # «вы записаны»
    demo_clinic.arrive(visit)
    wired.appliance.sync_job()
    welcome = phone.wait(chat, seen + 2)[-1]
    assert welcome.text.startswith("Анна Сергеевна, добро пожаловать")
    assert welcome.labels == ["Чай", "Кофе", "Вода"]
    phone.press(chat, "Кофе", welcome)
    assert phone.wait(chat, seen + 3)[-1].text == "Сейчас принесём: Кофе."
    wired.pump(lambda: len(phone.staff_posts()) >= 1)
    assert "Иванова Анна Сергеевна в холле просит: Кофе" in phone.staff_posts()[-1]["text"]
    assert _task(wired, "arrival_offer").appointment_mis_id == str(visit)


def test_an_arrival_days_before_the_visit_is_not_believed(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    later = (clinic_now() + timedelta(days=3)).replace(hour=11, minute=0, second=0)
    visit = _book(demo_clinic, anna.patient_id, later)
    wired.appliance.sync_job()
    _next(wired, chat)  # «вы записаны»
    seen = len(wired.emulator.messages(chat))
    demo_clinic.arrive(visit)
    wired.appliance.sync_job()
    for _ in range(3):
        wired.appliance.dispatcher.dispatch_once()
    assert len(wired.emulator.messages(chat)) == seen
    with wired.appliance.factory() as s:
        event = s.scalar(select(DomainEvent).where(DomainEvent.kind == "appointment.arrived"))
        assert event is not None and event.error.startswith("not believed: arrival")
        assert not s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "arrival")).all()
