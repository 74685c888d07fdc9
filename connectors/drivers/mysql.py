"""MySQL and MariaDB through PyMySQL (Open Dental).

DSN: mysql://kabinet_ro@db-host:3306/opendental (the password in mis.password, or in the
address). Every fetch is `START TRANSACTION READ ONLY` ... `COMMIT` at READ COMMITTED, so
no snapshot outlives a query; the server cancels a statement that runs past the timeout
(MariaDB max_statement_time, MySQL max_execution_time) and the socket gives up a little
later in case the server itself hangs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql

from connectors.base import ConnectorError
from connectors.drivers import parse_url_dsn, qmark_to_format, write_one_row

name = "pymysql"
dialect = "mysql"

EXAMPLE = "mysql://kabinet_ro@127.0.0.1:3306/opendental"


def _open(dsn: str, key: str, timeout_seconds: int, password: str, *, write: bool) -> Any:
    """A session on `dsn` (the config key `key` names it in errors): read committed, each
    statement bounded by the server; a read session is READ ONLY, a write one waits for
    Open Dental's own row locks only briefly and counts FOUND_ROWS — an UPDATE that sets
    the value already there counts its row (MySQL would say 0 changed), so writing the same
    confirmation again is not mistaken for a missing visit."""
    url = parse_url_dsn(dsn, "mysql", EXAMPLE)
    if not url.database:
        raise ConnectorError(
            f"{key}: no database named (expected e.g. {EXAMPLE})",
            retryable=False,
            kind="config",
        )
    conn = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.user,
        password=password or url.password,
        database=url.database,
        charset=url.options.get("charset", "utf8mb4"),
        connect_timeout=max(1, min(timeout_seconds, 30)),
        # Beyond the server-side limit: only a hung server or network trips this.
        read_timeout=timeout_seconds + 5,
        write_timeout=timeout_seconds + 5,
        autocommit=False,
        client_flag=pymysql.constants.CLIENT.FOUND_ROWS if write else 0,
    )
    try:
        is_mariadb = "mariadb" in str(conn.get_server_info()).lower()
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            if write:
                cursor.execute(
                    f"SET SESSION innodb_lock_wait_timeout = {max(1, int(timeout_seconds))}"
                )
            else:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
            if is_mariadb:
                cursor.execute(f"SET SESSION max_statement_time = {int(timeout_seconds)}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(timeout_seconds) * 1000}")
        conn.commit()
    except Exception:
        conn.close()
        raise
    return conn


def connect(dsn: str, timeout_seconds: int, password: str = "") -> _Connection:
    return _Connection(_open(dsn, "mis.dsn", timeout_seconds, password, write=False))


def connect_write(dsn: str, timeout_seconds: int, password: str = "") -> _WriteConnection:
    """The write account's connection (mis.write_dsn)."""
    return _WriteConnection(_open(dsn, "mis.write_dsn", timeout_seconds, password, write=True))


class _WriteConnection:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def write_one(self, value_sql: str, sql: str, slots: Sequence[str], visit_id: Any) -> None:
        with self._conn.cursor() as cursor:
            cursor.execute("START TRANSACTION READ WRITE")
            try:
                write_one_row(cursor, value_sql, sql, slots, visit_id, fmt=qmark_to_format)
            except BaseException:
                self._conn.rollback()
                raise
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()


class _Connection:
    dialect = "mysql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def fetch(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        with self._conn.cursor() as cursor:
            cursor.execute("START TRANSACTION READ ONLY")
            try:
                cursor.execute(qmark_to_format(sql), list(params))
                columns = [d[0] for d in cursor.description]
                rows = list(cursor.fetchall())
            finally:
                self._conn.commit()
        return columns, rows

    def close(self) -> None:
        self._conn.close()


# MySQL/MariaDB error numbers -> (kind, retryable)
_CODES: dict[int, tuple[str, bool]] = {
    2002: ("unreachable", True),  # can't connect through socket
    2003: ("unreachable", True),  # can't connect to server
    2005: ("unreachable", True),  # unknown host
    2006: ("unreachable", True),  # server has gone away
    2013: ("unreachable", True),  # lost connection during query (also the socket timeout)
    1040: ("unreachable", True),  # too many connections
    1053: ("unreachable", True),  # server shutdown in progress
    1969: ("timeout", True),  # MariaDB max_statement_time exceeded
    3024: ("timeout", True),  # MySQL max_execution_time exceeded
    1317: ("timeout", True),  # query execution was interrupted
    1205: ("timeout", True),  # lock wait timeout
    1054: ("missing_column", False),  # unknown column
    1146: ("missing_column", False),  # table doesn't exist
    1142: ("permission", False),  # SELECT command denied to user for table
    1143: ("permission", False),  # column access denied
    1044: ("permission", False),  # access denied to database
    1045: ("permission", False),  # access denied (wrong password)
    1227: ("permission", False),
    1049: ("config", False),  # unknown database
    1064: ("config", False),  # SQL syntax error: an override's typo
}


def classify(exc: BaseException) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else 0
    text = " ".join(str(args[1] if len(args) > 1 else exc).split())
    kind, retryable = _CODES.get(code, ("error", True))
    if code == 2013 and "timed out" in text.lower():
        kind = "timeout"
    if isinstance(exc, TimeoutError | OSError) and not code:
        kind, retryable = "unreachable", True
    return ConnectorError(f"({code}) {text}" if code else text, retryable=retryable, kind=kind)
