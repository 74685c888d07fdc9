"""Threads and episodes on a real store: acknowledgements and working hours, event tasks
in the thread, staff replies through the outbox, two staff taking at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.conversations import hours
from core.conversations.models import ThreadMessage
from core.conversations.splitting import split_text
from core.conversations.threads import Incoming, ReplyError, receive, reply
from core.db import transaction
from core.models import OutboxMessage, Task
from core.outbox import PRIORITY_REPLY
from core.tasks import TaskStateError, create_task, transition
from tests.conftest import make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

# 2027-03-07 is a Sunday, 2027-03-08 a Monday; the clinic works 1-6, 09:00-20:00 Moscow.
SUNDAY_NOON = datetime(2027, 3, 7, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
MONDAY_NOON = datetime(2027, 3, 8, 9, 0, tzinfo=UTC)
MONDAY_LATE = datetime(2027, 3, 8, 18, 30, tzinfo=UTC)  # 21:30 in Moscow


def _text(n: int) -> Incoming:
    return Incoming(telegram_message_id=n, text=f"строка {n}")


def _acks(s: Session, chat_id: int) -> list[OutboxMessage]:
    return list(
        s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.chat_id == chat_id, OutboxMessage.key.like("message-ack:%")
            )
        )
    )


def test_working_hours(config: Config) -> None:
    assert hours.is_open(config, MONDAY_NOON)
    assert not hours.is_open(config, SUNDAY_NOON)
    assert not hours.is_open(config, MONDAY_LATE)
    assert hours.next_opening(config, MONDAY_LATE).isoformat() == "2027-03-09T09:00:00+03:00"
    assert hours.answer_expected(config, SUNDAY_NOON, "ru") == "завтра, 8 марта, в 09:00"


def test_one_ack_per_episode_with_the_hours_when_closed(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with time_machine.travel(SUNDAY_NOON, tick=False), transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        first = receive(s, config, sub, _text(1))
        second = receive(s, config, sub, _text(2))
        assert first.opened and not second.opened and first.task.id == second.task.id
        assert first.task.message_count == 2
        (ack,) = _acks(s, sub.chat_id)
        assert "клиника закрыта" in ack.text and "завтра, 8 марта, в 09:00" in ack.text
        assert ack.priority == PRIORITY_REPLY and ack.respect_quiet_hours is False
        transition(s, first.task, "done", "Ольга")
    with time_machine.travel(MONDAY_NOON, tick=False), transaction(factory) as s:
        sub_again = s.get(type(sub), sub.id)
        third = receive(s, config, sub_again, _text(3))
        assert third.opened and third.task.id != first.task.id
        acks = _acks(s, sub.chat_id)
        assert len(acks) == 2 and "ответим здесь" in acks[1].text


def test_an_event_task_is_a_line_and_a_message_joins_it_unacknowledged(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        task = create_task(
            s,
            config,
            kind="reschedule",
            key="reschedule:a1",
            text="Перенос",
            subscriber_id=sub.id,
            patient_mis_id="p1",
            acknowledged=True,
        )
        joined = receive(s, config, sub, _text(1))
        assert joined.task.id == task.id and not joined.opened
        assert _acks(s, sub.chat_id) == []
        lines = s.scalars(select(ThreadMessage).order_by(ThreadMessage.id)).all()
        assert [(line.direction, line.event, line.task_id) for line in lines] == [
            ("event", "reschedule", task.id),
            ("in", "", task.id),
        ]


def test_a_staff_reply_goes_to_the_thread_s_chat_in_parts(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        other = chat_for(s, patient(s, "p2"))
        sub = chat_for(s, patient(s, "p1"))
        task = receive(s, config, sub, _text(1)).task
        receive(s, config, other, _text(1))
        long = "\n\n".join(["Абзац " + "x" * 3000, "Второй " + "y" * 3000])
        lines = reply(s, task, long, author="Ольга Админова", author_user_id=None)
        assert len(lines) == 2 and all(line.author == "Ольга Админова" for line in lines)
        rows = [s.get(OutboxMessage, line.outbox_id) for line in lines]
        assert all(r is not None and r.chat_id == sub.chat_id for r in rows)
        assert [r.text[:6] for r in rows if r] == ["Абзац ", "Второй"]
        assert all(r.priority == PRIORITY_REPLY for r in rows if r)
        assert task.state == "taken" and task.taken_by == "Ольга Админова"
        assert task.first_response_by == "Ольга Админова" and task.waiting_since is None
        with pytest.raises(ReplyError, match="Пустой"):
            reply(s, task, "   ", author="Ольга")


def test_a_reply_to_a_patient_who_blocked_the_bot_is_refused(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"), unreachable=True)
        task = receive(s, config, sub, _text(1)).task
        with pytest.raises(ReplyError, match="заблокировал"):
            reply(s, task, "Здравствуйте", author="Ольга")


def test_two_staff_taking_at_once_one_wins_the_other_is_told_who(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        task_id = receive(s, config, sub, _text(1)).task.id
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def take(who: str) -> None:
        with factory() as s:
            task = s.get(Task, task_id)
            assert task is not None and task.state == "open"  # both saw it open
            barrier.wait()
            try:
                transition(s, task, "take", who)
                s.commit()
                outcomes[who] = "won"
            except TaskStateError as err:
                s.rollback()
                outcomes[who] = err.task.taken_by if err.task else "?"

    threads = [threading.Thread(target=take, args=(w,)) for w in ("Ольга", "Мария")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = [w for w, o in outcomes.items() if o == "won"]
    assert len(winner) == 1
    loser = ({"Ольга", "Мария"} - set(winner)).pop()
    assert outcomes[loser] == winner[0]
    with factory() as s:
        assert s.get(Task, task_id).taken_by == winner[0]


@pytest.mark.parametrize("limit", [10, 4096])
def test_split_text_keeps_paragraphs_and_loses_nothing(limit: int) -> None:
    text = "\n\n".join(f"п{n} " + "слово " * (n * 7) for n in range(40))
    parts = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert split_text("короткий", limit) == ["короткий"]


def test_the_file_limit_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="max_file_mb"):
        make_config(tmp_path, conversations={"max_file_mb": 50})
    with pytest.raises(ConfigError, match="working_days"):
        make_config(tmp_path, conversations={"working_days": "пн-пт"})


def test_a_task_closed_before_its_group_post_left_is_never_posted(
    tmp_path, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    from core.tasks import announce_state

    config = make_config(tmp_path, telegram={"staff_chat_id": -100})
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        long = Incoming(telegram_message_id=1, text="\n\n".join(["а" * 3000, "б" * 3000]))
        task = receive(s, config, sub, long).task
        posts = s.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == -100)).all()
        assert len(posts) == 1 and len(posts[0].text) <= 4096
        transition(s, task, "done", "Ольга")
        announce_state(s, config, task, "Ольга")
        assert {p.state for p in posts} == {"cancelled"}
