"""«Получить бонус за отзыв» end to end through the Telegram emulator with the real
pyTelegramBotAPI: off by default; on, the button asks for a screenshot, the photo becomes an
approval episode with the image in the thread, and the decision reaches the patient."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.db import transaction
from core.loyalty import screenshots, settings
from core.models import LedgerEntry, Task
from tests.conftest import Wired
from tests.e2e.flows import buttons, connect
from tests.sandbox.test_telegram_emulator import PNG

pytestmark = pytest.mark.clock


def _bonuses(wired: Wired, chat: int) -> dict:
    seen = len(wired.emulator.messages(chat))
    wired.emulator.send_text(chat, "🎁 Мои бонусы")
    return wired.wait_messages(chat, seen + 1)[-1]


def _enable(wired: Wired, **values: object) -> None:
    with transaction(wired.appliance.factory) as s:
        settings.save(s, wired.config, dict(values), "owner")


def _screenshot_tasks(wired: Wired) -> list[Task]:
    with wired.appliance.factory() as s:
        return list(
            s.scalars(select(Task).where(Task.kind == "review_screenshot").order_by(Task.id))
        )


def test_off_by_default_then_a_screenshot_becomes_an_approval_episode(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    assert not [d for _, d in buttons(_bonuses(wired, chat)) if d.startswith("bs:")]

    _enable(wired, review_bonus=150, bonus_screenshots=True)
    screen = _bonuses(wired, chat)
    offer = [(t, d) for t, d in buttons(screen) if d.startswith("bs:")]
    assert offer == [("📸 Получить бонус за отзыв", "bs:review")]  # no social bonus set
    seen = len(emu.messages(chat))
    emu.press(chat, screen["message_id"], "bs:review")
    ask = wired.wait_messages(chat, seen + 1)[-1]["text"]
    # For the fact of a review: the ask never asks for a good one.
    assert "скриншот" in ask and "каким бы он ни был" in ask and "150" in ask

    seen = len(emu.messages(chat))
    emu.send_photo(chat, PNG, caption="мой отзыв на Яндексе")
    wired.pump(
        lambda: (
            len(_screenshot_tasks(wired)) == 1
            and len(emu.messages(chat)) >= seen + 1
            and [line.file_state for line in _lines(wired, "photo")] == ["stored"]
        )
    )
    assert "Скриншот получен" in emu.messages(chat)[seen]["text"]
    (task,) = _screenshot_tasks(wired)
    photo = _line(wired, "photo")
    assert photo.task_id == task.id and photo.text == "мой отзыв на Яндексе"
    assert "Скриншот отзыва для бонуса" in task.text and task.patient_mis_id
    with wired.appliance.factory() as s:
        assert s.scalar(select(Task).where(Task.kind == "message")) is None  # not a question

    # The next photo, unasked for, is an ordinary line of the thread (the open episode).
    emu.send_photo(chat, PNG)
    wired.pump(lambda: len(_lines(wired, "photo")) == 2)
    assert len(_screenshot_tasks(wired)) == 1

    seen = len(emu.messages(chat))
    with transaction(wired.appliance.factory) as s:
        screenshots.approve(s, wired.config, s.get(Task, task.id), "yandex", "Ольга")
    thanks = wired.wait_messages(chat, seen + 1)[-1]["text"]
    assert "150" in thanks and "спасибо" in thanks.lower()
    with wired.appliance.factory() as s:
        credits = s.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "review")).all()
    assert credits == [150]


def test_a_stale_button_after_the_clinic_turned_it_off_explains(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    _enable(wired, review_bonus=100, bonus_screenshots=True)
    screen = _bonuses(wired, chat)
    seen = len(emu.messages(chat))
    emu.press(chat, screen["message_id"], "bs:review")
    wired.wait_messages(chat, seen + 1)
    # Turned off between the ask and the picture: the picture is an ordinary message.
    _enable(wired, bonus_screenshots=False)
    seen = len(emu.messages(chat))
    emu.press(chat, screen["message_id"], "bs:review")
    assert "не начисляет" in wired.wait_messages(chat, seen + 1)[-1]["text"]
    emu.send_photo(chat, PNG)
    wired.pump(lambda: len(_lines(wired, "photo")) == 1)
    assert _screenshot_tasks(wired) == []
    with wired.appliance.factory() as s:
        assert s.scalar(select(Task).where(Task.kind == "message")) is not None


def _lines(wired: Wired, kind: str) -> list[ThreadMessage]:
    with wired.appliance.factory() as s:
        return list(
            s.scalars(
                select(ThreadMessage)
                .where(ThreadMessage.kind == kind, ThreadMessage.direction == "in")
                .order_by(ThreadMessage.id)
            )
        )


def _line(wired: Wired, kind: str) -> ThreadMessage:
    found = _lines(wired, kind)
    assert found, f"no {kind} line yet"
    return found[0]
