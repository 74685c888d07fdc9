"""Staff accounts for the panel: owners and administrators."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.models import StaffUser

ROLES = ("owner", "admin")


def create_user(
    session: Session, login: str, role: str, password: str | None = None, full_name: str = ""
) -> tuple[StaffUser, str]:
    """Create a staff user; returns it with the password (generated when not given)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    login = login.strip().lower()
    if not login:
        raise ValueError("login must not be empty")
    if session.scalar(select(StaffUser).where(StaffUser.login == login)) is not None:
        raise ValueError(f"a user named {login!r} already exists")
    password = password or secrets.token_urlsafe(9)
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    user = StaffUser(
        login=login, role=role, password_hash=generate_password_hash(password), full_name=full_name
    )
    session.add(user)
    session.flush()
    # The staff member's /start link for the connections contest (Бонусы), made now so that
    # showing the leaderboard never has to write.
    from core.loyalty.referrals import ensure_code

    ensure_code(session, "staff", str(user.id))
    return user, password


def authenticate(session: Session, login: str, password: str) -> StaffUser | None:
    user = session.scalar(select(StaffUser).where(StaffUser.login == login.strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def has_users(session: Session) -> bool:
    return session.scalar(select(StaffUser.id).limit(1)) is not None
