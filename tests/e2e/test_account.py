"""The patient's account (issue 11 parts 1 and 5) in Telegram and in MAX, through each
emulator (tests/e2e/phone.py): consent as its own step, «Кто вы?» on a shared number, the
cases around linking, a patient the MIS archives, and ratings on the clinic's scale with a
comment and «Обсудить с руководством». Where MAX differs for a real reason (its card does
not prove the number, so a code sent by SMS to the MIS number is typed back) the phone
driver takes that step."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.models import PatientLink, Subscriber, Task, VisitRating
from core.ratings.survey import plan_rating_requests
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import Wired, clinic_now
from tests.e2e.phone import Phone, Shown, max_emu, phone, smsru

__all__ = ["max_emu", "phone", "smsru"]  # fixtures

# Visits are booked relative to now: `make test` reruns this at frozen instants.
pytestmark = pytest.mark.clock


def _links(wired: Wired, chat: int) -> list[str]:
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        if sub is None:
            return []
        return sorted(
            s.scalars(select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id))
        )


def _tasks(wired: Wired, kind: str) -> list[Task]:
    with wired.appliance.factory() as s:
        return list(s.scalars(select(Task).where(Task.kind == kind)))


def test_a_decline_keeps_nothing_and_says_how_else_to_reach_the_clinic(phone: Phone) -> None:
    wired = phone.world
    chat = phone.person("Ирина", "Скрытная")
    phone.start(chat, "clinic_qr")
    ask = phone.wait(chat, 1)[-1]
    assert "Я соглашаюсь, что клиника «Тестовая клиника»" in ask.text
    phone.press(chat, next(label for label, data in ask.buttons if data == "cs:no"), ask)
    declined = phone.wait(chat, 2)[-1]
    assert "мы ничего о вас не сохранили" in declined.text
    assert "в самой клинике" in declined.text  # no clinic.phone in the test config
    with wired.appliance.factory() as s:
        assert s.scalar(select(Subscriber).where(Subscriber.chat_id == chat)) is None
    # A contact shared anyway is not kept either (nor is a code sent): the consent is
    # asked again.
    phone.contact(chat, persona("anna").phone_e164, first_name="Ирина")
    assert "номер мы пока не сохранили" in phone.wait(chat, 3)[-1].text
    assert phone.wait(chat, 4)[-1].buttons[0][1].startswith("cs:yes:")
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        assert sub is not None and sub.phone == "" and sub.consent_at is None


def test_several_patients_on_a_number_who_are_you(phone: Phone, demo_clinic: DemoClinic) -> None:
    wired = phone.world
    mother = demo_clinic.add_patient(
        "Кузнецова", "Мария", "Ивановна", date(1980, 1, 1), "+7 916 111-22-33"
    )
    son = demo_clinic.add_patient("Кузнецов", "Пётр", "Андреевич", date(2012, 2, 2), "89161112233")
    demo_clinic.add_patient("Кузнецова", "Мария", "Андреевна", date(2015, 3, 3), "+79161112233")
    wired.appliance.sync_job()
    chat = phone.person("Маша")
    phone.consent(chat)
    who = phone.share_number(chat, "+79161112233", first_name="Маша")
    assert who.text == "На этот номер в клинике записаны несколько пациентов. Кто вы?"
    # Oldest first; two of one name are told apart by the year of birth.
    assert who.labels == ["Мария, 1980", "Пётр", "Мария, 2015", "👪 Мы семья — все"]

    # Not one family in the MIS: «все» links nobody and asks the staff to confirm.
    seen = len(phone.messages(chat))
    phone.press(chat, "👪 Мы семья — все", who)
    assert "подтвердит, что это одна семья" in phone.wait(chat, seen + 1)[-1].text
    (task,) = _tasks(wired, "family_confirm")
    assert "Кузнецова Мария Ивановна" in task.text and "Кузнецов Пётр Андреевич" in task.text
    assert _links(wired, chat) == []

    # Choosing herself links her alone, greeted by first name and patronymic.
    phone.press(chat, "Мария, 1980", who)
    greeting = phone.wait(chat, seen + 2)[-1]
    assert greeting.text.startswith("Мария Ивановна, здравствуйте!")
    assert _links(wired, chat) == [str(mother)]
    # The question's other buttons now change nothing.
    notice = phone.press_data(chat, who, f"who:{son}")
    assert notice == "Мария Ивановна, вы уже подключены — ничего делать не нужно."
    assert _links(wired, chat) == [str(mother)]


def test_an_unknown_number_keeps_the_button_and_opens_a_task(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.person("Никто")
    phone.consent(chat)
    # No patient has the number, so in MAX no code is sent either (only to MIS numbers).
    answer = phone.share_number(chat, "+79990001122", first_name="Никто")
    assert answer.text.startswith("Не нашли пациента с номером +79990001122.")
    assert answer.asks_number
    assert [t.state for t in _tasks(wired, "unknown_patient")] == ["open"]


def test_a_linked_chat_and_a_second_account(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    anna = persona("anna")
    first = phone.link("anna", "Анна")
    again = phone.share_number(first, anna.phone_e164, first_name="Анна")
    assert again.text.startswith("Анна Сергеевна, вы уже подключены")
    assert _tasks(wired, "second_account") == []

    # Her second phone's messenger shares the same number: linked too, the staff told.
    second = phone.link("anna", "Аня")
    assert phone.messages(second)[-1].text.startswith("Анна Сергеевна, здравствуйте!")
    assert _links(wired, first) == _links(wired, second) == [str(anna.patient_id)]
    (task,) = _tasks(wired, "second_account")
    assert task.patient_mis_id == str(anna.patient_id) and "Аня" in task.text


def test_a_patient_archived_in_the_mis_is_unlinked_once(
    phone: Phone, demo_clinic: DemoClinic
) -> None:
    wired, appliance = phone.world, phone.world.appliance
    appliance.sync_job()
    anna = persona("anna")
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    demo_clinic.set_archived(anna.patient_id)
    appliance.sync_job()
    goodbye = phone.wait(chat, seen + 1)[-1]
    assert goodbye.text.startswith("Ваша карта в клинике «Тестовая клиника» закрыта")
    assert _links(wired, chat) == []
    # Nothing more: no reminder for her visits, no second goodbye.
    appliance.sync_job()
    appliance.reminders_job()
    phone.settle()
    assert len(phone.messages(chat)) == seen + 1


def _rated_visit(phone: Phone, demo_clinic: DemoClinic, scale: str) -> tuple[int, Shown]:
    """Anna connected, a visit three hours ago completed, the rating asked on `scale`."""
    wired, appliance = phone.world, phone.world.appliance
    appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0)
    visit = demo_clinic.book(
        persona("anna").patient_id, demo_clinic.doctors()[0][0], start, minutes=30
    )
    demo_clinic.complete(visit)
    appliance.sync_job()
    config = wired.config.replace(messaging={"rating_delay_minutes": 60, "rating_scale": scale})
    assert plan_rating_requests(appliance.factory, config) == 1
    return chat, phone.wait(chat, seen + 1)[-1]


def test_a_low_score_on_ten_a_comment_and_the_management(
    phone: Phone, demo_clinic: DemoClinic
) -> None:
    wired = phone.world
    chat, request = _rated_visit(phone, demo_clinic, "1-10")
    assert "от 1 до 10" in request.text
    assert request.labels == [str(n) for n in range(1, 11)]
    seen = len(phone.messages(chat))
    phone.press(chat, "4", request)  # 4 of 10: low
    thanks = phone.wait(chat, seen + 1)[-1]
    assert "администратор свяжется" in thanks.text and "напишите пару слов" in thanks.text
    assert thanks.labels == ["Без комментария", "Обсудить с руководством"]
    wired.pump(lambda: len(phone.staff_posts()) >= 1)
    assert "Оценка 4/10" in phone.staff_posts()[-1]["text"]

    assert phone.say(chat, "Долго ждала в коридоре").text == "Спасибо, мы передали ваш комментарий."
    with wired.appliance.factory() as s:
        rating = s.scalars(select(VisitRating)).one()
        recovery = s.get(Task, rating.task_id)
    assert (rating.scale, rating.score, rating.comment) == ("10", 4, "Долго ждала в коридоре")
    assert recovery.kind == "service_recovery" and "Долго ждала в коридоре" in recovery.text

    seen = len(phone.messages(chat))
    phone.press(chat, "Обсудить с руководством", thanks)
    assert "Передали руководству клиники" in phone.wait(chat, seen + 1)[-1].text
    (episode,) = _tasks(wired, "manager_discussion")
    assert "Долго ждала в коридоре" in episode.text and episode.subscriber_id is not None
    wired.pump(lambda: any("для руководства" in m.get("text", "") for m in phone.staff_posts()))
    # Pressed again (an old copy): no second episode.
    phone.press_data(chat, thanks, thanks.data("Обсудить с руководством"))
    phone.settle()
    assert len(_tasks(wired, "manager_discussion")) == 1


def test_smileys_a_good_score_and_no_comment(phone: Phone, demo_clinic: DemoClinic) -> None:
    wired = phone.world
    chat, request = _rated_visit(phone, demo_clinic, "smileys")
    assert request.labels == ["😞", "🙁", "😐", "🙂", "😄"]
    # A score off the scale (a forged 6 on five faces) is refused.
    assert (
        phone.press_data(chat, request, request.data("😄")[:-1] + "6") == "Эта кнопка не для вас."
    )
    seen = len(phone.messages(chat))
    phone.press(chat, "😄", request)  # 5
    thanks = phone.wait(chat, seen + 1)[-1]
    assert thanks.text.startswith("Спасибо за оценку!")
    assert thanks.labels == ["Без комментария"]
    assert phone.press(chat, "Без комментария", thanks) == "Хорошо, спасибо!"
    with wired.appliance.factory() as s:
        rating = s.scalars(select(VisitRating)).one()
    assert (rating.scale, rating.score, rating.comment_state) == ("smileys", 5, "skipped")
    assert _tasks(wired, "service_recovery") == []
    # Her next message is a message to the clinic, not a comment.
    phone.say(chat, "А когда следующий приём?")
    with wired.appliance.factory() as s:
        assert s.scalars(select(VisitRating)).one().comment == ""
