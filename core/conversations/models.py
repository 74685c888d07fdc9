"""The thread tables. Episodes are rows of `tasks` (core.models.Task.conversation_id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class Conversation(Base):
    """One per patient chat (subscriber), kept forever."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ThreadMessage(Base):
    """One line of a thread: something the patient sent (direction "in"), an event that
    happened in the chat ("event": a button pressed, a task opened), or what the clinic
    sent ("out": a staff reply with its author, or a bot notice).

    `outbox_id` names the outbox row that carries an outgoing line, for its delivery state.
    It is not a foreign key: the outbox forgets settled rows after messaging.keep_days,
    the thread never does.
    """

    __tablename__ = "thread_messages"
    __table_args__ = (Index("ix_thread_messages_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out | event
    # text, photo, document, voice, audio, video, video_note, sticker, contact, location,
    # event, reply (staff), notice (bot)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    # For events: reschedule, service_recovery, unknown_patient, no_show, confirmed, ...
    event: Mapped[str] = mapped_column(String(40), default="")
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The chat the line came by or went to: a person in Telegram and MAX has one thread,
    # each line in its messenger. None on lines made before that: the thread's own chat.
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    author: Mapped[str] = mapped_column(String(100), default="")
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    # Files: Telegram's id, what we know of it, and where it is kept under the data
    # directory once downloaded. file_state: "" (no file), pending, stored, too_big, failed.
    file_id: Mapped[str] = mapped_column(String(200), default="")
    file_name: Mapped[str] = mapped_column(String(255), default="")
    mime_type: Mapped[str] = mapped_column(String(100), default="")
    file_size: Mapped[int | None] = mapped_column(Integer)
    file_path: Mapped[str] = mapped_column(String(500), default="")
    file_state: Mapped[str] = mapped_column(String(16), default="", index=True)
    file_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffPost(Base):
    """An episode's one message in the staff group, edited in place as the thread grows.

    The message is the outbox row keyed "task:<id>:announce"; its Telegram id is copied
    here once sent (the outbox forgets rows, a reply to an old post must still find its
    task). `dirty`: the post shows less than the thread holds and no edit is queued yet
    (the announcement was on the wire); the runner's staff_posts job catches up.
    `shown`: a digest of the text and buttons last queued, so an edit that would change
    nothing is never sent. `told_upto`: the last staff reply line whose failed delivery
    was reported to the group.
    """

    __tablename__ = "staff_posts"
    __table_args__ = (Index("ix_staff_posts_message", "chat_id", "message_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    dirty: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    edits: Mapped[int] = mapped_column(Integer, default=0)
    last_edit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shown: Mapped[str] = mapped_column(String(64), default="")
    told_upto: Mapped[int] = mapped_column(Integer, default=0)


class StaffTelegram(Base):
    """A panel user's Telegram account, linked with a one-time code shown in the panel.

    Only the code's SHA-256 is kept; it is good for LINK_CODE_MINUTES and once.
    """

    __tablename__ = "staff_telegram"

    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_name: Mapped[str] = mapped_column(String(200), default="")
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
