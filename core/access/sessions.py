"""Server-side staff sessions: opened at login, closed by logout, deactivation, a password
reset, the idle timeout or the absolute lifetime."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.access.models import StaffSession
from core.clock import Clock, utcnow
from core.models import StaffUser

# last_seen_at is written at most this often: a page view is then not a write to the
# store every time, and the idle timeout is still exact to within a minute.
TOUCH_EVERY = timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session,
    user: StaffUser,
    address: str = "",
    user_agent: str = "",
    clock: Clock = utcnow,
) -> str:
    """A new session for `user`; returns the token for the cookie (never stored as is)."""
    token = secrets.token_urlsafe(32)
    now = clock()
    session.add(
        StaffSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            address=address[:64],
            user_agent=user_agent[:200],
        )
    )
    session.flush()
    return token


def resume(
    session: Session,
    token: str,
    idle: timedelta,
    lifetime: timedelta,
    clock: Clock = utcnow,
    touch: bool = True,
) -> tuple[StaffUser, StaffSession] | None:
    """The user and session of a cookie's token if it is still open; an idle or outlived
    session is closed here, so it stays closed whatever the clock does next. ``touch``
    False (a page's own background poll): the request does not count as activity, so a
    tab left open on the inbox still ends at the idle timeout."""
    row = session.scalar(
        select(StaffSession).where(
            StaffSession.token_hash == _digest(token), StaffSession.ended_at.is_(None)
        )
    )
    if row is None:
        return None
    now = clock()
    reason = ""
    if now - row.last_seen_at > idle:
        reason = "idle"
    elif now - row.created_at > lifetime:
        reason = "expired"
    user = session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        reason = reason or "deactivated"
    if reason or user is None:
        row.ended_at, row.ended_reason = now, reason or "deactivated"
        session.commit()
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return user, row


def end_session(
    session: Session, token: str, reason: str = "logout", clock: Clock = utcnow
) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == _digest(token), StaffSession.ended_at.is_(None))
        .values(ended_at=clock(), ended_reason=reason)
    )


def end_all(session: Session, user_id: int, reason: str, clock: Clock = utcnow) -> int:
    """Close every open session of a user (deactivated, password reset); returns how many."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=clock(), ended_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_count(session: Session, user_id: int, since: datetime) -> int:
    """Open sessions of a user seen since `since` (the idle cut-off)."""
    rows = session.scalars(
        select(StaffSession.id).where(
            StaffSession.user_id == user_id,
            StaffSession.ended_at.is_(None),
            StaffSession.last_seen_at >= since,
        )
    )
    return len(list(rows))
