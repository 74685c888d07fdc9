"""A no-show end to end: Anna confirms tomorrow's visit and does not come. The staff get a
task at once; an hour later she gets one offer to book again, and its button opens a
reschedule task in place of the no-show one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.models import Appointment, OutboxMessage, Task
from sandbox.demo_clinic import persona
from tests.conftest import WallClock, Wired
from tests.e2e.flows import buttons, confirm_reminder, connect

pytestmark = pytest.mark.clock


def test_a_missed_visit_brings_a_task_then_an_offer_whose_button_opens_a_reschedule_task(
    wired: Wired, demo_clinic, clock: WallClock
) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    visit_id = confirm_reminder(wired, chat)  # she confirms tomorrow's 10:00 visit...
    with appliance.factory() as s:
        visit = s.get(Appointment, visit_id)
        other = s.scalar(
            select(Appointment).where(Appointment.patient_mis_id != str(anna.patient_id)).limit(1)
        )
    seen = len(emu.messages(chat))

    # ... and does not come: an hour after its end (mis.no_show_grace_minutes) the sync's
    # sweep notices, and the staff get their task at once.
    clock.set(visit.ends_at + timedelta(minutes=61))
    appliance.sync_job()
    with appliance.factory() as s:
        missed = s.scalar(
            select(Task).where(Task.kind == "no_show", Task.appointment_mis_id == visit.mis_id)
        )
        announce = s.scalar(select(OutboxMessage).where(OutboxMessage.key.endswith(":announce")))
    assert missed is not None and missed.state == "open"
    assert missed.text.startswith(
        "🚷 Не пришёл(ла) на приём: Иванова Анна Сергеевна (+7 912 345-67-89), визит "
    )
    assert ", 10:00, " in missed.text and announce.chat_id == wired.staff_chat_id
    appliance.no_show_job()
    for _ in range(3):
        appliance.dispatcher.dispatch_once()
    assert len(emu.messages(chat)) == seen  # the desk may still record her arrival

    # An hour later, after another read of the MIS, the offer goes out, once.
    clock.advance(timedelta(minutes=61))
    appliance.sync_job()
    assert appliance.no_show_job() == 1
    assert appliance.no_show_job() == 0
    offer = wired.wait_messages(chat, seen + 1)[-1]
    assert offer["text"].startswith("Анна Сергеевна, мы ждали вас сегодня, ")
    assert "в 10:00 (Стоматолог-терапевт " in offer["text"] and "записаться снова" in offer["text"]
    assert buttons(offer) == [("📅 Записаться снова", f"nr:{visit_id}")]

    # The button is bound to her visit: data naming someone else's is refused.
    emu.press(chat, offer["message_id"], f"nr:{other.id}", force=True)
    wired.pump(lambda: len(emu.callback_answers) >= 1)
    assert emu.callback_answers[-1]["text"] == "Эта кнопка не для вас."

    # Pressed: she is answered, the button goes, and the staff get a reschedule task.
    emu.press(chat, offer["message_id"], f"nr:{visit_id}")
    reply = wired.wait_messages(chat, seen + 2)[-1]
    assert reply["text"] == "Хорошо, администратор свяжется с вами, чтобы подобрать другое время."
    wired.pump(lambda: buttons(emu.messages(chat)[seen]) == [])
    with appliance.factory() as s:
        rebook = s.scalar(select(Task).where(Task.kind == "reschedule"))
        missed_now = s.get(Task, missed.id)
    assert rebook is not None and rebook.appointment_mis_id == visit.mis_id
    assert rebook.subscriber_id is not None and rebook.state == "open"
    assert rebook.text.startswith("🔁 Перезапись: Иванова Анна Сергеевна (+79123456789)")
    # The no-show task is the same call to make: closed into the new one, saying so.
    assert missed_now.state == "done"
    assert f"попросил записать его снова: задача #{rebook.id}" in missed_now.text

    # A second press (an old copy of the button) opens nothing more.
    emu.press(chat, offer["message_id"], f"nr:{visit_id}", force=True)
    wired.pump(lambda: len(emu.callback_answers) >= 3)
    assert emu.callback_answers[-1]["text"] == "Ответ уже получен, спасибо."
    with appliance.factory() as s:
        assert len(s.scalars(select(Task).where(Task.kind == "reschedule")).all()) == 1
