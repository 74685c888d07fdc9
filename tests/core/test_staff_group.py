"""The staff group's post per episode on a real store: edited in place and coalesced,
within 4,096 characters; staff Telegram links; escalation once, in working hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.conversations import hours, staff_group, staff_links
from core.conversations.models import StaffPost
from core.conversations.threads import Incoming, receive, reply
from core.db import transaction
from core.models import OutboxMessage, Task
from core.staff import create_user, set_active
from core.tasks import create_task, escalate_stale, transition
from tests.conftest import make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

STAFF = -4_000_000_001
# 2027-03-08 is a Monday; the clinic works 1-6, 09:00-20:00 Moscow (UTC+3).
MONDAY_10 = datetime(2027, 3, 8, 7, 0, tzinfo=UTC)
MONDAY_1955 = datetime(2027, 3, 8, 16, 55, tzinfo=UTC)


def _config(tmp_path: Path, **conversations: object) -> Config:
    return make_config(
        tmp_path,
        telegram={"staff_chat_id": STAFF},
        web={"public_url": "https://kabinet.example.ru"},
        conversations=conversations,
    )


def _rows(s: Session, prefix: str) -> list[OutboxMessage]:
    s.flush()
    s.expire_all()  # conditional UPDATEs rewrite queued rows behind the identity map
    return list(
        s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    )


def _sent(s: Session, row: OutboxMessage, telegram_id: int) -> None:
    row.state, row.telegram_message_id = "sent", telegram_id
    s.flush()


def test_a_burst_is_one_post_and_its_edits_are_coalesced(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, group_edit_seconds=10)
    with time_machine.travel(MONDAY_10, tick=False), transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        task = receive(s, config, sub, Incoming(telegram_message_id=1, text="Здравствуйте")).task
        receive(s, config, sub, Incoming(telegram_message_id=2, text="Можно раньше?"))
        (announce,) = _rows(s, f"task:{task.id}:announce")
        # Not sent yet: the one post is rewritten, nothing else is queued.
        assert "Можно раньше?" in announce.text and "Сообщений пациента: 2" in announce.text
        assert f"https://kabinet.example.ru/tasks/{task.id}" in announce.text
        assert _rows(s, "staff-post:") == []
        _sent(s, announce, 501)
        for n in range(3, 8):
            receive(s, config, sub, Incoming(telegram_message_id=n, text=f"строка {n}"))
        (edit,) = _rows(s, "staff-post:")  # five lines, one queued edit, rewritten
        assert edit.kind == "edit_text" and edit.edit_message_id == 501
        assert "строка 7" in edit.text and "Сообщений пациента: 7" in edit.text
        assert edit.due_at == MONDAY_10
        _sent(s, edit, 501)
        receive(s, config, sub, Incoming(telegram_message_id=8, text="строка 8"))
        later = _rows(s, "staff-post:")[-1]
        # The next edit waits the post's interval; a state change does not wait.
        assert later.id != edit.id and later.due_at == MONDAY_10 + timedelta(seconds=10)
        transition(s, task, "take", "Ольга")
        staff_group.refresh(s, config, task, urgent=True)
        s.refresh(later)
        assert later.due_at == MONDAY_10 and "Взял(а): Ольга" in later.text
        assert len(_rows(s, "staff-post:")) == 2
        # Nothing changed since: no edit at all.
        staff_group.refresh(s, config, task)
        assert len(_rows(s, "staff-post:")) == 2
        _sent(s, later, 501)
        transition(s, task, "done", "Ольга")
        staff_group.refresh(s, config, task, urgent=True)
        closed = _rows(s, "staff-post:")[-1]
        assert closed.reply_markup == {"inline_keyboard": []} and "✅ Готово: Ольга" in closed.text
        assert staff_group.task_for_message(s, STAFF, 501).id == task.id


def test_a_patient_writing_from_both_messengers_has_each_line_labelled(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path)
    with time_machine.travel(MONDAY_10, tick=False), transaction(factory) as s:
        person = patient(s, "p1")
        telegram, max_chat = chat_for(s, person), chat_for(s, person)
        max_chat.channel = "max"
        for chat in (telegram, max_chat):
            chat.phone = "+79160000001"
        task = receive(
            s, config, telegram, Incoming(telegram_message_id=1, text="Здравствуйте")
        ).task
        receive(s, config, telegram, Incoming(telegram_message_id=2, text="Можно раньше?"))
        (alone,) = _rows(s, f"task:{task.id}:announce")
        assert "Можно раньше?" in alone.text and "[Telegram]" not in alone.text  # one messenger
        same = receive(
            s, config, max_chat, Incoming(telegram_message_id=3, text="Пишу из MAX")
        ).task
        assert same.id == task.id  # one person, one episode
        (post,) = _rows(s, f"task:{task.id}:announce")
        assert "› [Telegram] Можно раньше?" in post.text
        assert "› [MAX] Пишу из MAX" in post.text


def test_an_unknown_senders_flood_is_edited_rarely(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, group_edit_seconds=10, flood_edit_seconds=60)
    with time_machine.travel(MONDAY_10, tick=False) as clock, transaction(factory) as s:
        stranger = chat_for(s)
        task = receive(s, config, stranger, Incoming(telegram_message_id=1, text="спам")).task
        _sent(s, _rows(s, f"task:{task.id}:announce")[0], 700)
        for n in range(2, 101):
            receive(s, config, stranger, Incoming(telegram_message_id=n, text=f"спам {n}"))
            for row in _rows(s, "staff-post:"):
                if row.due_at <= MONDAY_10 + timedelta(seconds=n):
                    row.state = "sent"  # the dispatcher sends what is due
            clock.shift(1)
        edits = _rows(s, "staff-post:")
        assert len({t.id for t in s.scalars(select(Task))}) == 1
        # 100 lines over 100 s: the announcement and an edit a minute, at most.
        assert len(edits) <= 3
        assert all(len(r.text) <= 4096 for r in edits)
        assert "Сообщений пациента: 100" in edits[-1].text


def test_the_post_stays_within_telegrams_limit(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = _config(tmp_path)
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        task = receive(s, config, sub, Incoming(telegram_message_id=1, text="а" * 4000)).task
        for n in range(2, 30):
            receive(s, config, sub, Incoming(telegram_message_id=n, text="б" * 1000))
        reply(s, task, "Ответ " + "в" * 3000, author="Ольга")
        text = staff_group.post_text(s, config, task)
        assert len(text) <= 4096
        assert text.startswith(f"#{task.id}") and "Сообщений пациента: 29" in text
        assert "↩️ Ольга: Ответ" in text and "ещё строк выше" in text


def test_a_link_code_works_once_in_time_for_an_active_user(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    now = MONDAY_10
    with transaction(factory) as s:
        olga, _ = create_user(s, "olga", "admin", "секретный-пароль", "Ольга Админова")
        masha, _ = create_user(s, "masha", "admin", "секретный-пароль", "Мария")
        code = staff_links.new_code(s, olga, now)
        assert staff_links.redeem(s, "WRONG-CODE", 111, "Ольга", now) is None
        late = now + timedelta(minutes=staff_links.LINK_CODE_MINUTES, seconds=1)
        assert staff_links.redeem(s, code, 111, "Ольга", late) is None
        assert staff_links.redeem(s, code.lower().replace("-", ""), 111, "Ольга", now) == olga
        assert staff_links.redeem(s, code, 222, "Кто-то", now) is None  # used
        assert staff_links.staff_for(s, 111) == olga and staff_links.staff_for(s, 222) is None
        # The same Telegram account linked to another user moves there.
        assert staff_links.redeem(s, staff_links.new_code(s, masha, now), 111, "О", now) == masha
        assert staff_links.staff_for(s, 111) == masha and staff_links.link_of(s, olga) is None
        set_active(s, masha, False)
        assert staff_links.staff_for(s, 111) is None
        dead = staff_links.new_code(s, masha, now)
        assert staff_links.redeem(s, dead, 333, "М", now) is None


def test_working_seconds_skip_nights_and_days_off(config: Config) -> None:
    assert hours.working_seconds(config, MONDAY_1955, MONDAY_1955 + timedelta(hours=14)) == (
        5 * 60 + 55 * 60  # 19:55-20:00, then 09:00-09:55 on Tuesday
    )
    saturday_1955 = MONDAY_1955 + timedelta(days=5)
    monday_0905 = saturday_1955 + timedelta(days=1, hours=13, minutes=10)
    assert hours.working_seconds(config, saturday_1955, monday_0905) == 10 * 60


def test_an_untaken_task_alerts_the_managers_once_in_working_time(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    config = make_config(
        tmp_path,
        telegram={"staff_chat_id": STAFF},
        messaging={"task_escalate_minutes": 15},
        conversations={"escalate_minutes": "reschedule=0, no_show=60"},
    )
    with transaction(factory) as s:
        boss, _ = create_user(s, "boss", "owner", "секретный-пароль", "Анна <Главная>")
        staff_links.redeem(s, staff_links.new_code(s, boss, MONDAY_1955), 9001, "А", MONDAY_1955)
        with time_machine.travel(MONDAY_1955, tick=False):
            late = create_task(s, config, kind="message", key="a", text="Вечером")
            quiet = create_task(s, config, kind="reschedule", key="b", text="Перенос")
            slow = create_task(s, config, kind="no_show", key="c", text="Не пришла")
        _sent(s, _rows(s, f"task:{late.id}:announce")[0], 42)
        # The night does not count: at 09:09 it has waited 14 working minutes.
        assert escalate_stale(s, config, MONDAY_1955 + timedelta(hours=13, minutes=14)) == 0
        at = MONDAY_1955 + timedelta(hours=13, minutes=16)
        for _ in range(3):
            escalate_stale(s, config, at)
        (ping,) = _rows(s, "task:")[-1:]
        assert ping.key == f"task:{late.id}:escalate" and ping.parse_mode == "HTML"
        assert ping.text.startswith(f"⏰ Задача #{late.id} ждёт 15 мин")
        assert '<a href="tg://user?id=9001">Анна &lt;Главная&gt;</a>' in ping.text
        assert ping.reply_markup is None  # an alert, not the task a second time
        (edit,) = _rows(s, "staff-post:")
        assert edit.edit_message_id == 42 and "⏰ Ждёт 15 мин рабочего времени" in edit.text
        assert [r.key for r in _rows(s, "task:") if r.key.endswith(":escalate")] == [ping.key]
        assert s.get(Task, quiet.id).escalated_at is None
        assert s.get(Task, slow.id).escalated_at is None  # 60 minutes for a no-show
        assert s.get(StaffPost, late.id).message_id == 42


def test_a_backlog_of_overdue_tasks_is_one_alert_and_new_posts_go_first(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """After the runner was down over a weekend: 30 overdue tasks make one alert (a reply to
    it reaches no patient), and their posts' edits queue behind a new patient's post."""
    from core.outbox import PRIORITY_STAFF, PRIORITY_STAFF_BACKLOG, claim

    config = make_config(
        tmp_path, telegram={"staff_chat_id": STAFF}, messaging={"task_escalate_minutes": 15}
    )
    later = MONDAY_10 + timedelta(hours=1)
    with transaction(factory) as s:
        with time_machine.travel(MONDAY_10, tick=False):
            old = [create_task(s, config, kind="message", key=f"k{i}", text="?") for i in range(30)]
        for n, task in enumerate(old):
            _sent(s, _rows(s, f"task:{task.id}:announce")[0], 100 + n)
        with time_machine.travel(later, tick=False):
            assert escalate_stale(s, config, later) == 30
            assert escalate_stale(s, config, later + timedelta(minutes=1)) == 0  # once
            fresh = create_task(s, config, kind="message", key="new", text="Болит зуб")
        (ping,) = [r for r in _rows(s, "") if r.kind == "task" and r.key.startswith("escalation:")]
        assert ping.key == f"escalation:{old[0].id}:30" and ping.priority == PRIORITY_STAFF
        assert ping.text.startswith("⏰ Ждут дольше срока, никто не взял — задач: 30: ")
        assert f"#{old[19].id} и ещё 10." in ping.text and f"#{old[20].id}," not in ping.text
        assert not [r for r in _rows(s, "task:") if r.key.endswith(":escalate")]
        edits = _rows(s, "staff-post:")
        assert len(edits) == 30 and {e.priority for e in edits} == {PRIORITY_STAFF_BACKLOG}
        expected = [ping.key, f"task:{fresh.id}:announce"]
        # The dispatcher's next two for the group: the alert and the new post, no edit.
        picked = claim(s, later + timedelta(seconds=1), 2, "test:1")
        assert [m.key for m in picked] == expected
        ping.state, ping.telegram_message_id = "sent", 555
        s.flush()
        # A reply to the alert is a reply to no task: it reaches no patient.
        assert staff_group.task_for_message(s, STAFF, 555) is None


def test_the_escalation_minutes_are_checked(tmp_path: Path) -> None:
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="escalate_minutes"):
        make_config(tmp_path, conversations={"escalate_minutes": "message=пятнадцать"})
    assert make_config(
        tmp_path, conversations={"escalate_minutes": " message=5 "}
    ).conversations.escalate_after == {"message": 5}
