"""The queue of writes back to the MIS: one row per confirmation to write (core.visits.
confirm_writeback). Durable, so a write the MIS refused now is tried again later, and keyed
by the visit and its time, so one confirmation is never written twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class MisWriteback(Base):
    __tablename__ = "mis_writebacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "confirm:<visit mis_id>:<starts_at ISO>": a visit moved and confirmed again is a new row.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="confirm")
    appointment_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending | done | failed (shown to the staff as a task) | dropped (no longer to write)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # the MIS column written, as the profile named it when it was written
    column: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderReach(Base):
    """That a reminder reached a visit, kept after the outbox forgets the message itself
    (messaging.keep_days), so «Отчёты → Подтверждение визитов» can count older periods.
    Only the visit's MIS id, whether a messenger (not only SMS) carried it, and when:
    no text, no chat, nothing about the patient."""

    __tablename__ = "reminder_reach"

    appointment_mis_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    messenger: Mapped[bool] = mapped_column(Boolean, default=False)
    first_sent_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
