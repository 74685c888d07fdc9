"""A pressed button counts only if the bot put that very button on that message in that chat.

Button data comes from the client, and a modified client can send any data for any message
it can see, in any chat (telegram.md). Every message with buttons leaves through the outbox,
which keeps, per row, the chat, the message id the messenger gave it (or the message it
edited) and the keyboard it carried. So the press is looked up there: its data must be on a
keyboard the outbox put on this message of this chat. A replay in another chat or in a
group, or data no keyboard ever carried, is refused by the router with an explanation;
an old button of the message (one since removed) goes on to its flow, which answers with the
state as it is now ("already answered", "not for you").

Kept as long as the outbox keeps its rows (messaging.keep_days, 90 by default): a button
older than that is refused, politely, like a forged one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.models import OutboxMessage

# States in which a message may be on the person's screen (`sending`: the answer naming its
# id can arrive just after a quick press; `unknown` edits keep the id they edited).
_SHOWN = ("sent", "sending", "unknown")


def _callback_data(markup: dict[str, Any] | None) -> Iterable[str]:
    for row in (markup or {}).get("inline_keyboard") or []:
        for button in row:
            data = button.get("callback_data")
            if data:
                yield str(data)


def offered(session: Session, channel: str, chat_id: int, message_id: int, data: str) -> bool:
    """Did a keyboard the outbox sent to (chat_id, message_id) carry `data`?"""
    if not message_id or not data:
        return False
    markups = session.scalars(
        select(OutboxMessage.reply_markup).where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.state.in_(_SHOWN),
            or_(
                OutboxMessage.telegram_message_id == message_id,
                OutboxMessage.edit_message_id == message_id,
                # In flight: the messenger shows a message before its answer naming the id
                # reaches the dispatcher, and a quick press can come in between. The data
                # must still be on a keyboard going to this very chat.
                and_(
                    OutboxMessage.state == "sending",
                    OutboxMessage.telegram_message_id.is_(None),
                    OutboxMessage.edit_message_id.is_(None),
                ),
            ),
        )
    )
    return any(data in set(_callback_data(markup)) for markup in markups)
