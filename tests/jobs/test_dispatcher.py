"""The outbox dispatcher against the emulator, which enforces Telegram's limits and faults."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot_handlers.bot import build_bot
from core import outbox
from core.db import transaction
from core.models import OutboxMessage, Subscriber
from jobs.dispatcher import Dispatcher
from jobs.transports import TelegramTransport
from tests.conftest import TOKEN, make_config


class Clock:
    """Real time, shifted at will: enqueue stamps rows with the real clock."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


@pytest.fixture
def setup(tmp_path: Path, emulator, factory):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, telegram={"token": TOKEN, "api_url": emulator.url})
    clock = Clock()
    dispatcher = Dispatcher(
        factory, TelegramTransport(build_bot(config)), config, clock=clock, rng=random.Random(1)
    )
    return config, clock, dispatcher


def _patient_chat(emulator, factory) -> int:  # type: ignore[no-untyped-def]
    user = emulator.create_user(first_name="Анна")
    emulator.send_text(user["id"], "/start")  # a bot may only write to someone who wrote first
    with transaction(factory) as s:
        s.add(Subscriber(telegram_user_id=user["id"], chat_id=user["id"]))
    return int(user["id"])


def _enqueue(factory, chat: int, key: str, **kw) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        outbox.enqueue(
            s, key=key, chat_id=chat, text=kw.pop("text", key), kind=kw.pop("kind", "notice"), **kw
        )


def _drain(dispatcher: Dispatcher, until, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "dispatcher did not settle"
        dispatcher.dispatch_once()
        time.sleep(0.02)


def _states(factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {m.key: m.state for m in s.scalars(select(OutboxMessage))}


def test_one_chat_is_paced_below_telegrams_limit(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, _, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    for i in range(3):
        _enqueue(factory, chat, f"m{i}")
    _drain(dispatcher, lambda: len(emulator.messages(chat)) == 3)
    assert [m["text"] for m in emulator.messages(chat)] == ["m0", "m1", "m2"]
    assert emulator.stats()["http_429"] == 0


def test_429_waits_exactly_retry_after_then_delivers_once(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, clock, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    emulator.inject_fault("429", method="sendMessage", count=1, retry_after=7)
    _enqueue(factory, chat, "r1")
    before = clock()
    dispatcher.dispatch_once()
    with factory() as s:
        row = s.scalar(select(OutboxMessage))
        assert row.state == "pending"
        assert before + timedelta(seconds=7) <= row.due_at <= clock() + timedelta(seconds=7)
    time.sleep(1.1)
    dispatcher.dispatch_once()
    assert emulator.messages(chat) == []  # not due yet
    clock.offset += timedelta(seconds=7)
    _drain(dispatcher, lambda: _states(factory) == {"r1": "sent"})
    assert [m["text"] for m in emulator.messages(chat)] == ["r1"]


def test_5xx_backs_off_and_retries(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, clock, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    emulator.inject_fault("500", method="sendMessage", count=2)
    _enqueue(factory, chat, "x")
    for _ in range(3):
        dispatcher.dispatch_once()
        with factory() as s:
            row = s.scalar(select(OutboxMessage))
        if row.state == "sent":
            break
        assert row.state == "pending" and row.due_at > clock() and "HTTP 500" in row.last_error
        clock.set(row.due_at)
        time.sleep(1.1)  # the chat's own pacing
    assert _states(factory) == {"x": "sent"}
    assert len(emulator.messages(chat)) == 1


def test_403_marks_the_patient_unreachable_and_stops(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, _, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    emulator.block_user(chat)
    _enqueue(factory, chat, "a")
    _enqueue(factory, chat, "b")
    _drain(dispatcher, lambda: set(_states(factory).values()) == {"unreachable"})
    sends = [c for c in emulator.calls if c["method"].lower() == "sendmessage"]
    assert len(sends) == 1  # the second was never tried
    with factory() as s:
        sub = s.scalar(select(Subscriber))
        assert sub.unreachable_at is not None and "blocked" in sub.unreachable_reason


def test_replies_go_before_notices_and_campaigns(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, _, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    _enqueue(factory, chat, "campaign", priority=outbox.PRIORITY_CAMPAIGN)
    _enqueue(factory, chat, "notice", priority=outbox.PRIORITY_NOTICE)
    _enqueue(factory, chat, "reply", priority=outbox.PRIORITY_REPLY)
    _drain(dispatcher, lambda: len(emulator.messages(chat)) == 3)
    assert [m["text"] for m in emulator.messages(chat)] == ["reply", "notice", "campaign"]


def test_quiet_hours_defer_notices_but_not_replies(tmp_path: Path, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url},
        messaging={"quiet_hours_start": "21:00", "quiet_hours_end": "09:00"},
    )
    clock = Clock()
    clock.set(datetime(2026, 11, 25, 20, 0, tzinfo=UTC))  # 23:00 in Moscow
    dispatcher = Dispatcher(factory, TelegramTransport(build_bot(config)), config, clock=clock)
    chat = _patient_chat(emulator, factory)
    _enqueue(factory, chat, "notice")
    _enqueue(factory, chat, "reply", priority=outbox.PRIORITY_REPLY, respect_quiet_hours=False)
    _drain(dispatcher, lambda: len(emulator.messages(chat)) == 1)
    with factory() as s:
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.key == "notice"))
    assert notice.state == "pending"
    assert notice.due_at == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 09:00 Moscow


def test_a_crash_mid_send_is_recovered(setup, emulator, factory) -> None:  # type: ignore[no-untyped-def]
    _, clock, dispatcher = setup
    chat = _patient_chat(emulator, factory)
    _enqueue(factory, chat, "lost")
    with transaction(factory) as s:
        row = s.scalar(select(OutboxMessage))
        outbox.mark_claimed(s, row.id, clock() - timedelta(minutes=5))
    assert dispatcher.recover() == 1
    _drain(dispatcher, lambda: _states(factory) == {"lost": "sent"})
