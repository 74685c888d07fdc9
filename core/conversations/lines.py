"""Adding lines to a thread; the low level that core.tasks and core.conversations.threads
share (so neither imports the other)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.conversations.models import Conversation, ThreadMessage
from core.models import Subscriber


def conversation_for(session: Session, sub: Subscriber) -> Conversation:
    """The subscriber's one conversation, created at their first line."""
    conv = session.scalar(select(Conversation).where(Conversation.subscriber_id == sub.id))
    if conv is None:
        conv = Conversation(subscriber_id=sub.id, chat_id=sub.chat_id)
        session.add(conv)
        session.flush()
    return conv


def add_line(
    session: Session,
    conv: Conversation,
    *,
    direction: str,
    kind: str,
    text: str = "",
    task_id: int | None = None,
    **fields: Any,
) -> ThreadMessage:
    now = utcnow()
    line = ThreadMessage(
        conversation_id=conv.id,
        direction=direction,
        kind=kind,
        text=text,
        task_id=task_id,
        created_at=now,
        **fields,
    )
    session.add(line)
    conv.last_message_at = now
    session.flush()
    return line


def record_event(
    session: Session, sub: Subscriber, event: str, text: str, task_id: int | None = None
) -> ThreadMessage:
    """Something that happened in the chat: a button pressed, a task opened for it."""
    conv = conversation_for(session, sub)
    return add_line(
        session, conv, direction="event", kind="event", event=event, text=text, task_id=task_id
    )
