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
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        return max(0.0, self.next_at - self.clock())

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            if now < self.next_at:
                return False
            on_grid = now - self.next_at <= self.slack
            self.next_at = (self.next_at if on_grid else now) + self.interval
            return True
