"""What the owner sets on «Настройки» (core.settings) is what the jobs do: a rating request
uses the new scale and review link, the reminders follow the new sequence, the dispatcher
holds a notice in the new quiet hours; a panel value equal to the file's is not kept, and
one a release no longer accepts is ignored rather than stopping the jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from bot_handlers.bot import build_bot
from core.db import transaction
from core.models import OutboxMessage
from core.ratings.survey import plan_rating_requests
from core.settings import store
from core.settings.models import PanelSetting
from jobs.dispatcher import Dispatcher
from jobs.transports import TelegramTransport
from tests.conftest import TOKEN, make_config
from tests.core import test_reminder_sequences as sequences
from tests.core.test_ratings import _requests, _setup
from tests.jobs.test_dispatcher import _drain, _enqueue, _patient_chat

pytestmark = pytest.mark.clock


def _set(factory, config, **values: object) -> list[str]:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        return store.save(s, config, {k.replace("__", "."): v for k, v in values.items()}, "owner")


def test_a_rating_request_uses_the_scale_and_link_set_in_the_panel(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory)  # the file: 1-5 and a review link
    other = "https://2gis.ru/reviews/ulybka"
    changed = _set(factory, config, messaging__rating_scale="1-10", messaging__review_url=other)
    assert changed == ["messaging.rating_scale", "messaging.review_url"]
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    rows = request.reply_markup["inline_keyboard"]
    scores = [b["text"] for row in rows[:-1] for b in row]
    assert scores == [str(n) for n in range(1, 11)]
    assert rows[-1][0]["url"] == other


def test_reminders_follow_the_sequence_set_in_the_panel(tmp_path: Path) -> None:
    config, factory, sub = sequences._world(tmp_path)  # the file: 3d, 1d, 2h at 12:00
    _set(factory, config, messaging__reminder_sequence=["2d"], messaging__reminder_send_at="15:30")
    visit = sequences.VISIT
    # Three days before: the file's 3d step is not in force, so nothing is owed.
    assert (
        sequences._plan(config, factory, datetime(2026, 3, 9, 8, 0, tzinfo=sequences.MOSCOW)) == 0
    )
    assert (
        sequences._plan(config, factory, datetime(2026, 3, 10, 8, 0, tzinfo=sequences.MOSCOW)) == 1
    )
    (two,) = sequences._rows(factory)
    assert two.key == f"reminder:a1:{sequences._key_time(visit)}:2d:{sub}"
    assert two.due_at == datetime(2026, 3, 10, 15, 30, tzinfo=sequences.MOSCOW)


def test_the_dispatcher_holds_a_notice_in_quiet_hours_set_in_the_panel(
    tmp_path: Path, emulator, factory, clock
) -> None:  # type: ignore[no-untyped-def]
    # The tests' file has no quiet hours (00:00-00:00); the panel's hold 14:00 in Moscow.
    config = make_config(tmp_path, telegram={"token": TOKEN, "api_url": emulator.url})
    clock.set(datetime(2026, 11, 25, 11, 0, tzinfo=UTC))  # 14:00 in Moscow
    dispatcher = Dispatcher(factory, TelegramTransport(build_bot(config)), config)
    _set(factory, config, messaging__quiet_hours_start="13:00", messaging__quiet_hours_end="15:00")
    chat = _patient_chat(emulator, factory)
    _enqueue(factory, chat, "notice")
    _enqueue(factory, chat, "reply", priority=0, respect_quiet_hours=False)
    _drain(dispatcher, lambda: len(emulator.messages(chat)) == 1)
    with factory() as s:
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.key == "notice"))
    assert notice is not None and notice.state == "pending"
    assert notice.due_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 15:00 Moscow
    # Back to the file's: the notice goes at once.
    with transaction(factory) as s:
        assert store.reset(s, "messaging.quiet_hours_start")
        assert store.reset(s, "messaging.quiet_hours_end")
        s.get(OutboxMessage, notice.id).due_at = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # type: ignore[union-attr]
    _drain(dispatcher, lambda: len(emulator.messages(chat)) == 2)


def test_a_value_equal_to_the_files_is_no_change_and_a_refused_one_keeps_nothing(
    tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path, messaging={"quiet_hours_start": "21:00", "quiet_hours_end": "09:00"}
    )
    assert _set(factory, config, messaging__quiet_hours_start="22:00") == [
        "messaging.quiet_hours_start"
    ]
    # Back to the file's value by typing it: the row goes, a later file change reaches it.
    assert _set(factory, config, messaging__quiet_hours_start="21:00") == [
        "messaging.quiet_hours_start"
    ]
    with factory() as s:
        assert s.scalars(select(PanelSetting)).all() == []
    with pytest.raises(
        store.SettingRefused, match="Начало тихих часов».*«25:00» не подходит.*ЧЧ:ММ"
    ):
        _set(
            factory,
            config,
            messaging__quiet_hours_end="08:00",
            messaging__quiet_hours_start="25:00",
        )
    with factory() as s:
        assert s.scalars(select(PanelSetting)).all() == []  # not even the good one
        assert store.effective(s, config) is config


def test_an_override_a_release_no_longer_accepts_is_ignored(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path)
    with transaction(factory) as s:
        s.add(PanelSetting(key="messaging.rating_scale", value="1-100"))
        s.add(PanelSetting(key="messaging.quiet_hours_end", value="07:00"))
    with factory() as s:
        in_force = store.effective(s, config)
    assert in_force.messaging.rating_scale == "1-5"
    assert in_force.messaging.quiet_hours_end == "07:00"


def test_a_patient_writing_on_a_working_day_set_in_the_panel_is_told_the_clinic_reads_now(
    config, factory
) -> None:  # type: ignore[no-untyped-def]
    from core.conversations.threads import Incoming, receive
    from tests.core.people import chat_for, patient
    from tests.core.test_conversations import SUNDAY_NOON, _acks

    # The file's clinic works Monday to Saturday from 09:00: on Sunday at noon it is closed.
    _set(factory, config, conversations__working_days="1,2,3,4,5,6,7")
    _set(factory, config, conversations__working_hours_start="13:00")
    with time_machine.travel(SUNDAY_NOON, tick=False), transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        receive(s, config, sub, Incoming(telegram_message_id=1, text="Здравствуйте"))
        (ack,) = _acks(s, sub.chat_id)
        # Open on Sundays now, but not before 13:00: told when, today.
        assert "клиника закрыта" in ack.text and "сегодня" in ack.text and "13:00" in ack.text
    with transaction(factory) as s:
        store.reset(s, "conversations.working_hours_start")
    with time_machine.travel(SUNDAY_NOON, tick=False), transaction(factory) as s:
        sub = chat_for(s, patient(s, "p2"))
        receive(s, config, sub, Incoming(telegram_message_id=2, text="Добрый день"))
        (ack,) = _acks(s, sub.chat_id)
        assert "ответим здесь" in ack.text


def test_a_score_is_low_by_the_threshold_set_in_the_panel(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    from core.models import Task
    from tests.core.test_ratings import _press, _rating

    config, sub = _setup(tmp_path, factory)  # the file: 3 and below is low
    _set(factory, config, messaging__rating_low_score=1)
    plan_rating_requests(factory, config)
    assert _press(factory, config, sub, f"rt:{_rating(factory).id}:2").accepted
    with factory() as s:
        assert s.scalars(select(Task)).all() == []  # 2 is no longer low
