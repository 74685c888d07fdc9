"""Everything else a patient may send (issue 11 part 8), through the Telegram emulator with
the real pyTelegramBotAPI: a sticker, a location, a video, emoji alone, a die, an edited
caption, an edit of an old message the thread never held. Each reaches the thread (or is
answered) sensibly, and no handler fails. A sticker, a location and a video also run in
Telegram and MAX alike (tests/e2e/phone.py)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.conversations.models import Conversation, ThreadMessage
from core.models import MaxUpdate, Task, TelegramUpdate
from tests.conftest import Wired
from tests.e2e.flows import connect
from tests.e2e.phone import MaxPhoneDriver, Phone, max_emu, phone, smsru

__all__ = ["max_emu", "phone", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


def _incoming(wired: Wired, chat: int) -> list[ThreadMessage]:
    with wired.appliance.factory() as s:
        conv = s.scalar(select(Conversation).where(Conversation.chat_id == chat))
        if conv is None:
            return []
        return list(
            s.scalars(
                select(ThreadMessage)
                .where(ThreadMessage.conversation_id == conv.id, ThreadMessage.direction == "in")
                .order_by(ThreadMessage.id)
            )
        )


def _no_failures(wired: Wired, caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    with wired.appliance.factory() as s:
        assert s.scalars(select(TelegramUpdate)).first() is not None  # updates were stored
        assert s.scalars(select(TelegramUpdate.error).where(TelegramUpdate.error != "")).all() == []


def test_a_sticker_a_location_a_video_and_emoji_go_to_the_thread(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    seen = len(emu.messages(chat))
    emu.send_sticker(chat, emoji="😊")
    emu.send_location(chat, 55.751244, 37.618423)
    emu.send_video(chat, b"\x00\x00\x00\x18ftypmp42video", duration=4, caption="как я хожу")
    emu.send_text(chat, "👍🙏")
    emu.send_venue(chat, 55.7558, 37.6173, "Аптека", "Тверская, 1")
    emu.send_animation(chat, b"\x00\x00\x00\x18ftypmp42gif", file_name="ура.mp4")
    wired.pump(
        lambda: (
            len(_incoming(wired, chat)) == 6
            and _incoming(wired, chat)[2].file_state == "stored"
            and _incoming(wired, chat)[5].file_state == "stored"
            and len(emu.messages(chat)) >= seen + 1
        )
    )
    sticker, location, video, emoji, venue, gif = _incoming(wired, chat)
    assert (gif.kind, gif.file_name, gif.mime_type) == ("animation", "ура.mp4", "video/mp4")
    assert venue.kind == "location" and venue.text == "Аптека, Тверская, 1, 55.755800, 37.617300"
    assert (sticker.kind, location.kind, video.kind, emoji.kind) == (
        "sticker",
        "location",
        "video",
        "text",
    )
    assert location.text == "55.751244, 37.618423"
    assert video.text == "как я хожу" and video.mime_type == "video/mp4"
    assert emoji.text == "👍🙏"
    # One episode, acknowledged once; the staff read what each line was.
    with wired.appliance.factory() as s:
        (task,) = s.scalars(select(Task).where(Task.kind == "message")).all()
        assert task.message_count == 6 and "стикер 😊" in task.text
    replies = emu.messages(chat)[seen:]
    assert len(replies) == 1 and "ответим" in replies[0]["text"]
    _no_failures(wired, caplog)


def test_a_die_is_answered_and_edits_reach_the_thread(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    emu = wired.emulator
    wired.appliance.sync_job()
    chat = connect(wired, "anna", "Анна")
    seen = len(emu.messages(chat))
    emu.send_dice(chat)
    answer = wired.wait_messages(chat, seen + 1)[-1]["text"]
    assert "не может передать" in answer and "текстом" in answer
    assert _incoming(wired, chat) == []  # nothing for the staff

    sent = emu.send_video(chat, b"\x00\x00\x00\x18ftypmp42clip", caption="до")
    wired.pump(lambda: len(_incoming(wired, chat)) == 1)
    emu.edit_user_caption(chat, sent["message"]["message_id"], "после")
    wired.pump(lambda: _incoming(wired, chat)[0].edited_at is not None)
    assert _incoming(wired, chat)[0].text == "после"

    # The menu button is not a question and is not filed; edited into words, it is one.
    label = emu.send_text(chat, "💬 Написать в клинику")
    wired.pump(lambda: len(emu.messages(chat)) >= seen + 3)
    assert len(_incoming(wired, chat)) == 1
    emu.edit_user_text(chat, label["message"]["message_id"], "Можно перенести на пятницу?")
    wired.pump(lambda: len(_incoming(wired, chat)) == 2)
    edited = _incoming(wired, chat)[1]
    assert edited.text == "Можно перенести на пятницу?" and edited.edited_at is not None
    _no_failures(wired, caplog)


def test_a_sticker_a_location_and_a_video_in_either_messenger(
    phone: Phone, caplog: pytest.LogCaptureFixture
) -> None:
    wired = phone.world
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    video = b"\x00\x00\x00\x18ftypmp42video"
    phone.send_sticker(chat)
    phone.send_location(chat, 55.751244, 37.618423)
    phone.send_video(chat, video, caption="как я хожу")
    wired.pump(
        lambda: (
            len(_incoming(wired, chat)) == 3
            and _incoming(wired, chat)[2].file_state == "stored"
            and len(phone.messages(chat)) >= seen + 1
        )
    )
    sticker, location, clip = _incoming(wired, chat)
    assert (sticker.kind, location.kind, clip.kind) == ("sticker", "location", "video")
    assert sticker.file_id == "" and sticker.file_state in ("", None)  # nothing to fetch
    assert location.text == "55.751244, 37.618423"
    assert clip.text == "как я хожу" and clip.mime_type == "video/mp4"
    with wired.appliance.factory() as s:
        (task,) = s.scalars(select(Task).where(Task.kind == "message")).all()
        assert task.message_count == 3 and "стикер" in task.text
    replies = phone.messages(chat)[seen:]
    assert len(replies) == 1 and "ответим" in replies[0].text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    stored = MaxUpdate if isinstance(phone, MaxPhoneDriver) else TelegramUpdate
    with wired.appliance.factory() as s:
        assert s.scalars(select(stored.error).where(stored.error != "")).all() == []
    if isinstance(phone, MaxPhoneDriver):
        assert phone.emu.schema_errors == []
