"""The patient's account (issue 11 parts 1 and 5) through the Telegram emulator: consent as
its own step, «Кто вы?» on a shared number, the cases around linking, a patient the MIS
archives, and ratings on the clinic's scale with a comment and «Обсудить с руководством»."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.models import PatientLink, Subscriber, Task, VisitRating
from core.ratings import plan_rating_requests
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import Wired, clinic_now
from tests.e2e.flows import buttons, connect, start_and_consent

# Visits are booked relative to now: `make test` reruns this at frozen instants.
pytestmark = pytest.mark.clock


def _links(wired: Wired, chat: int) -> list[str]:
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        if sub is None:
            return []
        return sorted(
            s.scalars(select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id))
        )


def _tasks(wired: Wired, kind: str) -> list[Task]:
    with wired.appliance.factory() as s:
        return list(s.scalars(select(Task).where(Task.kind == kind)))


def _answer(wired: Wired, count: int) -> str:
    wired.pump(lambda: len(wired.emulator.callback_answers) >= count)
    return str(wired.emulator.callback_answers[-1]["text"])


def test_a_decline_keeps_nothing_and_says_how_else_to_reach_the_clinic(wired: Wired) -> None:
    emu = wired.emulator
    chat = emu.create_user(first_name="Ирина", last_name="Скрытная", username="irina")["id"]
    emu.send_text(chat, "/start clinic_qr")
    ask = wired.wait_messages(chat, 1)[-1]
    assert "Я соглашаюсь, что клиника «Тестовая клиника»" in ask["text"]
    emu.press(chat, ask["message_id"], "cs:no")
    declined = wired.wait_messages(chat, 2)[-1]
    assert "мы ничего о вас не сохранили" in declined["text"]
    assert "в самой клинике" in declined["text"]  # no clinic.phone in the test config
    with wired.appliance.factory() as s:
        assert s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat)) is None
    # A contact shared anyway is not kept either: the consent is asked again.
    emu.send_contact(chat, persona("anna").phone_e164.lstrip("+"), first_name="Ирина")
    assert "номер мы пока не сохранили" in wired.wait_messages(chat, 3)[-1]["text"]
    assert buttons(wired.wait_messages(chat, 4)[-1])[0][1].startswith("cs:yes:")
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        assert sub is not None and sub.phone == "" and sub.consent_at is None


def test_several_patients_on_a_number_who_are_you(wired: Wired, demo_clinic: DemoClinic) -> None:
    emu = wired.emulator
    mother = demo_clinic.add_patient(
        "Кузнецова", "Мария", "Ивановна", date(1980, 1, 1), "+7 916 111-22-33"
    )
    son = demo_clinic.add_patient("Кузнецов", "Пётр", "Андреевич", date(2012, 2, 2), "89161112233")
    demo_clinic.add_patient("Кузнецова", "Мария", "Андреевна", date(2015, 3, 3), "+79161112233")
    wired.appliance.sync_job()
    chat = emu.create_user(first_name="Маша")["id"]
    seen = start_and_consent(wired, chat)
    emu.send_contact(chat, "79161112233", first_name="Маша")
    who = wired.wait_messages(chat, seen + 1)[-1]
    assert who["text"] == "На этот номер в клинике записаны несколько пациентов. Кто вы?"
    # Oldest first; two of one name are told apart by the year of birth.
    assert [label for label, _ in buttons(who)] == [
        "Мария, 1980",
        "Пётр",
        "Мария, 2015",
        "👪 Мы семья — все",
    ]

    # Not one family in the MIS: «все» links nobody and asks the staff to confirm.
    emu.press(chat, who["message_id"], "who:all")
    assert "подтвердит, что это одна семья" in wired.wait_messages(chat, seen + 2)[-1]["text"]
    (task,) = _tasks(wired, "family_confirm")
    assert "Кузнецова Мария Ивановна" in task.text and "Кузнецов Пётр Андреевич" in task.text
    assert _links(wired, chat) == []

    # Choosing herself links her alone, greeted by first name and patronymic.
    emu.press(chat, who["message_id"], f"who:{mother}")
    greeting = wired.wait_messages(chat, seen + 3)[-1]
    assert greeting["text"].startswith("Мария Ивановна, здравствуйте!")
    assert _links(wired, chat) == [str(mother)]
    # The question's other buttons now change nothing.
    emu.press(chat, who["message_id"], f"who:{son}", force=True)
    assert _answer(wired, 3) == "Мария Ивановна, вы уже подключены — ничего делать не нужно."
    assert _links(wired, chat) == [str(mother)]


def test_an_unknown_number_keeps_the_button_and_opens_a_task(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = emu.create_user(first_name="Никто")["id"]
    seen = start_and_consent(wired, chat)
    emu.send_contact(chat, "79990001122", first_name="Никто")
    answer = wired.wait_messages(chat, seen + 1)[-1]
    assert answer["text"].startswith("Не нашли пациента с номером +79990001122.")
    assert answer["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert [t.state for t in _tasks(wired, "unknown_patient")] == ["open"]


def test_a_linked_chat_and_a_second_account(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    anna_id = str(persona("anna").patient_id)
    first = connect(wired, "anna", "Анна")
    emu.send_contact(first, persona("anna").phone_e164.lstrip("+"), first_name="Анна")
    assert wired.wait_messages(first, 4)[-1]["text"].startswith("Анна Сергеевна, вы уже подключены")
    assert _tasks(wired, "second_account") == []

    # Her second phone's Telegram shares the same number: linked too, the staff told.
    second = connect(wired, "anna", "Аня")
    assert emu.messages(second)[-1]["text"].startswith("Анна Сергеевна, здравствуйте!")
    assert _links(wired, first) == _links(wired, second) == [anna_id]
    (task,) = _tasks(wired, "second_account")
    assert task.patient_mis_id == anna_id and "Аня" in task.text


def test_a_patient_archived_in_the_mis_is_unlinked_once(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    anna = persona("anna")
    chat = connect(wired, "anna", "Анна")
    demo_clinic.set_archived(anna.patient_id)
    appliance.sync_job()
    goodbye = wired.wait_messages(chat, 4)[-1]
    assert goodbye["text"].startswith("Ваша карта в клинике «Тестовая клиника» закрыта")
    assert _links(wired, chat) == []
    # Nothing more: no reminder for her visits, no second goodbye.
    appliance.sync_job()
    appliance.reminders_job()
    wired.pump(lambda: True)
    assert len(emu.messages(chat)) == 4


def _rated_visit(wired: Wired, demo_clinic: DemoClinic, scale: str) -> tuple[int, dict]:
    """Anna connected, a visit three hours ago completed, the rating asked on `scale`."""
    appliance = wired.appliance
    appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0)
    visit = demo_clinic.book(
        persona("anna").patient_id, demo_clinic.doctors()[0][0], start, minutes=30
    )
    demo_clinic.complete(visit)
    appliance.sync_job()
    config = wired.config.replace(messaging={"rating_delay_minutes": 60, "rating_scale": scale})
    assert plan_rating_requests(appliance.factory, config) == 1
    return chat, wired.wait_messages(chat, 4)[-1]


def test_a_low_score_on_ten_a_comment_and_the_management(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    emu = wired.emulator
    chat, request = _rated_visit(wired, demo_clinic, "1-10")
    assert "от 1 до 10" in request["text"]
    rows = request["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["1", "2", "3", "4", "5"],
        ["6", "7", "8", "9", "10"],
    ]
    emu.press(chat, request["message_id"], rows[0][3]["callback_data"])  # 4 of 10: low
    thanks = wired.wait_messages(chat, 5)[-1]
    assert "администратор свяжется" in thanks["text"] and "напишите пару слов" in thanks["text"]
    assert [label for label, _ in buttons(thanks)] == ["Без комментария", "Обсудить с руководством"]
    staff = wired.wait_messages(wired.staff_chat_id, 1)[-1]
    assert "Оценка 4/10" in staff["text"]

    emu.send_text(chat, "Долго ждала в коридоре")
    assert wired.wait_messages(chat, 6)[-1]["text"] == "Спасибо, мы передали ваш комментарий."
    with wired.appliance.factory() as s:
        rating = s.scalars(select(VisitRating)).one()
        recovery = s.get(Task, rating.task_id)
    assert (rating.scale, rating.score, rating.comment) == ("10", 4, "Долго ждала в коридоре")
    assert recovery.kind == "service_recovery" and "Долго ждала в коридоре" in recovery.text

    discuss = dict(buttons(thanks))["Обсудить с руководством"]
    emu.press(chat, thanks["message_id"], discuss)
    assert "Передали руководству клиники" in wired.wait_messages(chat, 7)[-1]["text"]
    (episode,) = _tasks(wired, "manager_discussion")
    assert "Долго ждала в коридоре" in episode.text and episode.subscriber_id is not None
    wired.pump(
        lambda: any(
            "для руководства" in m["text"] for m in emu.messages(wired.staff_chat_id) if "text" in m
        )
    )
    # Pressed again (an old copy): no second episode.
    emu.press(chat, thanks["message_id"], discuss, force=True)
    wired.pump(lambda: True)
    assert len(_tasks(wired, "manager_discussion")) == 1


def test_smileys_a_good_score_and_no_comment(wired: Wired, demo_clinic: DemoClinic) -> None:
    emu = wired.emulator
    chat, request = _rated_visit(wired, demo_clinic, "smileys")
    (faces,) = request["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in faces] == ["😞", "🙁", "😐", "🙂", "😄"]
    # A score off the scale (a forged 6 on five faces) is refused.
    emu.press(chat, request["message_id"], faces[4]["callback_data"][:-1] + "6", force=True)
    assert _answer(wired, 1) == "Эта кнопка не для вас."
    emu.press(chat, request["message_id"], faces[4]["callback_data"])  # 😄 = 5
    thanks = wired.wait_messages(chat, 5)[-1]
    assert thanks["text"].startswith("Спасибо за оценку!")
    assert [label for label, _ in buttons(thanks)] == ["Без комментария"]
    emu.press(chat, thanks["message_id"], buttons(thanks)[0][1])
    assert _answer(wired, 3) == "Хорошо, спасибо!"
    with wired.appliance.factory() as s:
        rating = s.scalars(select(VisitRating)).one()
    assert (rating.scale, rating.score, rating.comment_state) == ("smileys", 5, "skipped")
    assert _tasks(wired, "service_recovery") == []
    # Her next message is a message to the clinic, not a comment.
    emu.send_text(chat, "А когда следующий приём?")
    wired.wait_messages(chat, 6)
    with wired.appliance.factory() as s:
        assert s.scalars(select(VisitRating)).one().comment == ""
