"""Tables of panel access: who is logged in where, and what the staff changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class StaffSession(Base):
    """One login of one staff member on one browser.

    The cookie carries only a random token; the row holds its SHA-256, so a copy of the
    store (a backup) opens no session. A session lives while its row is open: logout,
    deactivation, a password reset or the idle timeout close it, and a cookie copied
    before that opens nothing after it.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # logout | idle | expired | deactivated | password
    ended_reason: Mapped[str] = mapped_column(String(16), default="")


class AuditEntry(Base):
    """One change made through the panel: who, what, the rows before and after, when.

    `changes` is a list of {"table", "id", "op", "before", "after"}; `before`/`after`
    hold only the columns that changed (all of them for an insert or a delete).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Not a foreign key: the record outlives the account.
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    user_login: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    # The panel action: the endpoint ("loyalty.spend") or an event ("auth.login_failed").
    action: Mapped[str] = mapped_column(String(64), index=True)
    summary: Mapped[str] = mapped_column(String(300), default="")
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class LoginFailure(Base):
    """One failed panel login, counted once for its login name and once for its address.

    The login lockout (app/login_guard.py) reads these rows, so every web worker sees the
    same failures and a restart forgets none. `value` is a keyed hash of the login or the
    address, never the text: see app/login_guard.py for why.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        # The lockout's one question: this key's failures since the window's start.
        Index("ix_login_failures_kind_value_at", "kind", "value", "at"),
        # The clean-up's: every failure older than the window, whatever its key.
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # account | address
    value: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256, hex
    at: Mapped[datetime] = mapped_column(UTCDateTime)
