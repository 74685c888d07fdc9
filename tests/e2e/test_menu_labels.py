"""The main menu's labels edited on «Тексты сообщений», in Telegram and in MAX, through each
emulator (tests/e2e/phone.py): a patient whose buttons still carry the built-in labels
keeps using them; the next menu the bot sends (here /start) carries the owner's labels,
which open the same screens; a label the owner replaced later still opens its button."""

from __future__ import annotations

import pytest

from core.db import transaction
from core.settings import templates
from sandbox.demo_clinic import DemoClinic
from tests.e2e.phone import Phone, max_emu, menu_phone, smsru

__all__ = ["max_emu", "menu_phone", "smsru"]  # fixtures

pytestmark = pytest.mark.clock

VISITS = "🗓 Предстоящие визиты:\n1. "  # Anna's demo visit tomorrow
BONUSES = " бонусов (1 бонус = "


def _edit(phone: Phone, key: str, label: str) -> None:
    """The owner saves this Russian label on the screen."""
    with transaction(phone.world.appliance.factory) as s:
        assert templates.save(s, key, {"ru": label}, "owner") == ["ru"]


def _press(phone: Phone, chat: int, label: str) -> str:
    """Press the menu button `label` (on the newest menu that has it); the bot's answer."""
    seen = len(phone.messages(chat))
    phone.press(chat, label)
    return phone.wait(chat, seen + 1)[seen].text


def test_edited_menu_labels_and_the_old_ones_open_the_same_screens(
    menu_phone: Phone, demo_clinic: DemoClinic
) -> None:
    phone = menu_phone
    phone.world.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    menu = next(m.menu for m in reversed(phone.messages(chat)) if m.menu)
    assert "🗓 Мои визиты" in menu and "🎁 Мои бонусы" in menu

    _edit(phone, "menu_visits", "🦷 Мои приёмы")
    _edit(phone, "menu_balance", "💰 Баланс")
    phone.world.appliance.sync_job()  # the appliance reads the settings: the labels in force
    # Her buttons still say what they said: they keep working.
    assert _press(phone, chat, "🗓 Мои визиты").startswith(VISITS)
    assert BONUSES in _press(phone, chat, "🎁 Мои бонусы")

    # The next menu the bot sends carries the new labels, and they open the same screens.
    seen = len(phone.messages(chat))
    phone.start(chat)
    greeting = phone.wait(chat, seen + 1)[seen]
    assert "🦷 Мои приёмы" in greeting.menu and "💰 Баланс" in greeting.menu
    assert "🗓 Мои визиты" not in greeting.menu
    assert _press(phone, chat, "🦷 Мои приёмы").startswith(VISITS)
    assert BONUSES in _press(phone, chat, "💰 Баланс")
    # Typed, the built-in label still is the button (an old keyboard in another device).
    assert phone.say(chat, "🗓 Мои визиты").text.startswith(VISITS)

    # Renamed once more: the label of the menu she has now still works.
    _edit(phone, "menu_visits", "🦷 Приёмы")
    phone.world.appliance.sync_job()
    assert _press(phone, chat, "🦷 Мои приёмы").startswith(VISITS)
    assert phone.say(chat, "🦷 Приёмы").text.startswith(VISITS)
