"""Adding lines to a thread; the low level that core.tasks and core.conversations.threads
share (so neither imports the other)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.conversations.models import Conversation, ThreadMessage
from core.models import Subscriber, Task
from core.patients.persons import person_chats


def conversation_for(session: Session, sub: Subscriber) -> Conversation:
    """The person's one conversation, created at their first line.

    A person in Telegram and in MAX (one proven number) has one thread: a chat linked
    later writes into the thread of the one linked first, and two threads begun apart
    (each chat wrote before the second was linked) become one here, the older keeping
    everything in order of the lines' ids.
    """
    chats = person_chats(session, sub)
    convs = list(
        session.scalars(
            select(Conversation)
            .where(Conversation.subscriber_id.in_([c.id for c in chats]))
            .order_by(Conversation.id)
        )
    )
    if not convs:
        conv = Conversation(subscriber_id=sub.id, chat_id=sub.chat_id)
        session.add(conv)
        session.flush()
        return conv
    keep = convs[0]
    for other in convs[1:]:
        _merge(session, keep, other)
    return keep


def _merge(session: Session, keep: Conversation, gone: Conversation) -> None:
    session.flush()
    # Lines made before lines named their chat are the thread's own chat's: named now,
    # as they move, so the panel still shows the messenger they came by.
    session.execute(
        update(ThreadMessage)
        .where(ThreadMessage.conversation_id == gone.id, ThreadMessage.subscriber_id.is_(None))
        .values(subscriber_id=gone.subscriber_id)
    )
    session.execute(
        update(ThreadMessage)
        .where(ThreadMessage.conversation_id == gone.id)
        .values(conversation_id=keep.id)
    )
    session.execute(
        update(Task).where(Task.conversation_id == gone.id).values(conversation_id=keep.id)
    )
    # Lines of the thread kept made before this: they are its own chat's.
    session.execute(
        update(ThreadMessage)
        .where(ThreadMessage.conversation_id == keep.id, ThreadMessage.subscriber_id.is_(None))
        .values(subscriber_id=keep.subscriber_id)
    )
    keep.last_message_at = max(keep.last_message_at, gone.last_message_at)
    session.delete(gone)
    session.flush()


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
        session,
        conv,
        direction="event",
        kind="event",
        event=event,
        text=text,
        task_id=task_id,
        subscriber_id=sub.id,
    )
