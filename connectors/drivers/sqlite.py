"""SQLite: the embedded demo clinic. Opened read-only, like every real MIS."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.base import ConnectorError
from connectors.drivers import write_one_row

name = "sqlite"
dialect = "sqlite"


def _path(dsn: str) -> str:
    for prefix in ("sqlite:///", "sqlite://", "file:"):
        if dsn.startswith(prefix):
            return dsn[len(prefix) :]
    return dsn


def connect(dsn: str, timeout_seconds: int, password: str = "") -> Any:
    path = Path(_path(dsn))
    if not path.exists():
        raise ConnectorError(
            f"demo clinic database {path} does not exist", retryable=True, kind="unreachable"
        )
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, timeout=timeout_seconds, check_same_thread=False
    )
    deadline: list[float] = [0.0]

    # sqlite3 has no statement timeout; the progress handler aborts a runaway query.
    def _watchdog() -> int:
        return 1 if deadline[0] and time.monotonic() > deadline[0] else 0

    conn.set_progress_handler(_watchdog, 10_000)
    conn.execute("PRAGMA query_only = ON")
    return _Connection(conn, deadline, timeout_seconds)


def connect_write(dsn: str, timeout_seconds: int, password: str = "") -> _WriteConnection:
    """The demo clinic's database opened for the one write (mis.write_dsn)."""
    path = Path(_path(dsn))
    if not path.exists():
        raise ConnectorError(
            f"demo clinic database {path} does not exist", retryable=True, kind="unreachable"
        )
    conn = sqlite3.connect(
        f"file:{path}?mode=rw", uri=True, timeout=timeout_seconds, isolation_level=None
    )
    return _WriteConnection(conn)


class _WriteConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def write_one(self, value_sql: str, sql: str, slots: Sequence[str], visit_id: Any) -> None:
        cursor = self._conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            write_one_row(cursor, value_sql, sql, slots, visit_id)
        except BaseException:
            self._conn.rollback()
            raise
        finally:
            cursor.close()
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()


class _Connection:
    """Wraps sqlite3 so each fetch gets its own deadline and its own read transaction."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, deadline: list[float], timeout: int) -> None:
        self._conn = conn
        self._deadline = deadline
        self._timeout = timeout

    def fetch(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        self._deadline[0] = time.monotonic() + self._timeout
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, [_param(p) for p in params])
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            cursor.close()
            self._deadline[0] = 0.0
        # End the read transaction at once: a long-open snapshot holds back the writer's
        # WAL checkpoints.
        self._conn.rollback()
        return columns, rows

    def close(self) -> None:
        self._conn.close()


def _param(value: Any) -> Any:
    # The demo clinic keeps datetimes as 'YYYY-MM-DD HH:MM:SS' text, as SQL Server would
    # print them: compare like with like.
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def classify(exc: BaseException) -> ConnectorError:
    text = str(exc)
    if isinstance(exc, ConnectorError):
        return exc
    if "interrupted" in text:
        return ConnectorError(f"query timed out: {text}", retryable=True, kind="timeout")
    if "no such column" in text or "no such table" in text:
        return ConnectorError(text, retryable=False, kind="missing_column")
    if "locked" in text or "busy" in text:
        return ConnectorError(f"database is busy: {text}", retryable=True, kind="timeout")
    if "unable to open" in text:
        return ConnectorError(text, retryable=True, kind="unreachable")
    return ConnectorError(text, retryable=True, kind="error")
