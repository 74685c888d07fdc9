"""Exactly one runner per installation, whatever the number of web workers.

SQLite (one server): a file lock beside the data. PostgreSQL (the scale-out option, where
several servers may share one database): a session-level advisory lock, held by a
dedicated connection for as long as the runner lives. Either way a second runner says who
holds the lock and waits for it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from core.config import Config


class RunnerLockTimeout(Timeout):
    """The lock was not free within the timeout given (a filelock.Timeout, for callers
    that already catch that)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)


class SingleRunnerLock(Protocol):
    def acquire(
        self, on_wait: Callable[[str], None] | None = None, timeout: float = -1
    ) -> None: ...
    def release(self) -> None: ...
    def held(self) -> bool: ...
    def holder(self) -> str: ...


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

    def held(self) -> bool:
        # A file lock lives as long as this process: it cannot be lost behind our back.
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.info.unlink()
            self._lock.release()


def advisory_key(name: str = "kabinet-runner") -> int:
    """A stable signed 64-bit key for pg_advisory_lock (the same in every release)."""
    return zlib.crc32(name.encode()) | (0x4B41 << 32)  # "KA" in the high bits


class PgAdvisoryLock:
    """pg_try_advisory_lock on a connection of its own, kept open while the runner runs.

    Advisory locks are per database, so two clinics in one PostgreSQL cluster (one
    database each) do not exclude each other. If the connection drops (PostgreSQL
    restarted, network), the lock is gone: `held()` notices and the runner stops, so two
    runners never run at once; `kabinet run` then waits for the lock again.
    """

    def __init__(self, url: str, *, poll_seconds: float = 1.0, key: int | None = None) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        self.key = advisory_key() if key is None else key
        self.poll_seconds = poll_seconds
        self.label = f"kabinet-runner {socket.gethostname()} pid {os.getpid()}"[:63]
        # NullPool: this connection is the lock; it must never be shared or recycled.
        self._engine = create_engine(
            url, poolclass=NullPool, connect_args={"application_name": self.label}
        )
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _try(self) -> bool:
        from sqlalchemy import text

        conn = self._connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        conn.commit()
        return got

    def holder(self) -> str:
        from sqlalchemy import text

        try:
            conn = self._connect()
            row = conn.execute(
                text(
                    "SELECT a.application_name, a.client_addr, a.pid FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = :k "
                    "AND a.pid <> pg_backend_pid() LIMIT 1"
                ),
                {"k": self.key},
            ).first()
            conn.commit()
        except Exception:
            return "unknown"
        if row is None:
            return "unknown"
        name, addr, pid = row
        return f"{name or 'a runner'} (PostgreSQL backend {pid}{f', from {addr}' if addr else ''})"

    def acquire(self, on_wait: Callable[[str], None] | None = None, timeout: float = -1) -> None:
        if self._try():
            return
        if on_wait is not None:
            on_wait(self.holder())
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise RunnerLockTimeout(f"PostgreSQL advisory lock {self.key}")
            time.sleep(self.poll_seconds)
            try:
                if self._try():
                    return
            except Exception:
                # The database went away while we waited: start over with a new connection.
                self._drop()

    def held(self) -> bool:
        from sqlalchemy import text

        if self._conn is None:
            return False
        try:
            count = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() "
                    "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": self.key},
            ).scalar()
            self._conn.commit()
        except Exception:
            self._drop()
            return False
        return bool(count)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def release(self) -> None:
        from sqlalchemy import text

        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
        self._drop()
        self._engine.dispose()


def runner_lock(config: Config) -> SingleRunnerLock:
    url = config.storage.url
    if url.startswith(("postgresql", "postgres")):
        return PgAdvisoryLock(url)
    return RunnerLock(config.storage.data_dir)
