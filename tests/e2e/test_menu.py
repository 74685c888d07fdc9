"""The patient's menu (issue 11 part 2) through the Telegram emulator with the real
pyTelegramBotAPI: «Мои визиты» with the reminder's buttons and the past year, «Мои бонусы»
with history, «Пригласить друга» with the QR code as a photo, «Семья» (whose visits, muting,
an invite confirmed by the member's own contact), «Настройки» as buttons that the senders
honour, «Написать в клинику», /help. Forged and stale presses change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import Appointment, PatientLink, Subscriber, Task
from core.ratings import plan_rating_requests
from core.referral_qr import qr_png
from jobs.runner import Appliance
from sandbox.demo_clinic import BookingConflict, DemoClinic, persona
from sandbox.telegram.emulator import TelegramEmulator
from tests.conftest import TOKEN, Wired, clinic_now, make_config
from tests.e2e.flows import buttons, confirmed_and_paid_visit, connect, start_and_consent
from tests.e2e.max_wired import MaxWired, any_wired, max_emu, max_wired, smsru

__all__ = ["any_wired", "max_emu", "max_wired", "smsru"]  # fixtures

pytestmark = pytest.mark.clock

BOT = "kabinet_test_bot"
ADDRESS = "Москва, ул. Ленина, 5"


@pytest.fixture
def menu(tmp_path: Path, emulator: TelegramEmulator, demo_clinic: DemoClinic) -> Iterator[Wired]:
    """The wired appliance with a bot username (web links) and a clinic address."""
    staff_user = emulator.create_user(first_name="Ольга", last_name="Админова")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff_user["id"]])
    cfg = make_config(
        tmp_path,
        clinic={"address": ADDRESS, "branches": "2 = Москва, пр. Мира, 10"},
        telegram={
            "token": TOKEN,
            "api_url": emulator.url,
            "staff_chat_id": staff_chat,
            "bot_username": BOT,
        },
        messaging={"reminder_send_at": "00:00"},
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    appliance = Appliance(cfg, factory=session_factory(engine))
    yield Wired(appliance, emulator, cfg, staff_chat)
    appliance.stop()
    engine.dispose()


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


def say(wired: Wired, chat: int, text: str, more: int = 1) -> dict:
    seen = len(wired.emulator.messages(chat))
    wired.emulator.send_text(chat, text)
    return wired.wait_messages(chat, seen + more)[seen]


def press(wired: Wired, chat: int, message: dict, data: str, *, force: bool = False) -> str:
    """Press and wait for the answer to the press; returns its notice."""
    emu = wired.emulator
    count = len(emu.callback_answers)
    emu.press(chat, message["message_id"], data, force=force)
    wired.pump(lambda: len(emu.callback_answers) > count)
    return str(emu.callback_answers[-1].get("text") or "")


def shown(wired: Wired, chat: int, message: dict, needle: str) -> dict:
    """The message as the chat shows it once the bot's edit saying `needle` has arrived."""

    def now() -> dict:
        return next(
            m for m in wired.emulator.messages(chat) if m["message_id"] == message["message_id"]
        )

    wired.pump(lambda: needle in now()["text"])
    return now()


def test_my_visits_with_address_map_buttons_and_the_past_year(
    menu: Wired, demo_clinic: DemoClinic
) -> None:
    wired, anna = menu, persona("anna")
    now = clinic_now().replace(minute=0, second=0, microsecond=0)
    # A visit two months ago, one thirteen months ago (out of the year), and Anna's own
    # visit tomorrow from the demo.
    recent = book(demo_clinic, anna.patient_id, now - timedelta(days=60))
    demo_clinic.complete(recent)
    old = book(demo_clinic, anna.patient_id, now - timedelta(days=400))
    demo_clinic.complete(old)
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    screen = say(wired, chat, "🗓 Мои визиты")
    text = screen["text"]
    assert text.startswith("🗓 Предстоящие визиты:\n1. завтра, ")
    assert f"📍 {ADDRESS}\n🗺 https://yandex.ru/maps/?text=" in text
    assert "Визиты за 12 месяцев:" in text
    recent_day = (now - timedelta(days=60)).date()
    assert f"• {recent_day.day} " in text and str(recent_day.year) in text
    past_part = text.split("Визиты за 12 месяцев:")[1]
    assert len([line for line in past_part.splitlines() if line.startswith("• ")]) == 2
    labels = [label for label, _ in buttons(screen)]
    assert labels == ["✅ Подтверждаю", "🔁 Перенести", "✖️ Отменить"]
    confirm = buttons(screen)[0][1]
    assert confirm.startswith("c:")

    # A press naming another patient's visit is refused: no button of this message had it.
    with wired.appliance.factory() as s:
        others = s.scalar(
            select(Appointment.id).where(
                Appointment.patient_mis_id == str(persona("family").patient_id)
            )
        )
    assert others is not None
    assert press(wired, chat, screen, f"c:{others}", force=True) == "Эта кнопка не для вас."

    # Confirm from the screen is the reminder's own flow.
    seen = len(wired.emulator.messages(chat))
    assert press(wired, chat, screen, confirm) == ""
    assert "подтверждён" in wired.wait_messages(chat, seen + 1)[-1]["text"]
    with wired.appliance.factory() as s:
        assert s.get(Appointment, int(confirm.split(":")[1])).confirmation == "confirmed"
    # Pressed again (a stale copy): nothing changes, the answer says so.
    assert press(wired, chat, screen, confirm, force=True) == "Ответ уже получен, спасибо."
    again = say(wired, chat, "/visits")
    assert "✅ Вы подтвердили визит" in again["text"] and buttons(again) == []


def test_bonus_history(menu: Wired, demo_clinic: DemoClinic) -> None:
    loop = confirmed_and_paid_visit(menu, demo_clinic)
    screen = say(menu, loop.chat, "🎁 Мои бонусы")["text"]
    assert "История бонусов:" in screen
    history = screen.split("История бонусов:")[1]
    assert " — за оплату" in history and ": +" in history


def test_recommend_a_friend_link_qr_photo_share_and_count(
    menu: Wired, demo_clinic: DemoClinic
) -> None:
    wired, emu = menu, menu.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    screen = say(wired, chat, "🤝 Пригласить друга", more=2)
    link = next(line for line in screen["text"].splitlines() if line.startswith("https://t.me/"))
    assert link.startswith(f"https://t.me/{BOT}?start=r")
    assert "пришли: 0, из них оплатили первый визит: 0" in screen["text"]
    (share,) = screen["reply_markup"]["inline_keyboard"][0]
    assert share["text"] == "📤 Поделиться ссылкой"
    assert share["url"].startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2F")
    photo = emu.messages(chat)[-1]
    assert "photo" in photo and photo["caption"].startswith("QR-код вашей ссылки")
    data, _ = emu.file_bytes(photo["photo"][-1]["file_id"])  # type: ignore[misc]
    assert data == qr_png(link)  # the image is the link itself

    # A friend new to the clinic comes by the link: counted on Anna's screen.
    demo_clinic.add_patient("Друг", "Павел", "Ильич", date(1990, 5, 5), "+7 917 555-44-33")
    wired.appliance.sync_job()
    friend = emu.create_user(first_name="Павел")["id"]
    seen = start_and_consent(wired, friend, f"/start {link.split('start=')[1]}")
    emu.send_contact(friend, "79175554433", first_name="Павел")
    wired.wait_messages(friend, seen + 1)
    assert "пришли: 1, из них оплатили первый визит: 0" in say(wired, chat, "/friend", 2)["text"]


def test_family_whose_visits_and_muting(menu: Wired, demo_clinic: DemoClinic) -> None:
    wired, emu = menu, menu.emulator
    oleg, daughter, son = persona("family"), persona("family_daughter"), persona("family_son")
    start = clinic_now().replace(minute=0, second=0, microsecond=0) + timedelta(days=6)
    book(demo_clinic, daughter.patient_id, start.replace(hour=9))
    wired.appliance.sync_job()
    chat = connect(wired, "family", "Олег")
    screen = say(wired, chat, "👨‍👩‍👧 Семья")
    assert screen["text"].startswith("👨‍👩‍👧 Семья в этом чате:\n• Олег Викторович\n")
    data = dict(buttons(screen))
    hide_daughter = data[f"👁 {daughter.name}"]
    mute_son = data[f"🔔 {son.name}"]
    assert daughter.name in say(wired, chat, "/visits")["text"]

    assert press(wired, chat, screen, hide_daughter) == "Сохранено."
    edited = shown(wired, chat, screen, f"{daughter.name} {daughter.patronymic} — не показываем")
    assert f"🙈 {daughter.name}" in dict(buttons(edited))
    assert daughter.name not in say(wired, chat, "/visits")["text"]
    # The old button again (stale): nothing changes, the message shows the state as it is.
    assert press(wired, chat, screen, hide_daughter, force=True) == "Уже так — ничего не изменено."
    # A forged press for a patient of another chat: refused before any flow sees it.
    anna = persona("anna").patient_id
    assert press(wired, chat, screen, f"fm:s:{anna}:0", force=True) == "Эта кнопка не для вас."

    # Muting the son: a booking notice about him does not come here; Oleg's own does.
    assert press(wired, chat, screen, mute_son) == "Сохранено."
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        muted = s.scalars(
            select(PatientLink.patient_mis_id).where(
                PatientLink.subscriber_id == sub.id, PatientLink.muted.is_(True)
            )
        ).all()
    assert muted == [str(son.patient_id)]
    seen = len(emu.messages(chat))
    book(demo_clinic, son.patient_id, start.replace(hour=11))
    book(demo_clinic, oleg.patient_id, start.replace(hour=13))
    wired.appliance.sync_job()
    notices = wired.wait_messages(chat, seen + 1)[seen:]
    wired.pump(lambda: True)
    notices = emu.messages(chat)[seen:]
    assert [n["text"].split(",")[0] for n in notices] == ["Олег Викторович"]
    assert all(son.name not in n["text"] for n in notices)


def test_family_invite_confirmed_by_the_members_own_contact(
    menu: Wired, demo_clinic: DemoClinic
) -> None:
    wired, emu = menu, menu.emulator
    family = demo_clinic.create_family(persona("anna").patient_id)
    husband = demo_clinic.add_patient(
        "Иванов", "Игорь", "Петрович", date(1985, 7, 7), "+7 999 777-10-01", family_id=family
    )
    stranger = demo_clinic.add_patient(
        "Чужих", "Вера", "Ивановна", date(1970, 1, 1), "+7 999 777-10-02"
    )
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    screen = say(wired, chat, "/family")
    invite_data = dict(buttons(screen))["➕ Пригласить члена семьи"]
    seen = len(emu.messages(chat))
    press(wired, chat, screen, invite_data)
    invite = wired.wait_messages(chat, seen + 1)[-1]["text"]
    link = next(line for line in invite.splitlines() if line.startswith("https://"))
    payload = link.split("start=")[1]
    assert payload.startswith("fam-")
    # Pressed again: the same link, not a second one that could be opened.
    seen = len(emu.messages(chat))
    press(wired, chat, screen, invite_data, force=True)
    assert link in wired.wait_messages(chat, seen + 1)[-1]["text"]

    # The husband opens it: told what it is, then the consent and his own contact.
    igor = emu.create_user(first_name="Игорь")["id"]
    emu.send_text(igor, f"/start {payload}")
    opened = wired.wait_messages(igor, 2)
    assert opened[0]["text"].startswith("Вас пригласили в семью")
    accept = next(d for _, d in buttons(opened[1]) if d.startswith("cs:yes:"))
    emu.press(igor, opened[1]["message_id"], accept)
    wired.wait_messages(igor, 3)
    # Someone else's card proves nothing: nobody joins.
    emu.send_contact(igor, "79997771001", first_name="Игорь", contact_user_id=None)
    assert "чужой контакт" in wired.wait_messages(igor, 4)[-1]["text"]
    seen = len(emu.messages(chat))
    emu.send_contact(igor, "79997771001", first_name="Игорь")
    wired.wait_messages(igor, 6)
    joined = wired.wait_messages(chat, seen + 1)[-1]["text"]
    assert joined.startswith("👨‍👩‍👧 Теперь в вашей семье в этом чате: Игорь Петрович.")
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        links = set(
            s.scalars(select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id))
        )
    assert links == {str(persona("anna").patient_id), str(husband)}

    # The invite is spent: a second person opening it gets nothing of Anna's.
    other = emu.create_user(first_name="Вера")["id"]
    emu.send_text(other, f"/start {payload}")
    assert wired.wait_messages(other, 1)[0]["text"].startswith("Это приглашение уже использовано")

    # A fresh invite opened by someone outside the MIS family: the staff confirm first.
    screen = say(wired, chat, "/family")
    seen = len(emu.messages(chat))
    press(wired, chat, screen, dict(buttons(screen))["➕ Пригласить члена семьи"])
    invite = wired.wait_messages(chat, seen + 1)[-1]["text"]
    payload = next(w for w in invite.split() if "start=fam-" in w).split("start=")[1]
    # Вера's chat has the «used» answer and the consent request so far.
    emu.send_text(other, f"/start {payload}")
    opened = wired.wait_messages(other, 4)
    assert opened[2]["text"].startswith("Вас пригласили в семью")
    accept = next(d for _, d in buttons(opened[3]) if d.startswith("cs:yes:"))
    emu.press(other, opened[3]["message_id"], accept)
    wired.wait_messages(other, 5)
    emu.send_contact(other, "79997771002", first_name="Вера")
    wired.pump(lambda: any("администратору" in m.get("text", "") for m in emu.messages(other)))
    with wired.appliance.factory() as s:
        (task,) = s.scalars(select(Task).where(Task.key.like("family-invite:%"))).all()
        links = set(
            s.scalars(select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id))
        )
    assert task.kind == "family_confirm" and "Чужих Вера" in task.text
    assert str(stranger) not in links


def test_settings_buttons_and_the_senders_honour_them(menu: Wired, demo_clinic: DemoClinic) -> None:
    wired, emu = menu, menu.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    screen = say(wired, chat, "⚙️ Настройки")
    assert "Язык: русский" in screen["text"] and "✅ Просьбы оценить визит" in screen["text"]
    ratings_off = dict(buttons(screen))["✅ Просьбы оценить визит"]
    assert press(wired, chat, screen, ratings_off) == "Сохранено."
    shown(wired, chat, screen, "🔕 Просьбы оценить визит")
    assert press(wired, chat, screen, ratings_off, force=True) == "Уже так — ничего не изменено."
    assert press(wired, chat, screen, "st:n:everything:0", force=True) == "Эта кнопка не для вас."

    # A visit three hours ago, completed: no rating request comes to this chat.
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    visit = book(demo_clinic, persona("anna").patient_id, start)
    demo_clinic.complete(visit)
    wired.appliance.sync_job()
    config = wired.config.replace(messaging={"rating_delay_minutes": 60})
    assert plan_rating_requests(wired.appliance.factory, config) == 0

    # Mailings off, then English: the screen and the menu follow.
    edited = shown(wired, chat, screen, "🔕 Просьбы оценить визит")
    assert (
        press(wired, chat, screen, dict(buttons(edited))["📣 Отключить рассылки"]) == "Сохранено."
    )
    edited = shown(wired, chat, screen, "Рассылки и поздравления: выключены")
    seen = len(emu.messages(chat))
    assert press(wired, chat, screen, dict(buttons(edited))["🌐 English"]) == "Saved."
    menu_message = wired.wait_messages(chat, seen + 1)[-1]
    assert menu_message["reply_markup"]["keyboard"][0][0]["text"] == "🗓 My visits"
    edited = shown(wired, chat, screen, "⚙️ Settings")
    assert edited["text"].startswith(
        "⚙️ Settings\n\n🌐 Language: English\n📣 Mailings and greetings: off"
    )
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == chat))
        assert (sub.notices_off, sub.language) == ("ratings", "en")
        assert sub.marketing_opt_out_at is not None


def test_write_to_the_clinic_help_and_unknown_commands(menu: Wired) -> None:
    wired = menu
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    assert say(wired, chat, "💬 Написать в клинику")["text"].startswith("Напишите ваш вопрос")
    with wired.appliance.factory() as s:
        # The thread has the prompt; no task is opened until she writes something.
        assert s.scalars(select(Task)).all() == []
        lines = s.scalars(select(ThreadMessage.kind)).all()
        assert lines and set(lines) <= {"notice", "event"}
    say(wired, chat, "Можно перенести пломбу на пятницу?")
    with wired.appliance.factory() as s:
        assert [t.kind for t in s.scalars(select(Task))] == ["message"]
    help_text = say(wired, chat, "/help")["text"]
    for command in ("/visits", "/balance", "/family", "/friend", "/care", "/settings", "/language"):
        assert command in help_text
    assert say(wired, chat, "/whatever")["text"] == "Такой команды я не знаю.\n\n" + help_text


def test_the_qr_photo_and_a_settings_press_in_either_messenger(
    any_wired: Wired, demo_clinic: DemoClinic
) -> None:
    """The same flows in MAX: the QR code goes through MAX's upload as an image."""
    wired, emu = any_wired, any_wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    seen = len(emu.messages(chat))
    emu.send_text(chat, "/friend")
    screen, photo = wired.wait_messages(chat, seen + 2)[seen : seen + 2]
    assert "Ваша личная ссылка:\n" in screen["text"]
    if isinstance(wired, MaxWired):
        kinds = [a["type"] for a in photo["max"]["body"].get("attachments") or []]
        assert kinds == ["image"] and photo["text"].startswith("QR-код вашей ссылки")
    else:
        assert "photo" in photo and photo["caption"].startswith("QR-код вашей ссылки")

    settings = say(wired, chat, "/settings")
    emu.press(chat, settings["message_id"], dict(buttons(settings))["✅ Уведомления о бонусах"])

    def turned_off() -> bool:
        with wired.appliance.factory() as s:
            sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
            return sub is not None and sub.notices_off == "loyalty"

    wired.pump(turned_off)
    shown(wired, chat, settings, "🔕 Уведомления о бонусах")
