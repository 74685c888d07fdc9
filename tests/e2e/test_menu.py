"""The patient's menu (issue 11 part 2) in Telegram and in MAX, through each emulator
(tests/e2e/phone.py): «Мои визиты» with the reminder's buttons and the past year, «Мои
бонусы» with history, «Пригласить друга» with the QR code as a picture, «Семья» (whose
visits, muting, an invite confirmed by the member's own contact), «Настройки» as buttons
that the senders honour, «Написать в клинику», /help. Forged and stale presses change
nothing. Telegram with the real pyTelegramBotAPI; MAX through its Bot API emulator, where
linking takes the code sent by SMS (a MAX card does not prove the number)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.models import Appointment, PatientLink, Subscriber, Task
from core.patients.referral_qr import qr_png
from core.ratings.survey import plan_rating_requests
from sandbox.demo_clinic import BookingConflict, DemoClinic, persona
from tests.conftest import clinic_now
from tests.e2e.flows import complete_and_pay
from tests.e2e.phone import ADDRESS, BOT, Phone, max_emu, menu_phone, smsru

__all__ = ["max_emu", "menu_phone", "smsru"]  # fixtures

pytestmark = pytest.mark.clock

NOT_YOURS = "Эта кнопка не для вас."


def book(clinic: DemoClinic, patient_id: int, start: datetime, minutes: int = 30) -> int:
    """Book with the first doctor free then (the generated schedule is full at some
    instants `make test-clock` runs at); the day stays the one asked for."""
    for shift in (0, 7, 14, 21):
        for doctor, _, _ in clinic.doctors():
            try:
                return clinic.book(patient_id, doctor, start + timedelta(minutes=shift), minutes)
            except BookingConflict:
                continue
    raise AssertionError(f"no doctor free at {start}")


def _sub(phone: Phone, chat: int) -> Subscriber:
    with phone.world.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        assert sub is not None
        s.expunge(sub)
        return sub


def _links(phone: Phone, chat: int) -> set[str]:
    with phone.world.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        assert sub is not None
        return set(
            s.scalars(select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id))
        )


def test_my_visits_with_address_map_buttons_and_the_past_year(
    menu_phone: Phone, demo_clinic: DemoClinic
) -> None:
    phone, anna = menu_phone, persona("anna")
    wired = phone.world
    now = clinic_now().replace(minute=0, second=0, microsecond=0)
    # A visit two months ago, one thirteen months ago (out of the year), and Anna's own
    # visit tomorrow from the demo.
    recent = book(demo_clinic, anna.patient_id, now - timedelta(days=60))
    demo_clinic.complete(recent)
    old = book(demo_clinic, anna.patient_id, now - timedelta(days=400))
    demo_clinic.complete(old)
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    phone.press(chat, "🗓 Мои визиты")  # the menu button sends its label
    screen = phone.wait(chat, seen + 1)[seen]
    text = screen.text
    assert text.startswith("🗓 Предстоящие визиты:\n1. завтра, ")
    assert f"📍 {ADDRESS}\n🗺 https://yandex.ru/maps/?text=" in text
    assert "Визиты за 12 месяцев:" in text
    recent_day = (now - timedelta(days=60)).date()
    assert f"• {recent_day.day} " in text and str(recent_day.year) in text
    past_part = text.split("Визиты за 12 месяцев:")[1]
    assert len([line for line in past_part.splitlines() if line.startswith("• ")]) == 2
    assert screen.labels == ["✅ Подтверждаю", "🔁 Перенести", "✖️ Отменить"]
    confirm = screen.data("✅ Подтверждаю")
    assert confirm.startswith("c:")

    # A press naming another patient's visit is refused: no button of this message had it.
    with wired.appliance.factory() as s:
        others = s.scalar(
            select(Appointment.id).where(
                Appointment.patient_mis_id == str(persona("family").patient_id)
            )
        )
    assert others is not None
    assert phone.press_data(chat, screen, f"c:{others}") == NOT_YOURS

    # Confirm from the screen is the reminder's own flow.
    seen = len(phone.messages(chat))
    assert phone.press(chat, "✅ Подтверждаю", screen) == ""
    assert "подтверждён" in phone.wait(chat, seen + 1)[-1].text
    with wired.appliance.factory() as s:
        assert s.get(Appointment, int(confirm.split(":")[1])).confirmation == "confirmed"
    # Pressed again (a stale copy): nothing changes, the answer says so.
    assert phone.press_data(chat, screen, confirm) == "Ответ уже получен, спасибо."
    again = phone.say(chat, "/visits")
    assert "✅ Вы подтвердили визит" in again.text and again.buttons == []


def test_bonus_history(menu_phone: Phone, demo_clinic: DemoClinic) -> None:
    phone, anna = menu_phone, persona("anna")
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    wired.appliance.reminders_job()
    reminder = phone.wait(chat, seen + 1)[-1]
    phone.press(chat, "✅ Подтверждаю", reminder)
    phone.wait(chat, seen + 2)
    seen = len(phone.messages(chat))
    visit = int(reminder.data("✅ Подтверждаю").split(":")[1])
    complete_and_pay(wired, demo_clinic, visit, anna.patient_id, "3450.00")
    phone.wait(chat, seen + 1)  # "points accrued"
    screen = phone.say(chat, "🎁 Мои бонусы").text
    assert "История бонусов:" in screen
    history = screen.split("История бонусов:")[1]
    assert " — за оплату" in history and ": +" in history


def test_recommend_a_friend_link_qr_picture_share_and_count(
    menu_phone: Phone, demo_clinic: DemoClinic
) -> None:
    phone = menu_phone
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    screen = phone.say(chat, "🤝 Пригласить друга", more=2)
    bot_link = "https://t.me/" if phone.messenger == "telegram" else "https://max.ru/"
    link = next(line for line in screen.text.splitlines() if line.startswith(bot_link))
    assert link.startswith(f"{bot_link}{BOT}?start=r")
    assert "пришли: 0, из них оплатили первый визит: 0" in screen.text
    picture = phone.messages(chat)[-1]
    assert picture.image and picture.text.startswith("QR-код вашей ссылки")
    if phone.messenger == "telegram":
        # Telegram's share sheet; MAX has none (the message itself is forwarded).
        assert list(screen.links) == ["📤 Поделиться ссылкой"]
        share = screen.links["📤 Поделиться ссылкой"]
        assert share.startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2F")
        photo = picture.raw["photo"][-1]["file_id"]
        data, _ = phone.world.emulator.file_bytes(photo)  # type: ignore[misc]
        assert data == qr_png(link)  # the image is the link itself
    else:
        assert screen.links == {}
        assert qr_png(link) in phone.emu.uploads.values()  # type: ignore[attr-defined]

    # A friend new to the clinic comes by the link: counted on Anna's screen.
    demo_clinic.add_patient("Друг", "Павел", "Ильич", date(1990, 5, 5), "+7 917 555-44-33")
    wired.appliance.sync_job()
    friend = phone.person("Павел")
    phone.consent(friend, link.split("start=")[1])
    phone.share_number(friend, "+79175554433", first_name="Павел")
    assert "пришли: 1, из них оплатили первый визит: 0" in phone.say(chat, "/friend", 2).text


def test_family_whose_visits_and_muting(menu_phone: Phone, demo_clinic: DemoClinic) -> None:
    phone = menu_phone
    wired = phone.world
    oleg, daughter, son = persona("family"), persona("family_daughter"), persona("family_son")
    start = clinic_now().replace(minute=0, second=0, microsecond=0) + timedelta(days=6)
    book(demo_clinic, daughter.patient_id, start.replace(hour=9))
    wired.appliance.sync_job()
    chat = phone.link("family", "Олег")
    screen = phone.say(chat, "👨‍👩‍👧 Семья")
    assert screen.text.startswith("👨‍👩‍👧 Семья в этом чате:\n• Олег Викторович\n")
    hide_daughter = screen.data(f"👁 {daughter.name}")
    assert daughter.name in phone.say(chat, "/visits").text

    assert phone.press(chat, f"👁 {daughter.name}", screen) == "Сохранено."
    edited = phone.shown(chat, screen, f"{daughter.name} {daughter.patronymic} — не показываем")
    assert f"🙈 {daughter.name}" in edited.labels
    assert daughter.name not in phone.say(chat, "/visits").text
    # The old button again (stale): nothing changes, the message shows the state as it is.
    assert phone.press_data(chat, screen, hide_daughter) == "Уже так — ничего не изменено."
    # A forged press for a patient of another chat: refused before any flow sees it.
    anna = persona("anna").patient_id
    assert phone.press_data(chat, screen, f"fm:s:{anna}:0") == NOT_YOURS

    # Muting the son: a booking notice about him does not come here; Oleg's own does.
    assert phone.press_data(chat, screen, screen.data(f"🔔 {son.name}")) == "Сохранено."
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        muted = s.scalars(
            select(PatientLink.patient_mis_id).where(
                PatientLink.subscriber_id == sub.id, PatientLink.muted.is_(True)
            )
        ).all()
    assert muted == [str(son.patient_id)]
    seen = len(phone.messages(chat))
    book(demo_clinic, son.patient_id, start.replace(hour=11))
    book(demo_clinic, oleg.patient_id, start.replace(hour=13))
    wired.appliance.sync_job()
    phone.wait(chat, seen + 1)
    phone.settle()
    notices = phone.messages(chat)[seen:]
    assert [n.text.split(",")[0] for n in notices] == ["Олег Викторович"]
    assert all(son.name not in n.text for n in notices)


def test_family_invite_confirmed_by_the_members_own_contact(
    menu_phone: Phone, demo_clinic: DemoClinic
) -> None:
    phone = menu_phone
    wired = phone.world
    family = demo_clinic.create_family(persona("anna").patient_id)
    husband = demo_clinic.add_patient(
        "Иванов", "Игорь", "Петрович", date(1985, 7, 7), "+7 999 777-10-01", family_id=family
    )
    stranger = demo_clinic.add_patient(
        "Чужих", "Вера", "Ивановна", date(1970, 1, 1), "+7 999 777-10-02"
    )
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    screen = phone.say(chat, "/family")
    seen = len(phone.messages(chat))
    phone.press(chat, "➕ Пригласить члена семьи", screen)
    invite = phone.wait(chat, seen + 1)[-1].text
    link = next(line for line in invite.splitlines() if line.startswith("https://"))
    payload = link.split("start=")[1]
    assert payload.startswith("fam-")
    # Pressed again: the same link, not a second one that could be opened.
    seen = len(phone.messages(chat))
    phone.press_data(chat, screen, screen.data("➕ Пригласить члена семьи"))
    assert link in phone.wait(chat, seen + 1)[-1].text

    # The husband opens it: told what it is, then the consent and his own contact.
    igor = phone.person("Игорь")
    phone.start(igor, payload)
    opened = phone.wait(igor, 2)
    assert opened[0].text.startswith("Вас пригласили в семью")
    accept = next(d for _, d in opened[1].buttons if d.startswith("cs:yes:"))
    phone.press_data(igor, opened[1], accept)
    phone.wait(igor, 3)
    # Someone else's card proves nothing: nobody joins.
    phone.contact(igor, "+79997771001", own=False, first_name="Игорь")
    assert "чужой контакт" in phone.wait(igor, 4)[-1].text
    seen = len(phone.messages(chat))
    phone.share_number(igor, "+79997771001", first_name="Игорь")
    phone.wait(igor, 6 if phone.messenger == "telegram" else 7)
    joined = phone.wait(chat, seen + 1)[-1].text
    assert joined.startswith("👨‍👩‍👧 Теперь в вашей семье в этом чате: Игорь Петрович.")
    assert _links(phone, chat) == {str(persona("anna").patient_id), str(husband)}

    # The invite is spent: a second person opening it gets nothing of Anna's.
    other = phone.person("Вера")
    phone.start(other, payload)
    assert phone.wait(other, 1)[0].text.startswith("Это приглашение уже использовано")

    # A fresh invite opened by someone outside the MIS family: the staff confirm first.
    screen = phone.say(chat, "/family")
    seen = len(phone.messages(chat))
    phone.press(chat, "➕ Пригласить члена семьи", screen)
    invite = phone.wait(chat, seen + 1)[-1].text
    payload = next(w for w in invite.split() if "start=fam-" in w).split("start=")[1]
    # Вера's chat has the «used» answer and the consent request so far.
    phone.start(other, payload)
    opened = phone.wait(other, 4)
    assert opened[2].text.startswith("Вас пригласили в семью")
    accept = next(d for _, d in opened[3].buttons if d.startswith("cs:yes:"))
    phone.press_data(other, opened[3], accept)
    phone.wait(other, 5)
    phone.share_number(other, "+79997771002", first_name="Вера")
    wired.pump(lambda: any("администратору" in m.text for m in phone.messages(other)))
    with wired.appliance.factory() as s:
        (task,) = s.scalars(select(Task).where(Task.key.like("family-invite:%"))).all()
    assert task.kind == "family_confirm" and "Чужих Вера" in task.text
    assert str(stranger) not in _links(phone, chat)


def test_settings_buttons_and_the_senders_honour_them(
    menu_phone: Phone, demo_clinic: DemoClinic
) -> None:
    phone = menu_phone
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    screen = phone.say(chat, "⚙️ Настройки")
    assert "Язык: русский" in screen.text and "✅ Просьбы оценить визит" in screen.text
    ratings_off = screen.data("✅ Просьбы оценить визит")
    assert phone.press(chat, "✅ Просьбы оценить визит", screen) == "Сохранено."
    phone.shown(chat, screen, "🔕 Просьбы оценить визит")
    assert phone.press_data(chat, screen, ratings_off) == "Уже так — ничего не изменено."
    assert phone.press_data(chat, screen, "st:n:everything:0") == NOT_YOURS

    # A visit three hours ago, completed: no rating request comes to this chat.
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    visit = book(demo_clinic, persona("anna").patient_id, start)
    demo_clinic.complete(visit)
    wired.appliance.sync_job()
    config = wired.config.replace(messaging={"rating_delay_minutes": 60})
    assert plan_rating_requests(wired.appliance.factory, config) == 0

    # Mailings off, then English: the screen and the menu follow.
    edited = phone.shown(chat, screen, "🔕 Просьбы оценить визит")
    assert phone.press(chat, "📣 Отключить рассылки", edited) == "Сохранено."
    edited = phone.shown(chat, screen, "Рассылки и поздравления: выключены")
    seen = len(phone.messages(chat))
    assert phone.press(chat, "🌐 English", edited) == "Saved."
    menu_message = phone.wait(chat, seen + 1)[-1]
    assert menu_message.menu[0] == "🗓 My visits"
    edited = phone.shown(chat, screen, "⚙️ Settings")
    assert edited.text.startswith(
        "⚙️ Settings\n\n🌐 Language: English\n📣 Mailings and greetings: off"
    )
    sub = _sub(phone, chat)
    assert (sub.notices_off, sub.language) == ("ratings", "en")
    assert sub.marketing_opt_out_at is not None


def test_write_to_the_clinic_help_and_unknown_commands(menu_phone: Phone) -> None:
    phone = menu_phone
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    assert phone.say(chat, "💬 Написать в клинику").text.startswith("Напишите ваш вопрос")
    with wired.appliance.factory() as s:
        # The thread has the prompt; no task is opened until she writes something.
        assert s.scalars(select(Task)).all() == []
        lines = s.scalars(select(ThreadMessage.kind)).all()
        assert lines and set(lines) <= {"notice", "event"}
    phone.say(chat, "Можно перенести пломбу на пятницу?")
    with wired.appliance.factory() as s:
        assert [t.kind for t in s.scalars(select(Task))] == ["message"]
    help_text = phone.say(chat, "/help").text
    for command in ("/visits", "/balance", "/family", "/friend", "/care", "/settings", "/language"):
        assert command in help_text
    assert phone.say(chat, "/whatever").text == "Такой команды я не знаю.\n\n" + help_text
