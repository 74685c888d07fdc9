"""Staff accounts for the panel: owners, managers and administrators."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import sessions
from core.access.passwords import hash_password, verify
from core.clock import Clock, utcnow
from core.models import StaffUser

# What each role may do is app/permissions.py's one table; here only the names.
ROLES = ("owner", "manager", "admin")
ROLE_LABELS = {"owner": "владелец", "manager": "управляющий", "admin": "администратор"}
MIN_PASSWORD = 8


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")


def create_user(
    session: Session, login: str, role: str, password: str | None = None, full_name: str = ""
) -> tuple[StaffUser, str]:
    """Create a staff user; returns it with the password (generated when not given)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    login = login.strip().lower()
    if not login:
        raise ValueError("login must not be empty")
    if len(login) > 64:
        raise ValueError("login must be at most 64 characters")
    if session.scalar(select(StaffUser).where(StaffUser.login == login)) is not None:
        raise ValueError(f"a user named {login!r} already exists")
    password = password or secrets.token_urlsafe(9)
    _check_password(password)
    user = StaffUser(
        login=login, role=role, password_hash=hash_password(password), full_name=full_name
    )
    session.add(user)
    session.flush()
    # The staff member's /start link for the connections contest (Бонусы), made now so that
    # showing the leaderboard never has to write.
    from core.loyalty.referrals import ensure_code

    ensure_code(session, "staff", str(user.id))
    return user, password


def authenticate(
    session: Session, login: str, password: str, clock: Clock = utcnow
) -> StaffUser | None:
    """The active user with this login and password, else None.

    An unknown or deactivated login costs the same hashing work as a wrong password.
    A hash of an earlier scheme (or weaker argon2 parameters) is replaced on success.
    """
    user = session.scalar(select(StaffUser).where(StaffUser.login == login.strip().lower()))
    usable = user is not None and user.active
    matches, stale = verify(user.password_hash if usable and user else None, password)
    if not matches or user is None:
        return None
    if stale:
        user.password_hash = hash_password(password)
    user.last_login_at = clock()
    return user


def set_password(
    session: Session, user: StaffUser, password: str | None = None, clock: Clock = utcnow
) -> str:
    """A new password (generated when not given); every open session of the user ends."""
    password = password or secrets.token_urlsafe(9)
    _check_password(password)
    user.password_hash = hash_password(password)
    sessions.end_all(session, user.id, "password", clock)
    return password


def set_active(session: Session, user: StaffUser, active: bool, clock: Clock = utcnow) -> None:
    """Deactivating ends the user's sessions at once; the account and its history stay."""
    if not active and user.role == "owner" and user.active:
        others = session.scalar(
            select(StaffUser.id).where(
                StaffUser.role == "owner", StaffUser.active.is_(True), StaffUser.id != user.id
            )
        )
        if others is None:
            raise ValueError("the last active owner cannot be deactivated")
    user.active = active
    if not active:
        sessions.end_all(session, user.id, "deactivated", clock)


def has_users(session: Session) -> bool:
    return session.scalar(select(StaffUser.id).limit(1)) is not None
