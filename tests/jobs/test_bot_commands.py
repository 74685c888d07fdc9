"""The «/» menu in Telegram and MAX follows «Тексты сообщений → Команды бота»: the runner's
bot_commands job (jobs/bot_commands.py) hands an edited description to both messengers,
never re-sends an unchanged menu, and tries again after a messenger failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import transaction
from core.settings import templates
from jobs import bot_commands
from jobs.table import JOBS
from sandbox.max import MaxEmulator
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator
from tests.e2e.max_wired import MaxWired, max_emu, smsru, wire_max

__all__ = ["max_emu", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


@pytest.fixture
def both(
    tmp_path: Path, emulator: TelegramEmulator, max_emu: MaxEmulator, smsru: SmsRuEmulator
) -> Iterator[MaxWired]:
    wired = wire_max(tmp_path, emulator, max_emu, smsru)
    yield wired
    wired.appliance.stop()


def _telegram(wired: MaxWired, lang: str | None) -> dict[str, str]:
    bot = wired.appliance.bot
    return {c.command: c.description for c in bot.get_my_commands(language_code=lang)}


def _sets(wired: MaxWired) -> tuple[int, int]:
    """How many times each messenger was given a menu."""
    telegram = sum(1 for c in wired.telegram.calls if c["method"].lower() == "setmycommands")
    max_ = sum(1 for r in wired.max_emulator.requests if r[:2] == ("PATCH", "/me/commands"))
    return telegram, max_


def test_an_edited_description_reaches_both_menus_and_an_unchanged_one_is_not_resent(
    both: MaxWired,
) -> None:
    appliance = both.appliance
    assert bot_commands.refresh(appliance) == 2
    assert _telegram(both, "ru")["help"] == "Что умеет бот"
    assert _telegram(both, "en")["help"] == "What the bot can do"
    assert {"name": "help", "description": "Что умеет бот"} in both.max_emulator.commands
    given = _sets(both)
    assert given == (3, 1)  # Telegram: ru, en and the default; MAX: one list

    assert bot_commands.refresh(appliance) == 0
    assert _sets(both) == given

    with transaction(appliance.factory) as s:
        assert templates.save(s, "cmd_help", {"ru": "Что я умею и как написать"}, "owner")
    assert bot_commands.refresh(appliance) == 2
    assert _telegram(both, "ru")["help"] == "Что я умею и как написать"
    assert _telegram(both, None)["help"] == "Что я умею и как написать"  # the clinic's own
    assert _telegram(both, "en")["help"] == "What the bot can do"
    assert {"name": "help", "description": "Что я умею и как написать"} in (
        both.max_emulator.commands
    )
    assert list(_telegram(both, "ru")) == [c["name"] for c in both.max_emulator.commands]
    assert both.max_emulator.schema_errors == []


def test_a_messenger_that_failed_is_tried_again_and_the_other_is_not_resent(
    both: MaxWired, caplog: pytest.LogCaptureFixture
) -> None:
    appliance = both.appliance
    both.telegram.inject_fault("403", method="setMyCommands", count=None)
    assert bot_commands.refresh(appliance) == 1  # MAX took it
    assert _telegram(both, "ru") == {}
    assert "the telegram command menu was not set (tried again later)" in caplog.text
    assert "bot" + "-token" not in caplog.text and both.config.telegram.token not in caplog.text

    both.telegram.clear_faults()
    given = _sets(both)
    assert bot_commands.refresh(appliance) == 1
    assert _telegram(both, "ru")["help"] == "Что умеет бот"
    assert _sets(both)[1] == given[1]  # MAX's menu, unchanged, was not sent again


def test_the_menu_is_a_job_of_the_table_that_runs_at_start() -> None:
    [spec] = [s for s in JOBS if s.id == "bot_commands"]
    assert spec.method == "jobs.bot_commands:refresh" and spec.run_at_start
    assert spec.every_seconds == 60 and not spec.enabled_key  # MAX-only clinics too
