"""ODBC through pyodbc: Microsoft SQL Server (IDENT), and any engine with an ODBC driver.

The DSN is an ODBC connection string, e.g.
  DRIVER={ODBC Driver 18 for SQL Server};SERVER=srv\\PZSQLSERVER;DATABASE=PZ;UID=kabinet_ro;
  TrustServerCertificate=yes
with the password in mis.password (or PWD=... in the string). The server behind the DSN
is asked its name after connecting, so the profile's SQL is rendered in its dialect:
the test suite runs IDENT's T-SQL on PostgreSQL through the "PostgreSQL Unicode" driver.

Gentle on the server, per engine:
  SQL Server  the account should only have db_datareader (no write is possible then);
              the profile reads WITH (NOLOCK) below MIN_ACTIVE_ROWVERSION(), so it neither
              waits for nor blocks IDENT's own transactions; SET LOCK_TIMEOUT and
              SET DEADLOCK_PRIORITY LOW in case a hint is overridden; a query timeout.
  PostgreSQL  SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY, statement_timeout,
              lock_timeout.
  MySQL       SET SESSION TRANSACTION READ ONLY, max_statement_time/max_execution_time.
Each fetch ends its transaction at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyodbc

from connectors.base import ConnectorError
from connectors.drivers import write_one_row

name = "pyodbc"
dialect = "tsql"


def _connection_string(dsn: str, password: str) -> str:
    text = dsn.strip().rstrip(";")
    if password and not re.search(r"(?i)(^|;)\s*PWD\s*=", text):
        # Braces let the password hold ';' or '=' (a literal '}' is doubled).
        text += ";PWD={" + password.replace("}", "}}") + "}"
    return text


def _dialect_of(dbms: str) -> str:
    lowered = dbms.lower()
    if "postgres" in lowered:
        return "postgres"
    if "mysql" in lowered or "mariadb" in lowered:
        return "mysql"
    if "sqlite" in lowered:
        return "sqlite"
    return "tsql"


def _open(dsn: str, timeout_seconds: int, password: str, *, write: bool) -> tuple[Any, str]:
    """A connection and its dialect; a read one is READ ONLY, a write one (mis.write_dsn)
    has the same timeouts and, on SQL Server, the same low deadlock priority."""
    # `timeout` here is the login timeout; the query timeout is set on the connection.
    conn = pyodbc.connect(
        _connection_string(dsn, password),
        timeout=max(1, min(timeout_seconds, 30)),
        autocommit=False,
        readonly=not write,
    )
    try:
        engine = _dialect_of(str(conn.getinfo(pyodbc.SQL_DBMS_NAME)))
        try:
            # The client-side query timeout (SQL Server's driver honours it)...
            conn.timeout = timeout_seconds
        except pyodbc.Error:
            # ...which psqlODBC refuses; the server-side statement_timeout below covers it.
            if engine == "tsql":
                raise
        cursor = conn.cursor()
        for statement in _session_setup(engine, timeout_seconds):
            if not (write and "READ ONLY" in statement):
                cursor.execute(statement)
        cursor.close()
        conn.commit()
    except Exception:
        conn.close()
        raise
    return conn, engine


def connect(dsn: str, timeout_seconds: int, password: str = "") -> _Connection:
    if not dsn.strip():
        raise ConnectorError(
            "mis.dsn is empty: expected an ODBC connection string such as "
            "DRIVER={ODBC Driver 18 for SQL Server};SERVER=...;DATABASE=PZ;UID=...",
            retryable=False,
            kind="config",
        )
    return _Connection(*_open(dsn, timeout_seconds, password, write=False))


def connect_write(dsn: str, timeout_seconds: int, password: str = "") -> _WriteConnection:
    """The write account's connection (mis.write_dsn)."""
    if not dsn.strip():
        raise ConnectorError("mis.write_dsn is empty", retryable=False, kind="config")
    return _WriteConnection(*_open(dsn, timeout_seconds, password, write=True))


class _WriteConnection:
    def __init__(self, conn: Any, engine: str) -> None:
        self._conn = conn
        self.dialect = engine

    def write_one(self, value_sql: str, sql: str, slots: Sequence[str], visit_id: Any) -> None:
        cursor = self._conn.cursor()
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


def _session_setup(engine: str, timeout: int) -> list[str]:
    ms = int(timeout * 1000)
    if engine == "postgres":
        return [
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            f"SET statement_timeout = {ms}",
            f"SET lock_timeout = {ms}",
            "SET application_name = 'kabinet'",
        ]
    if engine == "mysql":
        return ["SET SESSION TRANSACTION READ ONLY"]
    if engine == "tsql":
        return [
            f"SET LOCK_TIMEOUT {ms}",
            # If anything ever deadlocks with IDENT, Kabinet is the one to give way.
            "SET DEADLOCK_PRIORITY LOW",
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ]
    return []


class _Connection:
    def __init__(self, conn: Any, engine: str) -> None:
        self._conn = conn
        self.dialect = engine

    def fetch(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, list(params))
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            cursor.close()
        # End the read transaction at once: a long-open snapshot holds back the MIS.
        self._conn.rollback()
        return columns, rows

    def close(self) -> None:
        self._conn.close()


# SQLSTATE -> (kind, retryable). Native codes refine the generic 42000/HY000 below.
_STATES: dict[str, tuple[str, bool]] = {
    "08001": ("unreachable", True),
    "08S01": ("unreachable", True),
    "08003": ("unreachable", True),
    "08004": ("unreachable", True),
    "HYT00": ("timeout", True),
    "HYT01": ("timeout", True),
    "57014": ("timeout", True),  # PostgreSQL: statement_timeout
    "55P03": ("timeout", True),  # PostgreSQL: lock_timeout
    "42S22": ("missing_column", False),
    "42S02": ("missing_column", False),
    "42703": ("missing_column", False),  # PostgreSQL: undefined column
    "42P01": ("missing_column", False),  # PostgreSQL: undefined table
    "42501": ("permission", False),  # PostgreSQL: insufficient privilege
    "28000": ("permission", False),  # login failed
    "28P01": ("permission", False),
    "IM002": ("config", False),  # data source name not found / no such driver
}


def classify(exc: BaseException) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    state = str(args[0]) if args else ""
    text = str(args[1]) if len(args) > 1 else str(exc)
    lowered = text.lower()
    kind, retryable = _STATES.get(state, ("error", True))
    if kind == "error":
        if "permission" in lowered and "denied" in lowered:  # SQL Server error 229/230
            kind, retryable = "permission", False
        elif "invalid column name" in lowered or "invalid object name" in lowered:
            kind, retryable = "missing_column", False
        elif "timeout" in lowered or "timed out" in lowered or "lock request" in lowered:
            kind, retryable = "timeout", True
        elif "login failed" in lowered or "authentication failed" in lowered:
            kind, retryable = "permission", False
        elif any(
            w in lowered
            for w in (
                "could not connect",
                "connection refused",
                "server does not exist",
                "communication link",
                "could not translate host",
                "network",
                "connection has been lost",
                "closed the connection",
                "connection lost",
            )
        ):
            kind, retryable = "unreachable", True
    if state == "08001" and ("password" in lowered or "authentication" in lowered):
        # psqlODBC reports a refused login as a connection failure.
        kind, retryable = "permission", False
    message = " ".join(text.split())
    return ConnectorError(
        f"[{state}] {message}" if state else message, retryable=retryable, kind=kind
    )
