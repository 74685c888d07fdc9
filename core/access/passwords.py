"""Password hashes: argon2id (argon2-cffi), with the werkzeug hashes of earlier releases
still accepted once and replaced at that login."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3, 64 MiB, p=4):
# a fraction of a second a login on a small server, and beyond the reach of a GPU farm.
_hasher = PasswordHasher()
# Verified when the login is unknown, so an unknown login costs the same work as a wrong
# password and the answer's timing tells nobody which logins exist.
_dummy = _hasher.hash("kabinet: no such user")


def configure(hasher: PasswordHasher) -> None:
    """Use other argon2 parameters (the test suite's cheap ones); the dummy hash follows,
    so an unknown login still costs what a real one does."""
    global _hasher, _dummy
    _hasher, _dummy = hasher, hasher.hash("kabinet: no such user")


def hasher() -> PasswordHasher:
    return _hasher


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs a new hash). `stored` None: an unknown login, checked against a
    dummy hash so that it takes as long as a real one."""
    if stored is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy, password)
        return False, False
    if not stored.startswith("$argon2"):
        # scrypt/pbkdf2 from werkzeug (earlier releases): accepted once, then replaced.
        try:
            return check_password_hash(stored, password), True
        except ValueError:  # an unreadable hash refuses, never crashes the login
            return False, False
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(stored)
