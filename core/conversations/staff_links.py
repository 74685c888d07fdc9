"""Staff members' Telegram accounts, linked to their panel users with a one-time code.

The panel shows a code (valid LINK_CODE_MINUTES, once); the staff member sends it to the
bot (`/link CODE`, in a private chat or the staff group), and from then on their presses
and replies in the staff group act as that panel user. Nobody else's do.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.conversations.models import StaffTelegram
from core.models import StaffUser

LINK_CODE_MINUTES = 15
# No 0/O, 1/I/L: the code is read off a screen and typed on a phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_LENGTH = 8  # 31**8 ≈ 8.5e11: guessing one within 15 minutes is out of reach


def _digest(code: str) -> str:
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def _row(session: Session, user: StaffUser) -> StaffTelegram:
    row = session.get(StaffTelegram, user.id)
    if row is None:
        row = StaffTelegram(staff_user_id=user.id, telegram_name="", code_hash="")
        session.add(row)
    return row


def new_code(session: Session, user: StaffUser, now: datetime) -> str:
    """A fresh code for ``user`` ("7KQ2-M9XD"); any earlier one stops working."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
    row = _row(session, user)
    row.code_hash = _digest(raw)
    row.code_expires_at = now + timedelta(minutes=LINK_CODE_MINUTES)
    session.flush()
    return f"{raw[:4]}-{raw[4:]}"


def redeem(
    session: Session, code: str, telegram_user_id: int, telegram_name: str, now: datetime
) -> StaffUser | None:
    """Link the Telegram account to the code's user; None for a wrong, used or old code.

    A Telegram account belongs to one panel user: linking it again moves it.
    """
    if not code.strip():
        return None
    row = session.scalar(
        select(StaffTelegram).where(
            StaffTelegram.code_hash == _digest(code), StaffTelegram.code_expires_at > now
        )
    )
    user = session.get(StaffUser, row.staff_user_id) if row is not None else None
    if row is None or user is None or not user.active:
        return None
    session.execute(
        update(StaffTelegram)
        .where(
            StaffTelegram.telegram_user_id == telegram_user_id,
            StaffTelegram.staff_user_id != user.id,
        )
        .values(telegram_user_id=None, linked_at=None, telegram_name="")
    )
    session.flush()
    row.telegram_user_id = telegram_user_id
    row.telegram_name = telegram_name[:200]
    row.linked_at = now
    row.code_hash = ""
    row.code_expires_at = None
    session.flush()
    return user


def staff_for(session: Session, telegram_user_id: int) -> StaffUser | None:
    """The active panel user this Telegram account is linked to."""
    user = session.scalar(
        select(StaffUser)
        .join(StaffTelegram, StaffTelegram.staff_user_id == StaffUser.id)
        .where(StaffTelegram.telegram_user_id == telegram_user_id)
    )
    return user if user is not None and user.active else None


def link_of(session: Session, user: StaffUser) -> StaffTelegram | None:
    row = session.get(StaffTelegram, user.id)
    return row if row is not None and row.telegram_user_id is not None else None


def unlink(session: Session, user: StaffUser) -> None:
    row = session.get(StaffTelegram, user.id)
    if row is not None:
        row.telegram_user_id, row.linked_at, row.telegram_name = None, None, ""


def managers_to_ping(session: Session) -> list[tuple[str, int]]:
    """(name, Telegram id) of linked owners and managers: whom an escalation alerts."""
    rows = session.execute(
        select(StaffUser.full_name, StaffUser.login, StaffTelegram.telegram_user_id)
        .join(StaffTelegram, StaffTelegram.staff_user_id == StaffUser.id)
        .where(
            StaffUser.active.is_(True),
            StaffUser.role.in_(("owner", "manager")),
            StaffTelegram.telegram_user_id.is_not(None),
        )
        .order_by(StaffUser.id)
    ).all()
    return [(full or login, int(tg)) for full, login, tg in rows if tg is not None]


def display_name(user: StaffUser) -> str:
    return user.full_name or user.login
