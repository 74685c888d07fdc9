"""Exactly one runner per installation, whatever the number of web workers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout


class RunnerLock:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / "runner.lock"
        self.info = Path(data_dir) / "runner.pid"
        self._lock = FileLock(str(self.path))

    def holder(self) -> str:
        try:
            return self.info.read_text().strip()
        except OSError:
            return "unknown"

    def acquire(self, on_wait: Callable[[str], None] | None = None, timeout: float = -1) -> None:
        """Take the lock; if another runner has it, say so once and wait for it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait(self.holder())
            self._lock.acquire(timeout=timeout)
        self.info.write_text(f"pid {os.getpid()}")

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.info.unlink()
            self._lock.release()
