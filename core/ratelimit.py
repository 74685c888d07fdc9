"""The overall pacing that keeps Kabinet under Telegram's limits instead of tripping them.

Per-chat pacing lives in the dispatcher (jobs/dispatcher.py), which knows when each
chat's previous message was answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Spacer:
    """At most one event per `interval` seconds, evenly spaced.

    Evenly spaced rather than bursty: Telegram counts over a sliding window, so a burst
    allowed by a bucket refill can still land two sends inside one window.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        slack: float = 0.0,
    ) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        # A take up to `slack` seconds late keeps the schedule on its grid instead of
        # starting a new one from now: waking a sleeping thread costs ~0.4 ms, and at 30
        # a second that lateness, lost on every send, added up to 1 % of the throughput.
        # Two sends can then be `interval - slack` apart, never closer.
        self.slack = slack
        self.next_at = 0.0
        self.lost_seconds = 0.0
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        return max(0.0, self.next_at - self.clock())

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            if now < self.next_at:
                return False
            late = now - self.next_at
            on_grid = late <= self.slack
            if not on_grid and late < 1.0:
                # Time the schedule lost while there was work (a longer gap is idleness):
                # the dispatcher's progress line shows it, to tell a slow sender from a
                # slow pace.
                self.lost_seconds += late
            self.next_at = (self.next_at if on_grid else now) + self.interval
            return True


class AdaptiveSpacer(Spacer):
    """A Spacer that slows down when told it was too fast, and speeds up again slowly.

    Telegram's count and our schedule disagree by the jitter of each request: a loaded
    machine can hold a request back ~20 ms, enough for it to land in the same second as
    the 30th after it. Each 429 widens the spacing by `step` (up to `max_slowdown`);
    after `calm` seconds without one it narrows by half a step, back to the configured
    rate. A few percent slower doubles the slack per request.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        slack: float = 0.0,
        step: float = 0.01,
        max_slowdown: float = 0.05,
        calm: float = 30.0,
    ) -> None:
        super().__init__(per_second, clock, slack=slack)
        self.base = self.interval
        self.step = step
        self.max_interval = self.base * (1 + max_slowdown)
        self.calm = calm
        self._last_push = -1e9
        self._last_relax = -1e9

    def too_fast(self) -> None:
        with self._lock:
            self.interval = min(self.interval * (1 + self.step), self.max_interval)
            self._last_push = self.clock()

    def relax(self) -> None:
        """Call now and then: back toward the configured rate once things are calm."""
        with self._lock:
            now = self.clock()
            if self.interval <= self.base or now - self._last_push < self.calm:
                return
            if now - self._last_relax < self.calm / 3:
                return
            self.interval = max(self.base, self.interval / (1 + self.step / 2))
            self._last_relax = now

    @property
    def per_second(self) -> float:
        return 1.0 / self.interval
