"""The durable outbox: every outgoing message is a row before it is a request.

Handlers and rules only enqueue; the dispatcher (jobs/dispatcher.py) sends. The key makes
enqueueing idempotent ("reminder:<appointment>:<starts_at>"), so a rule that runs twice, or
a restart in the middle of one, cannot send a patient the same message twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import OutboxMessage, Subscriber

PRIORITY_REPLY = 0  # an answer to something the patient just did
PRIORITY_STAFF = 5  # tasks to the staff group
PRIORITY_NOTICE = 10  # reminders, "you are booked", bonus notices
PRIORITY_CAMPAIGN = 50


def enqueue(
    session: Session,
    *,
    key: str,
    chat_id: int,
    text: str,
    kind: str,
    priority: int = PRIORITY_NOTICE,
    reply_markup: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    respect_quiet_hours: bool = True,
    edit_message_id: int | None = None,
    parse_mode: str = "",
) -> OutboxMessage | None:
    """Add a message unless one with this key exists; returns the new row or None."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return None
    message = OutboxMessage(
        key=key,
        chat_id=chat_id,
        text=text,
        kind=kind,
        priority=priority,
        reply_markup=reply_markup,
        due_at=due_at or utcnow(),
        respect_quiet_hours=respect_quiet_hours,
        edit_message_id=edit_message_id,
        parse_mode=parse_mode,
        state="pending",
    )
    session.add(message)
    session.flush()
    return message


def inline_keyboard(rows: list[list[tuple[str, str]]]) -> dict[str, Any]:
    """[[(text, callback_data), ...], ...] -> Telegram InlineKeyboardMarkup as a dict."""
    for row in rows:
        for _, data in row:
            if len(data.encode()) > 64:
                raise ValueError(f"callback data {data!r} exceeds Telegram's 64 bytes")
    return {
        "inline_keyboard": [
            [{"text": text, "callback_data": data} for text, data in row] for row in rows
        ]
    }


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    def next_allowed(self, now: datetime) -> datetime | None:
        """None if ``now`` is outside quiet hours, else when they end (aware, UTC-comparable)."""
        local = now.astimezone(self.tz)
        t = local.time()
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= t < self.end
        else:  # spans midnight, e.g. 21:00 -> 09:00
            inside = t >= self.start or t < self.end
        if not inside:
            return None
        end_day = local.date()
        if self.start > self.end and t >= self.start:
            end_day += timedelta(days=1)
        return datetime.combine(end_day, self.end, tzinfo=self.tz)


def claim_due(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    """Pending messages that are due, most urgent first. Claiming happens per message."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.due_at <= now)
            .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
        )
    )


def mark_claimed(session: Session, message_id: int, now: datetime) -> bool:
    """Atomic pending -> sending; False if someone else took it or it was cancelled."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recover_stale(session: Session, older_than: datetime) -> int:
    """Messages left 'sending' by a crash go back to pending."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "sending", OutboxMessage.claimed_at < older_than)
        .values(state="pending", last_error="recovered after an interrupted send")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_unreachable(session: Session, chat_id: int, reason: str, now: datetime) -> None:
    """A 403 is final: the patient blocked the bot. Stop everything queued for them."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == chat_id, Subscriber.unreachable_at.is_(None))
        .values(unreachable_at=now, unreachable_reason=reason[:200])
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == chat_id, OutboxMessage.state.in_(("pending", "sending")))
        .values(state="unreachable", last_error=reason)
    )
