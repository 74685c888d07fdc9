"""The staff group through the Telegram emulator (privacy mode on, as every bot starts):
a linked administrator answers a patient by replying to the episode's post, and takes and
closes it with its buttons; an unlinked member changes nothing and reaches no one; an
unknown sender's flood is one episode and one post."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.conversations import staff_links
from core.conversations.models import Conversation, ThreadMessage
from core.db import transaction
from core.models import Task
from core.staff import create_user
from sandbox.demo_clinic import persona
from tests.conftest import Wired
from tests.e2e.flows import buttons, connect

pytestmark = pytest.mark.clock


def _olga(wired: Wired) -> int:
    """The group's member the wired fixture made."""
    return next(u["id"] for u in wired.emulator.users() if u["first_name"] == "Ольга")


def _link(wired: Wired, telegram_id: int) -> None:
    """The panel user «Ольга Админова» gets a code and sends it to the bot privately."""
    with transaction(wired.appliance.factory) as s:
        user, _ = create_user(s, "olga", "admin", "секретный-пароль", "Ольга Админова")
        code = staff_links.new_code(s, user, utcnow())
    emu = wired.emulator
    emu.send_text(telegram_id, f"/link {code}")
    answer = wired.wait_messages(telegram_id, 1)[-1]
    assert "привязан к учётной записи «Ольга Админова»" in answer["text"]


def _replies(wired: Wired, chat: int) -> list[ThreadMessage]:
    with wired.appliance.factory() as s:
        conv = s.scalar(select(Conversation).where(Conversation.chat_id == chat))
        return list(
            s.scalars(
                select(ThreadMessage).where(
                    ThreadMessage.conversation_id == conv.id, ThreadMessage.kind == "reply"
                )
            )
        )


def _patient_writes(wired: Wired) -> tuple[int, dict]:
    emu = wired.emulator
    wired.appliance.sync_job()
    anna = persona("anna")
    chat = connect(wired, "anna", anna.name, anna.surname)
    emu.send_text(chat, "Можно перенести визит на пятницу?")
    seen = len(emu.messages(chat))
    # The post in the group, and the patient's acknowledgement.
    wired.pump(
        lambda: len(emu.messages(wired.staff_chat_id)) >= 1 and len(emu.messages(chat)) > seen
    )
    return chat, emu.messages(wired.staff_chat_id)[0]


def _post(wired: Wired, message_id: int) -> dict:
    return next(
        m for m in wired.emulator.messages(wired.staff_chat_id) if m["message_id"] == message_id
    )


def test_a_reply_in_the_group_reaches_the_patient(wired: Wired) -> None:
    emu = wired.emulator
    olga = _olga(wired)
    _link(wired, olga)
    chat, post = _patient_writes(wired)
    seen = len(emu.messages(chat))

    emu.send_text(olga, "Да, в пятницу в 10:00 свободно.", wired.staff_chat_id, post["message_id"])
    got = wired.wait_messages(chat, seen + 1)[-1]
    assert got["text"] == "Да, в пятницу в 10:00 свободно."
    (line,) = _replies(wired, chat)
    assert line.author == "Ольга Админова" and line.author_user_id is not None
    # The post shows the answer and who has the task, edited in place.
    wired.pump(lambda: "↩️ Ольга Админова" in _post(wired, post["message_id"])["text"])
    edited = _post(wired, post["message_id"])
    assert "Взял(а): Ольга Админова" in edited["text"]
    assert len(emu.messages(wired.staff_chat_id)) == 1

    done = next(data for text, data in buttons(edited) if data.startswith("t:done:"))
    emu.press(olga, post["message_id"], done, chat_id=wired.staff_chat_id)
    wired.pump(lambda: not buttons(_post(wired, post["message_id"])))
    assert "✅ Готово: Ольга Админова" in _post(wired, post["message_id"])["text"]
    with wired.appliance.factory() as s:
        task = s.scalars(select(Task).where(Task.kind == "message")).one()
        assert task.state == "done" and task.first_response_by == "Ольга Админова"


def test_an_unlinked_member_changes_nothing_and_reaches_no_one(wired: Wired) -> None:
    emu = wired.emulator
    stranger = emu.create_user(first_name="Гость")["id"]
    emu.add_member(wired.staff_chat_id, stranger)
    chat, post = _patient_writes(wired)
    seen_patient = len(emu.messages(chat))

    emu.send_text(stranger, "Я отвечу сам", wired.staff_chat_id, post["message_id"])
    group = wired.wait_messages(wired.staff_chat_id, 2)
    assert "Гость, сначала привяжите Telegram" in group[-1]["text"]
    take = buttons(post)[0][1]
    emu.press(stranger, post["message_id"], take, chat_id=wired.staff_chat_id)
    wired.pump(lambda: any(a.get("text") for a in emu.callback_answers))
    assert "сначала привяжите Telegram" in emu.callback_answers[-1]["text"]

    # A plain message in the group is not even seen by the bot (privacy mode).
    emu.send_text(stranger, "просто болтаем", wired.staff_chat_id)
    wired.pump(lambda: emu.stats()["pending_updates"] == 0)
    assert len(emu.messages(chat)) == seen_patient and _replies(wired, chat) == []
    with wired.appliance.factory() as s:
        task = s.scalars(select(Task).where(Task.kind == "message")).one()
        assert task.state == "open" and task.taken_by == ""

    # A linked member pressing a button forged for another task: nothing changes either.
    olga = _olga(wired)
    _link(wired, olga)
    emu.press(olga, post["message_id"], "t:done:999", chat_id=wired.staff_chat_id, force=True)
    wired.pump(lambda: "устарела" in (emu.callback_answers[-1].get("text") or ""))
    with wired.appliance.factory() as s:
        assert s.scalars(select(Task).where(Task.kind == "message")).one().state == "open"


def test_a_reply_to_a_patient_who_blocked_the_bot_is_marked_and_the_author_told(
    wired: Wired,
) -> None:
    emu = wired.emulator
    olga = _olga(wired)
    _link(wired, olga)
    chat, post = _patient_writes(wired)
    emu.block_user(chat)
    emu.send_text(olga, "Ответ", wired.staff_chat_id, post["message_id"])
    wired.pump(lambda: len(emu.messages(wired.staff_chat_id)) >= 2)
    told = emu.messages(wired.staff_chat_id)[-1]["text"]
    assert told.startswith("⛔ Ольга Админова, ответ по задаче") and "заблокировал" in told
    wired.pump(lambda: "⛔ Пациент заблокировал бота" in _post(wired, post["message_id"])["text"])
    assert _replies(wired, chat) == []


def test_a_hundred_messages_from_an_unknown_user_are_one_episode_and_one_post(
    wired: Wired,
) -> None:
    emu = wired.emulator
    flooder = emu.create_user(first_name="Спамер")["id"]
    for n in range(100):
        emu.send_text(flooder, f"реклама {n}")
    wired.pump(
        lambda: emu.stats()["pending_updates"] == 0 and len(emu.messages(wired.staff_chat_id)) >= 1,
        timeout=60,
    )
    with wired.appliance.factory() as s:
        tasks = s.scalars(select(Task)).all()
        assert len(tasks) == 1 and tasks[0].message_count == 100
    assert len(emu.messages(wired.staff_chat_id)) == 1  # one post, never a second
    edits = [
        c
        for c in emu.calls
        if c["method"] == "editMessageText"
        and int(c["params"].get("chat_id", 0)) == wired.staff_chat_id
    ]
    assert len(edits) <= 2  # the flood's post is edited at most once a minute
    assert len(emu.messages(flooder)) == 1  # one acknowledgement
