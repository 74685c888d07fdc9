"""The whole loop, end to end, with real parts: the demo clinic's SQLite read through the
demo profile's transpiled SQL, the real pyTelegramBotAPI over HTTP to the Bot API emulator
(which enforces Telegram's limits), and the panel.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.models import Appointment, LedgerEntry, OutboxMessage, Subscriber, Task
from sandbox.demo_clinic import persona
from tests.conftest import PASSWORDS, Persona, Wired, clinic_now
from tests.e2e.flows import buttons, complete_and_pay, connect

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def test_the_whole_loop(wired: Wired, demo_clinic, app_for) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")

    # 1. Initial import: the clinic's history fills the mirror and produces no messages.
    report = appliance.sync_job()
    assert report is not None and report.read["patient"] > 60 and report.events == []

    # 2. Anna opens the deep link.
    user = emu.create_user(first_name="Аня", last_name="Иванова")
    chat = user["id"]
    emu.send_text(chat, "/start clinic_qr")
    # The consent comes first, as its own step, before anything about her is kept.
    ask = wired.wait_messages(chat, 1)[-1]
    assert "персональных данных" in ask["text"]
    assert [label for label, _ in buttons(ask)] == ["✅ Согласен(на)", "Не согласен(на)"]
    emu.press(chat, ask["message_id"], buttons(ask)[0][1])
    welcome = wired.wait_messages(chat, 2)[-1]
    assert "Поделиться номером" in welcome["text"]
    with appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        assert sub.consent_at is not None and sub.consent_version == "2026-11"
        assert sub.start_payload == "clinic_qr"
    keyboard = welcome["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True

    # 3. Someone else's contact card is refused, with or without a user_id.
    emu.send_contact(chat, anna.phone_e164, first_name="Анна", contact_user_id=None)
    assert "чужой контакт" in wired.wait_messages(chat, 3)[-1]["text"]
    stranger = emu.create_user(first_name="Чужой")
    emu.send_contact(chat, anna.phone_e164, first_name="Анна", contact_user_id=stranger["id"])
    assert "чужой контакт" in wired.wait_messages(chat, 4)[-1]["text"]
    with appliance.factory() as s:
        assert s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat)).phone == ""

    # 4. Her own contact: recognised by the number typed "8 (912) 345-67-89" in the MIS,
    #    greeted by first name and patronymic.
    emu.send_contact(chat, anna.phone_e164.lstrip("+"), first_name="Анна")
    greeting = wired.wait_messages(chat, 5)[-1]
    assert greeting["text"].startswith("Анна Сергеевна, здравствуйте!")

    # 5. A new booking in the MIS -> "you are booked".
    doctor_id = demo_clinic.doctors()[0][0]
    in_three_days = (clinic_now() + timedelta(days=3)).replace(hour=15, minute=0, second=0)
    booked_id = demo_clinic.book(anna.patient_id, doctor_id, in_three_days, minutes=30)
    appliance.sync_job()
    booked = wired.wait_messages(chat, 6)[-1]
    assert "вы записаны" in booked["text"] and "15:00" in booked["text"]

    # 6. The day-before reminder for tomorrow's 10:00 visit, with Confirm, Reschedule, Cancel.
    assert appliance.reminders_job() == 1
    assert appliance.reminders_job() == 0  # planned once, however often the job runs
    reminder = wired.wait_messages(chat, 7)[-1]
    assert "напоминаем о визите завтра" in reminder["text"] and "10:00" in reminder["text"]
    (confirm_text, confirm_data), (_, reschedule_data), (_, cancel_data) = buttons(reminder)
    assert cancel_data.startswith("x:")
    assert confirm_text == "✅ Подтверждаю" and confirm_data.startswith("c:")

    # 7. A forged press for a visit that is not hers is refused and changes nothing.
    with appliance.factory() as s:
        other = s.scalar(
            select(Appointment).where(Appointment.patient_mis_id != str(anna.patient_id)).limit(1)
        )
    emu.press(chat, reminder["message_id"], f"c:{other.id}", force=True)
    wired.pump(lambda: len(emu.callback_answers) >= 1)
    assert emu.callback_answers[-1]["text"] == "Эта кнопка не для вас."
    with appliance.factory() as s:
        assert s.get(Appointment, other.id).confirmation == ""

    # 8. Confirm is recorded, thanked, and the buttons disappear.
    emu.press(chat, reminder["message_id"], confirm_data)
    thanks = wired.wait_messages(chat, 8)[-1]
    assert "подтверждён" in thanks["text"]
    wired.pump(lambda: buttons(emu.messages(chat)[5]) == [])
    tomorrow_visit = int(confirm_data.split(":")[1])
    with appliance.factory() as s:
        assert s.get(Appointment, tomorrow_visit).confirmation == "confirmed"

    # 9. Reschedule on a second visit tomorrow asks which days and part of the day suit,
    #    then creates a task with them in the staff group.
    tomorrow_16 = (clinic_now() + timedelta(days=1)).replace(hour=16, minute=0, second=0)
    demo_clinic.book(anna.patient_id, doctor_id, tomorrow_16, minutes=30)
    appliance.sync_job()
    wired.wait_messages(chat, 9)  # "you are booked" for it
    assert appliance.reminders_job() == 1
    second = wired.wait_messages(chat, 10)[-1]
    reschedule = buttons(second)[1][1]
    emu.press(chat, second["message_id"], reschedule)
    days = wired.wait_messages(chat, 11)[-1]
    emu.press(chat, days["message_id"], dict(buttons(days))["Любой день"])
    parts = wired.wait_messages(chat, 12)[-1]
    emu.press(chat, parts["message_id"], dict(buttons(parts))["Любое время"])
    assert "администратор свяжется" in wired.wait_messages(chat, 13)[-1]["text"]
    staff_message = wired.wait_messages(wired.staff_chat_id, 1)[-1]
    assert "Перенос: Иванова Анна Сергеевна" in staff_message["text"]
    assert "Удобно: Любой день, любое время" in staff_message["text"]
    assert [t for t, _ in buttons(staff_message)] == ["Взять", "Готово", "Отклонить"]
    with appliance.factory() as s:
        task = s.scalar(select(Task).where(Task.kind == "reschedule"))
        assert task.state == "open" and task.patient_mis_id == str(anna.patient_id)

    # 10. The visit is completed and paid: points accrue once, and she is told (the
    #     completion itself, a day early, is not believed: no care, no rating).
    complete_and_pay(wired, demo_clinic, tomorrow_visit, anna.patient_id, "3450.00")
    appliance.sync_job()  # a repeated read accrues nothing more
    bonus = wired.wait_messages(chat, 14)[-1]
    assert "начислено 172 бонусов за оплату 3\u00a0450 ₽" in bonus["text"]
    with appliance.factory() as s:
        assert s.scalar(select(func.count(LedgerEntry.id))) == 1
        states = {m.state for m in s.scalars(select(OutboxMessage))}
        assert states == {"sent"}
    assert booked_id  # the booked visit stays in the MIS

    # 11. The panel shows the patient, the confirmed visit and the balance.
    owner = Persona(app_for(wired.config).test_client(), "owner")
    page = owner.get(f"/patients/{anna.patient_id}").get_data(as_text=True)
    assert "Иванова Анна Сергеевна" in page
    assert 'id="balance">172<' in page
    assert "подтвердил" in page and "просит перенести" in page
    listing = owner.get("/patients/?connected=1").get_data(as_text=True)
    assert "Иванова Анна Сергеевна" in listing
    assert PASSWORDS  # personas log in through the real form


def test_moved_and_cancelled_visits_are_announced_once(wired: Wired, demo_clinic) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    family = persona("family")
    appliance.sync_job()
    chat = connect(wired, "family", "Олег", family=False)
    # The family shares one phone: «Кто вы?», and «Мы семья — все» links them all, since
    # the MIS has them in one family; the head is greeted, the children are listed.
    who = emu.messages(chat)[-1]
    assert who["text"].startswith("На этот номер в клинике записаны несколько пациентов")
    assert buttons(who)[-1] == ("👪 Мы семья — все", "who:all")
    emu.press(chat, who["message_id"], "who:all")
    greeting = wired.wait_messages(chat, 4)[-1]["text"]
    assert greeting.startswith("Олег Викторович, здравствуйте! К вашему номеру привязаны также:")

    upcoming = [
        r for r in demo_clinic.receptions(family.patient_id) if r["PlanStart"] > str(clinic_now())
    ]
    visit = upcoming[0]["ID"]
    later = datetime.fromisoformat(upcoming[0]["PlanStart"]) + timedelta(days=1)
    demo_clinic.move(visit, later.replace(hour=9, minute=0))
    appliance.sync_job()
    appliance.sync_job()
    moved = wired.wait_messages(chat, 5)[-1]["text"]
    assert "перенесён" in moved and "09:00" in moved
    demo_clinic.cancel(visit)
    appliance.sync_job()
    assert "отменён" in wired.wait_messages(chat, 6)[-1]["text"]
    wired.pump(lambda: True)
    assert len(emu.messages(chat)) == 6


def test_typed_phone_is_not_accepted_for_linking(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    user = emu.create_user(first_name="Анна")
    emu.send_text(user["id"], "/start")
    wired.wait_messages(user["id"], 1)
    emu.send_text(user["id"], "+7 912 345-67-89")
    refusal = wired.wait_messages(user["id"], 2)[-1]["text"]
    assert "кнопкой «Поделиться номером»" in refusal
    with wired.appliance.factory() as s:
        assert (
            s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == user["id"])).phone
            == ""
        )
