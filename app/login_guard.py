"""The login rate limit and temporary lockout, per account and per address.

A moving window: `login_attempts` failed logins for one login name within
`login_lockout_minutes` lock that name, `login_attempts_per_address` lock the address,
until the oldest of those failures leaves the window. A lockout counts failures only and
checks two keys before the password is verified, so the view asks the guard itself rather
than a per-route request limit (Flask-Limiter). A login name is counted whether or not it
exists: the lockout tells nobody which logins are real.

The failures are rows of the appliance's store (core.access.models.LoginFailure), not
counters in a web process: every web worker (web.workers, up to 16) sees the same ones, so
an attacker gets `login_attempts`, not workers × `login_attempts`, and a restart clears
nothing. The guard writes them on a session of its own, committed at once: a failure counts
whatever becomes of the request's transaction, and the panel's audit hook (which listens
on the request's session) does not log the guard's bookkeeping as a staff change.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core.access.models import LoginFailure
from core.clock import Clock, utcnow
from core.config import WebConfig


class LoginGuard:
    def __init__(
        self,
        web: WebConfig,
        sessions: Callable[[], Session],
        key: str | bytes,
        clock: Clock = utcnow,
    ) -> None:
        """`sessions` opens a session on the store; `key` is the app's secret key."""
        self._sessions = sessions
        self._key = key.encode() if isinstance(key, str) else key
        self._clock = clock
        self._window = timedelta(minutes=web.login_lockout_minutes)
        self._limits = {"account": web.login_attempts, "address": web.login_attempts_per_address}

    def _digest(self, kind: str, value: str) -> str:
        # A keyed hash, not the text: the table would otherwise be a list of the addresses
        # staff log in from and of what was typed as a login, which is now and then a
        # password typed into the wrong field; backups and copies of the store keep it.
        # Keyed (HMAC with the app's secret key), because a plain hash of an IPv4 address or
        # a short login is undone by trying them all. A new secret key only forgets the
        # current window's failures, which a temporary lockout may.
        return hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def _keys(self, login: str, address: str) -> tuple[tuple[str, str], ...]:
        return (
            ("account", self._digest("account", login)),
            ("address", self._digest("address", address)),
        )

    def locked_for(self, login: str, address: str) -> int:
        """Seconds until this login from this address may be tried again (0: now)."""
        now = self._clock()
        start = now - self._window
        wait = 0.0
        with self._sessions() as session:
            for kind, value in self._keys(login, address):
                # The limit-th newest failure in the window: while it is inside, so are
                # `limit` failures; the key opens when it leaves. (Two workers failing at
                # once may leave more than `limit`: this is still when fewer remain.)
                nth = session.scalar(
                    select(LoginFailure.at)
                    .where(
                        LoginFailure.kind == kind,
                        LoginFailure.value == value,
                        LoginFailure.at > start,
                    )
                    .order_by(LoginFailure.at.desc(), LoginFailure.id.desc())
                    .offset(self._limits[kind] - 1)
                    .limit(1)
                )
                if nth is not None:
                    wait = max(wait, (nth + self._window - now).total_seconds(), 1.0)
        return math.ceil(wait)

    def failed(self, login: str, address: str) -> None:
        now = self._clock()
        with self._sessions() as session:
            # Failures that left the window count for nothing: gone here, so the table
            # holds one window's failures, however long the appliance runs.
            session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self._window))
            session.execute(
                insert(LoginFailure),
                [
                    {"kind": kind, "value": value, "at": now}
                    for kind, value in self._keys(login, address)
                ],
            )
            session.commit()
