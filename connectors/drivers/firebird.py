"""Firebird through fdb (Инфодент / Инфоклиника).

DSN: firebird://KABINET_RO@db-host:3050//var/lib/firebird/data/infodent.fdb?charset=UTF8
(a path after the second slash, or an alias: firebird://KABINET_RO@db-host/infodent;
`role=` may name a SQL role). The password is in mis.password or in the address.

Every fetch is its own read-only READ COMMITTED transaction (record versions, so it never
waits for the MIS's writers), committed at once so it does not hold back garbage
collection. Firebird 3 has no statement timeout, so a watchdog thread cancels a query that
runs too long with fb_cancel_operation, which the client library provides for exactly
this (fdb does not wrap it).

Only fdb is used: the newer `firebird-driver` package must not be imported in the same
process (both load libfbclient, and it crashes fdb at exit).
"""

from __future__ import annotations

import ctypes
import socket
import threading
from collections.abc import Sequence
from typing import Any

import fdb

from connectors.base import ConnectorError
from connectors.drivers import parse_url_dsn, write_one_row

name = "fdb"
dialect = "firebird"

EXAMPLE = "firebird://KABINET_RO@127.0.0.1:3050//var/lib/firebird/data/infodent.fdb"

_FB_CANCEL_RAISE = 3


def connect(dsn: str, timeout_seconds: int, password: str = "") -> _Connection:
    return _Connection(_connect(dsn, timeout_seconds, password), timeout_seconds)


def connect_write(dsn: str, timeout_seconds: int, password: str = "") -> _WriteConnection:
    """The write account's connection (mis.write_dsn), for a [confirm] a clinic's override
    adds (the built-in Инфодент profile knows no confirmation column)."""
    return _WriteConnection(_connect(dsn, timeout_seconds, password), timeout_seconds)


def _connect(dsn: str, timeout_seconds: int, password: str) -> Any:
    url = parse_url_dsn(dsn, "firebird", EXAMPLE)
    if not url.database:
        raise ConnectorError(
            f"mis.dsn: no database path or alias (expected e.g. {EXAMPLE})",
            retryable=False,
            kind="config",
        )
    port = url.port or 3050
    # The client library waits up to the server's ConnectionTimeout (180 s by default)
    # for a host that does not answer: find that out ourselves, quickly.
    try:
        socket.create_connection((url.host, port), timeout=min(timeout_seconds, 10)).close()
    except OSError as exc:
        raise ConnectorError(
            f"cannot reach the Firebird server at {url.host}:{port}: {exc}",
            retryable=True,
            kind="unreachable",
        ) from None
    return fdb.connect(
        host=url.host,
        port=port,
        database=url.database,
        user=url.user or None,
        password=password or url.password or None,
        role=url.options.get("role") or None,
        charset=url.options.get("charset", "UTF8"),
    )


def _read_only_tpb(lock_timeout: int) -> bytes:
    tpb = fdb.TPB()
    tpb.access_mode = fdb.isc_tpb_read
    tpb.isolation_level = (fdb.isc_tpb_read_committed, fdb.isc_tpb_rec_version)
    tpb.lock_resolution = fdb.isc_tpb_wait
    tpb.lock_timeout = max(1, lock_timeout)
    rendered: bytes = tpb.render()
    return rendered


def _write_tpb(lock_timeout: int) -> bytes:
    tpb = fdb.TPB()
    tpb.access_mode = fdb.isc_tpb_write
    tpb.isolation_level = (fdb.isc_tpb_read_committed, fdb.isc_tpb_rec_version)
    tpb.lock_resolution = fdb.isc_tpb_wait
    tpb.lock_timeout = max(1, lock_timeout)
    rendered: bytes = tpb.render()
    return rendered


class _WriteConnection:
    def __init__(self, conn: Any, timeout: int) -> None:
        self._conn = conn
        self._tpb = _write_tpb(timeout)

    def write_one(self, value_sql: str, sql: str, slots: Sequence[str], visit_id: Any) -> None:
        self._conn.begin(tpb=self._tpb)
        try:
            cursor = self._conn.cursor()
            write_one_row(cursor, value_sql, sql, slots, visit_id)
            cursor.close()
        except BaseException:
            if self._conn.main_transaction.active:
                self._conn.rollback()
            raise
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()


class _Connection:
    dialect = "firebird"

    def __init__(self, conn: Any, timeout: int) -> None:
        self._conn = conn
        self._timeout = timeout
        self._tpb = _read_only_tpb(timeout)

    def _cancel(self) -> None:
        api = fdb.fbcore.api
        status = fdb.ibase.ISC_STATUS_ARRAY()
        cancel = api.client_library.fb_cancel_operation
        cancel.restype = fdb.ibase.ISC_STATUS
        cancel.argtypes = [
            ctypes.POINTER(fdb.ibase.ISC_STATUS),
            ctypes.POINTER(fdb.ibase.isc_db_handle),
            ctypes.c_ushort,
        ]
        cancel(status, ctypes.byref(self._conn._db_handle), _FB_CANCEL_RAISE)

    def fetch(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        self._conn.begin(tpb=self._tpb)
        watchdog = threading.Timer(self._timeout, self._cancel)
        watchdog.daemon = True
        try:
            cursor = self._conn.cursor()
            watchdog.start()
            cursor.execute(sql, list(params))
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            watchdog.cancel()
            cursor.close()
        except BaseException:
            watchdog.cancel()
            if self._conn.main_transaction.active:
                self._conn.rollback()
            raise
        # Read-only: committing ends the transaction without writing anything.
        self._conn.commit()
        return columns, rows

    def close(self) -> None:
        self._conn.close()


# gdscode -> (kind, retryable)
_GDS: dict[int, tuple[str, bool]] = {
    335544721: ("unreachable", True),  # unable to complete network request
    335544726: ("unreachable", True),  # error reading data from the connection
    335544727: ("unreachable", True),  # error writing data to the connection
    335544741: ("unreachable", True),  # connection lost to database
    335544856: ("unreachable", True),  # connection shutdown
    335544528: ("unreachable", True),  # database shutdown
    335544794: ("timeout", True),  # operation was cancelled (our watchdog)
    335544345: ("timeout", True),  # lock conflict on no wait transaction
    335544336: ("timeout", True),  # deadlock
    335544510: ("timeout", True),  # lock time-out on wait transaction
    335544472: ("permission", False),  # your user name and password are not defined
    335544352: ("permission", False),  # no permission for ... access
    335544344: ("config", False),  # I/O error: the database file is not there
}


def classify(exc: BaseException) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    text = " ".join(str(args[0] if args else exc).replace("\n- ", " ").split())
    sqlcode = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
    gdscode = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    lowered = text.lower()
    kind, retryable = _GDS.get(gdscode, ("error", True))
    if sqlcode == -206 or "column unknown" in lowered or "table unknown" in lowered:
        kind, retryable = "missing_column", False
    elif sqlcode == -551 or "no permission" in lowered:
        kind, retryable = "permission", False
    elif "operation was cancelled" in lowered:
        kind, retryable = "timeout", True
    elif "unable to complete network request" in lowered:
        kind, retryable = "unreachable", True
    elif "user name and password are not defined" in lowered:
        kind, retryable = "permission", False
    return ConnectorError(text, retryable=retryable, kind=kind)
