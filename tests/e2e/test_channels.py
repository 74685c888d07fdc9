"""The channel layer (bot_handlers/channels/): flows written once against it, buttons bound
to the message and chat they were sent to, the command menu and the short commands, all
through the real pyTelegramBotAPI and the Telegram emulator."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot_handlers.channels.base import DeliveryError
from bot_handlers.channels.max import MaxChannel
from bot_handlers.channels.registry import UnknownChannel, open_channel
from bot_handlers.channels.telegram import TelegramChannel
from core.models import Appointment, LoyaltyMember, Subscriber
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import Wired
from tests.e2e.flows import appointment_mis_id, buttons, connect, start_and_consent

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

REPO = Path(__file__).resolve().parents[2]
FLOWS = ("onboarding", "loyalty", "visits", "care", "delivery", "chat", "context", "commands")
NOT_YOURS = "Эта кнопка не для вас."


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_flow_imports_a_messenger_library() -> None:
    """The flows see only the channel layer: a MAX adapter must not need a copy of them."""
    for name in FLOWS:
        path = REPO / "bot_handlers" / f"{name}.py"
        for module in _imports(path):
            assert not module.startswith("telebot"), f"{path.name} imports {module}"
            assert module != "bot_handlers.channels.telegram", f"{path.name} imports {module}"
    # The check reads real imports: the adapter itself is seen to import telebot.
    assert "telebot" in _imports(REPO / "bot_handlers" / "channels" / "telegram.py")


def test_the_registry_names_its_adapters(wired: Wired) -> None:
    assert isinstance(open_channel("telegram", wired.config), TelegramChannel)
    assert isinstance(open_channel("max", wired.config), MaxChannel)
    with pytest.raises(UnknownChannel, match="no messenger adapter named 'whatsapp'"):
        open_channel("whatsapp", wired.config)


def _last_answer(wired: Wired, count: int) -> str:
    wired.pump(lambda: len(wired.emulator.callback_answers) >= count)
    return str(wired.emulator.callback_answers[-1]["text"])


def test_a_button_replayed_elsewhere_does_nothing_but_explain(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    anna = connect(wired, "anna", "Анна")
    oleg = connect(wired, "family", "Олег")
    appliance.reminders_job()
    reminder = wired.wait_messages(anna, 4)[-1]
    confirm = buttons(reminder)[0][1]
    visit = int(confirm.split(":")[1])
    answers = 0

    # Her Confirm, replayed by Oleg in his own chat on one of his messages: refused.
    oleg_message = emu.messages(oleg)[-1]["message_id"]
    emu.press(oleg, oleg_message, confirm, force=True)
    answers += 1
    assert _last_answer(wired, answers) == NOT_YOURS

    # Oleg's own kind of button (mute his notices) that the bot never put on that
    # message: the flow would act for him, so the layer refuses it first.
    emu.press(oleg, oleg_message, "lm:on", force=True)
    answers += 1
    assert _last_answer(wired, answers) == NOT_YOURS

    # Pressed in the staff group by a member, on the group's own message.
    nobody = emu.create_user(first_name="Никто")["id"]
    start_and_consent(wired, nobody)
    emu.send_contact(nobody, "79990001122", first_name="Никто")
    post = wired.wait_messages(wired.staff_chat_id, 1)[-1]
    staff_user = next(u for u in emu.users() if u["first_name"] == "Ольга")
    emu.press(
        staff_user["id"], post["message_id"], confirm, chat_id=wired.staff_chat_id, force=True
    )
    answers += 1
    assert _last_answer(wired, answers) == NOT_YOURS

    with appliance.factory() as s:
        assert s.get(Appointment, visit).confirmation == ""
        assert s.scalars(select(LoyaltyMember).where(LoyaltyMember.muted.is_(True))).all() == []
        # Nobody was taken for a patient, nor a group for a patient's chat.
        assert (
            s.scalar(select(Subscriber).where(Subscriber.telegram_user_id == staff_user["id"]))
            is None
        )
    assert len(emu.messages(oleg)) == 4 and len(emu.messages(anna)) == 4

    # Her own press counts; pressed again (an old copy) it only says so.
    emu.press(anna, reminder["message_id"], confirm)
    assert "подтверждён" in wired.wait_messages(anna, 5)[-1]["text"]
    wired.pump(lambda: buttons(emu.messages(anna)[3]) == [])
    emu.press(anna, reminder["message_id"], confirm, force=True)
    answers += 2
    assert _last_answer(wired, answers) == "Ответ уже получен, спасибо."
    wired.pump(lambda: True)
    assert len(emu.messages(anna)) == 5


def test_a_reminder_for_a_cancelled_visit_confirms_nothing(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    anna = connect(wired, "anna", "Анна")
    appliance.reminders_job()
    reminder = wired.wait_messages(anna, 4)[-1]
    confirm = buttons(reminder)[0][1]
    visit = int(confirm.split(":")[1])
    demo_clinic.cancel(appointment_mis_id(wired, visit))
    appliance.sync_job()
    assert "отменён" in wired.wait_messages(anna, 5)[-1]["text"]

    emu.press(anna, reminder["message_id"], confirm, force=True)
    assert _last_answer(wired, 1).startswith("Этот визит уже отменён, перенесён или прошёл.")
    wired.pump(lambda: buttons(emu.messages(anna)[3]) == [])
    with appliance.factory() as s:
        assert s.get(Appointment, visit).confirmation == ""
    assert len(emu.messages(anna)) == 5


def test_the_command_menu_is_registered_in_russian_and_english(wired: Wired) -> None:
    bot = wired.appliance.bot
    wired.appliance.start()
    try:
        wired.pump(lambda: bool(bot.get_my_commands(language_code="en")), timeout=15)
    finally:
        wired.appliance.stop()
    ru = {c.command: c.description for c in bot.get_my_commands(language_code="ru")}
    en = {c.command: c.description for c in bot.get_my_commands(language_code="en")}
    default = [c.command for c in bot.get_my_commands()]
    assert list(ru) == list(en) == default
    assert {"start", "help", "settings", "family", "language", "visits", "balance"} <= set(ru)
    assert ru["help"] == "Что умеет бот" and en["help"] == "What the bot can do"


def test_help_settings_family_and_language_answer(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "family", "Олег")

    def say(text: str) -> dict:
        seen = len(emu.messages(chat))
        emu.send_text(chat, text)
        return wired.wait_messages(chat, seen + 1)[-1]

    assert "/visits" in say("/help")["text"] and "/language" in emu.messages(chat)[-1]["text"]
    settings = say("/settings")["text"]
    assert "Язык: русский" in settings and "Рассылки и поздравления: включены" in settings
    family = say("/family")["text"]
    assert family.startswith("👨‍👩‍👧 Семья в этом чате:\n• Олег Викторович\n• ")
    unknown = say("/nonsense")["text"]  # an unknown command gets /help
    assert unknown.startswith("Такой команды я не знаю.\n\nЭто бот клиники")

    switched = say("/language")
    assert switched["text"].startswith("Done: the bot speaks English now.")
    menu = switched["reply_markup"]["keyboard"]
    assert menu[0][0]["text"] == "🗓 My visits"
    assert say("/settings")["text"].startswith("⚙️ Settings\n\n🌐 Language: English")
    assert say("🎁 My bonuses")["text"]  # the English menu works
    with wired.appliance.factory() as s:
        assert s.scalar(select(Subscriber.language).where(Subscriber.chat_id == chat)) == "en"
    assert say("/language ru")["text"].startswith("Готово: бот говорит по-русски.")
    with wired.appliance.factory() as s:
        assert s.scalar(select(Subscriber.language).where(Subscriber.chat_id == chat)) == "ru"


def test_a_stranger_is_given_the_button_to_share_the_number(wired: Wired) -> None:
    emu = wired.emulator
    user = emu.create_user(first_name="Гость")["id"]
    emu.send_text(user, "/family")
    answer = wired.wait_messages(user, 1)[-1]
    assert answer["text"].startswith("Сначала нажмите «Поделиться номером»")
    assert answer["reply_markup"]["keyboard"][0][0]["request_contact"] is True


def test_the_adapter_sends_a_file_and_an_image(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", persona("anna").name)
    channel = wired.appliance.ctx.channels["telegram"]

    def send(data: bytes, name: str, **options: object) -> int:
        # The emulator keeps Telegram's one message a second per chat; the adapter says so.
        while True:
            try:
                return channel.send_file(chat, data, name, **options)  # type: ignore[arg-type]
            except DeliveryError as err:
                assert err.kind == "rate_limited", err
                time.sleep(err.retry_after)

    pdf = b"%PDF-1.4\n% care instructions\n"
    send(pdf, "care.pdf", caption="Рекомендации")
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
        b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
        b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    send(png, "qr.png", image=True)
    document, photo = emu.messages(chat)[-2:]
    assert document["document"]["file_name"] == "care.pdf" and document["caption"] == "Рекомендации"
    assert emu.file_bytes(document["document"]["file_id"])[0] == pdf
    assert photo["photo"][-1]["width"] == 1
