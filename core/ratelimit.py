"""Token buckets that keep Kabinet under Telegram's limits instead of tripping them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Spacer:
    """At most one event per `interval` seconds, evenly spaced.

    Evenly spaced rather than bursty: Telegram counts over a sliding window, so a burst
    allowed by a bucket refill can still land two sends inside one window.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self.next_at = 0.0
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        return max(0.0, self.next_at - self.clock())

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            if now < self.next_at:
                return False
            self.next_at = max(now, self.next_at) + self.interval
            return True


class PerKeySpacer:
    """One Spacer per chat, created on first use and forgotten when idle."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._spacers: dict[int, Spacer] = {}

    def ready(self, key: int) -> bool:
        spacer = self._spacers.get(key)
        return spacer is None or spacer.wait_time() == 0.0

    def take(self, key: int) -> bool:
        spacer = self._spacers.get(key)
        if spacer is None:
            if len(self._spacers) > 10_000:
                self._forget_idle()
            spacer = self._spacers[key] = Spacer(self.per_second, self.clock)
        return spacer.take()

    def _forget_idle(self) -> None:
        now = self.clock()
        self._spacers = {k: s for k, s in self._spacers.items() if s.next_at > now}
