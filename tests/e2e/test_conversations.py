"""The chat with the clinic: one thread per patient, one episode (task) per burst of
messages, files kept, menu buttons never questions. The burst, the menu button, files over
the limit, voice notes and edits run in Telegram and in MAX (tests/e2e/phone.py), each as its
emulator delivers them; in MAX every update and Bot API answer is held to the schema too."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.conversations.models import Conversation, ThreadMessage
from core.models import OutboxMessage, Task
from core.tasks import transition
from sandbox.demo_clinic import persona
from tests.conftest import Wired
from tests.e2e.flows import connect
from tests.e2e.phone import MaxPhoneDriver, Phone, max_emu, phone, smsru
from tests.sandbox.test_telegram_emulator import PNG

__all__ = ["max_emu", "phone", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


def _lines(wired: Wired, chat: int) -> list[ThreadMessage]:
    with wired.appliance.factory() as s:
        conv = s.scalar(select(Conversation).where(Conversation.chat_id == chat))
        if conv is None:
            return []
        return list(
            s.scalars(
                select(ThreadMessage)
                .where(ThreadMessage.conversation_id == conv.id)
                .order_by(ThreadMessage.id)
            )
        )


def _message_tasks(wired: Wired) -> list[Task]:
    with wired.appliance.factory() as s:
        return list(s.scalars(select(Task).where(Task.kind == "message").order_by(Task.id)))


def _incoming(wired: Wired, chat: int) -> list[ThreadMessage]:
    return [line for line in _lines(wired, chat) if line.direction == "in"]


def test_a_burst_is_one_episode_acknowledged_once(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    anna = persona("anna")
    chat = phone.link("anna", anna.name)
    seen = len(phone.messages(chat))

    phone.text(chat, "Здравствуйте!")
    phone.text(chat, "Можно ли прийти на час раньше?")
    phone.send_photo(chat, PNG, caption="снимок")
    kinds = ["text", "text", "photo"]
    wired.pump(
        lambda: (
            len(_incoming(wired, chat)) == len(kinds)
            and _incoming(wired, chat)[-1].file_state in ("", "stored")
            and len(phone.staff_posts()) >= 1
            and len(phone.messages(chat)) >= seen + 1
        )
    )

    tasks = _message_tasks(wired)
    assert len(tasks) == 1 and tasks[0].message_count == len(kinds) and tasks[0].state == "open"
    lines = _incoming(wired, chat)
    assert [line.task_id for line in lines] == [tasks[0].id] * len(kinds)
    assert [line.kind for line in lines] == kinds
    assert lines[2].text == "снимок" and lines[2].file_state == "stored"
    stored = Path(wired.config.storage.data_dir, "files", lines[2].file_path)
    assert stored.read_bytes() == PNG
    # One acknowledgement, one staff-group post, whatever the number of lines.
    phone.settle()
    replies = phone.messages(chat)[seen:]
    assert len(replies) == 1 and "ответим" in replies[0].text
    group = phone.staff_posts()
    assert len(group) == 1 and "Здравствуйте!" in group[0]["text"]
    assert anna.surname in group[0]["text"]

    # Done: the next message opens a new episode, acknowledged again.
    with wired.appliance.factory() as s:
        transition(s, s.get(Task, tasks[0].id), "done", "Ольга")
        s.commit()
    phone.text(chat, "И ещё вопрос")
    phone.wait(chat, seen + 2)
    tasks = _message_tasks(wired)
    assert [t.state for t in tasks] == ["done", "open"]
    assert _incoming(wired, chat)[-1].task_id == tasks[1].id
    phone.settle()
    assert len(phone.messages(chat)) == seen + 2
    _schema_kept(phone)


def _schema_kept(phone: Phone) -> None:
    """MAX: every update the emulator gave and every answer it made fit the schema."""
    if isinstance(phone, MaxPhoneDriver):
        assert phone.emu.schema_errors == []


def test_the_menu_button_is_not_a_question(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    phone.press(chat, "💬 Написать в клинику")  # the menu button sends its label
    prompt = phone.wait(chat, seen + 1)[-1]
    assert "Напишите ваш вопрос" in prompt.text
    assert _message_tasks(wired) == [] and _incoming(wired, chat) == []
    assert phone.staff_posts() == []


def test_a_long_text_is_one_staff_post_within_telegrams_limit(wired: Wired) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    paragraphs = [f"Абзац {n}: " + "слово " * 150 for n in range(8)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 4096
    emu.send_text(chat, text[:4096])  # a client cannot send more: this is the whole limit
    wired.pump(lambda: len(emu.messages(wired.staff_chat_id)) >= 1)
    (post,) = emu.messages(wired.staff_chat_id)
    assert len(post["text"]) <= 4096 and "Абзац 0" in post["text"]
    assert post["reply_markup"]["inline_keyboard"]
    # The whole text is in the thread (the panel shows it), the post only cuts it.
    assert _incoming(wired, chat)[0].text == text[:4096]


def test_a_file_over_the_limit_is_refused_with_the_limit(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    big = b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024)
    phone.send_file(chat, big, "снимок.pdf", "application/pdf")
    phone.send_file(chat, b"%PDF-1.4\nsmall", "направление.pdf", "application/pdf")
    wired.pump(
        lambda: (
            len(_incoming(wired, chat)) == 2
            and _incoming(wired, chat)[1].file_state == "stored"
            and len(phone.messages(chat)) >= seen + 2
        )
    )
    texts = [m.text for m in phone.messages(chat)[seen:]]
    assert any("до 20 МБ" in t for t in texts)
    first, second = _incoming(wired, chat)
    assert first.file_state == "too_big" and first.file_path == ""
    assert second.file_name == "направление.pdf" and second.file_path.endswith(".pdf")
    stored = Path(wired.config.storage.data_dir, "files", second.file_path)
    assert stored.read_bytes() == b"%PDF-1.4\nsmall"
    with wired.appliance.factory() as s:
        assert s.scalar(select(func.count(Task.id))) == 1
    _schema_kept(phone)


def test_an_edit_and_a_voice_note_show_in_the_thread(phone: Phone) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    sent = phone.text(chat, "Приду в 10")
    phone.send_voice(chat, b"OggS\x00voice")
    photo = phone.send_photo(chat, PNG, caption="до")
    wired.pump(lambda: len(_incoming(wired, chat)) == 3)
    phone.edit(chat, sent, "Приду в 11")
    phone.edit(chat, photo, "после")
    wired.pump(lambda: all(line.edited_at is not None for line in _incoming(wired, chat)[::2]))
    first, voice, picture = _incoming(wired, chat)
    assert first.text == "Приду в 11" and picture.text == "после"
    assert voice.kind == "voice" and voice.edited_at is None
    wired.pump(lambda: _incoming(wired, chat)[1].file_state == "stored")
    voice = _incoming(wired, chat)[1]
    stored = Path(wired.config.storage.data_dir, "files", voice.file_path)
    assert stored.read_bytes() == b"OggS\x00voice" and stored.suffix in (".ogg", ".oga")
    with wired.appliance.factory() as s:
        assert (
            s.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.key.like("message-ack:%"))
            )
            == 1
        )
    _schema_kept(phone)
