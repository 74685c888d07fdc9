"""A press counts only for a button the outbox put on that message in that chat — also
while the message is still in flight (shown by the messenger, its id not yet recorded)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot_handlers.channels.buttons import offered
from core.db import transaction
from core.outbox import PRIORITY_NOTICE, enqueue

KEYBOARD = {"inline_keyboard": [[{"text": "Да", "callback_data": "cs:yes:1"}]]}


def _row(factory: sessionmaker[Session], chat: int, state: str, message_id: int | None) -> None:
    with transaction(factory) as s:
        row = enqueue(
            s,
            key=f"k:{chat}:{state}",
            chat_id=chat,
            text="Согласие",
            kind="text",
            priority=PRIORITY_NOTICE,
            reply_markup=KEYBOARD,
        )
        assert row is not None
        row.state, row.telegram_message_id = state, message_id


def test_a_sent_keyboard_counts_on_its_own_message_only(factory: sessionmaker[Session]) -> None:
    _row(factory, 1, "sent", 7)
    with factory() as s:
        assert offered(s, "telegram", 1, 7, "cs:yes:1")
        assert not offered(s, "telegram", 1, 8, "cs:yes:1")  # another message
        assert not offered(s, "telegram", 2, 7, "cs:yes:1")  # another chat
        assert not offered(s, "max", 1, 7, "cs:yes:1")  # another messenger
        assert not offered(s, "telegram", 1, 7, "cs:no")  # data it never carried


def test_a_quick_press_on_a_message_still_in_flight_counts(factory: sessionmaker[Session]) -> None:
    _row(factory, 1, "sending", None)
    with factory() as s:
        assert offered(s, "telegram", 1, 41, "cs:yes:1")
        assert not offered(s, "telegram", 2, 41, "cs:yes:1")
        assert not offered(s, "telegram", 1, 41, "cs:no")
    _row(factory, 3, "pending", None)  # not sent yet: nothing on the screen to press
    with factory() as s:
        assert not offered(s, "telegram", 3, 41, "cs:yes:1")
