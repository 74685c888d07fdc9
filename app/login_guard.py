"""The login rate limit and temporary lockout, per account and per address.

Built on `limits` (the engine of Flask-Limiter, by the same maintainers) with its moving
window: `login_attempts` failed logins for one login name within `login_lockout_minutes`
lock that name, `login_attempts_per_address` lock the address, until the oldest failure
leaves the window. Flask-Limiter itself counts a route's requests; a lockout must count
failures only and check two keys before the password is verified, so the view asks
`limits` directly. A login name is counted whether or not it exists: the lockout tells
nobody which logins are real. Counters live in the web process (one by default, see
web.workers); a restart clears them, which a temporary lockout may.
"""

from __future__ import annotations

import math

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from core.clock import Clock, utcnow
from core.config import WebConfig


class LoginGuard:
    def __init__(self, web: WebConfig, clock: Clock = utcnow) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._clock = clock
        minutes = web.login_lockout_minutes
        self._limits: tuple[tuple[str, RateLimitItem], ...] = (
            ("account", RateLimitItemPerMinute(web.login_attempts, minutes, "kabinet-login")),
            (
                "address",
                RateLimitItemPerMinute(web.login_attempts_per_address, minutes, "kabinet-login"),
            ),
        )

    def _keys(self, login: str, address: str) -> tuple[tuple[str, RateLimitItem, str], ...]:
        values = {"account": login, "address": address}
        return tuple((kind, item, values[kind]) for kind, item in self._limits)

    def locked_for(self, login: str, address: str) -> int:
        """Seconds until this login from this address may be tried again (0: now)."""
        wait = 0.0
        now = self._clock().timestamp()
        for kind, item, value in self._keys(login, address):
            if not self._limiter.test(item, kind, value):
                reset, _ = self._limiter.get_window_stats(item, kind, value)
                wait = max(wait, reset - now, 1.0)
        return math.ceil(wait)

    def failed(self, login: str, address: str) -> None:
        for kind, item, value in self._keys(login, address):
            self._limiter.hit(item, kind, value)
