"""The one connector implementation: a profile's SQL run through an engine driver.

It knows the three change-detection strategies (see connectors/profiles/__init__.py):
what a cursor looks like for each, which parameters a read takes, and where the next read
starts. The sync engine only stores cursors and applies records.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import Batch, ConnectorError, Sweep
from connectors.drivers import Driver, DriverConnection
from connectors.mapping import RowMapper, mis_id_of
from connectors.profiles import WINDOW_FIELDS, EntityQuery, Profile
from core.clock import utcnow
from core.config import redact

log = logging.getLogger(__name__)

# Where a timestamp read starts when nothing was read yet: before any clinic's records.
_EPOCH = datetime(1900, 1, 1)
# A key below every real one (identities and autoincrements start at 1).
_NO_KEY = -1


@dataclass
class _Read:
    rows: list[dict[str, Any]]
    records: list[Any]
    seen: set[str]
    hashes: list[str]


# Bookkeeping columns: not content, and differing between two queries of the same rows.
_NOT_CONTENT = frozenset(("sync_cursor", "cursor", "sync_key"))


class SqlConnector:
    def __init__(
        self,
        profile: Profile,
        driver: Driver,
        dsn: str,
        *,
        mis_tz: ZoneInfo,
        phone_region: str = "RU",
        query_timeout: int = 10,
        password: str = "",
        write_dsn: str = "",
    ) -> None:
        self.profile = profile
        self.profile_name = profile.name
        self.driver = driver
        self.mis_tz = mis_tz
        self._dsn = dsn
        self._write_dsn = write_dsn
        self._password = password
        self._timeout = query_timeout
        self._conn: DriverConnection | None = None
        self._mappers = {
            name: RowMapper(query.record, query, mis_tz, phone_region)
            for name, query in profile.entities.items()
        }

    def __repr__(self) -> str:
        return f"SqlConnector({self.profile.name!r}, {redact(self._dsn)!r})"

    def entities(self) -> list[str]:
        return list(self.profile.entities)

    def record_type(self, entity: str) -> str:
        return self.profile.entities[entity].record

    def mapper(self, entity: str) -> RowMapper:
        """The entity's row mapper, with what it counted (`kabinet mis check` reads it)."""
        return self._mappers[entity]

    # -- plumbing -------------------------------------------------------------------------

    def _connection(self) -> DriverConnection:
        if self._conn is None:
            try:
                self._conn = self.driver.connect(self._dsn, self._timeout, self._password)
            except Exception as exc:
                raise self._error(exc) from None
        return self._conn

    @property
    def dialect(self) -> str:
        """The dialect of the server reached (connects if needed)."""
        return getattr(self._connection(), "dialect", self.driver.dialect)

    def _error(self, exc: BaseException) -> ConnectorError:
        err = self.driver.classify(exc)
        # Driver messages may echo the DSN, password included.
        return ConnectorError(
            redact(str(err), extra=(self._password,)), retryable=err.retryable, kind=err.kind
        )

    def query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows as dicts keyed by lower-case column names (Firebird says MIS_ID, PostgreSQL
        folds to lower case, SQL Server keeps what the alias says)."""
        conn = self._connection()
        try:
            columns, rows = conn.fetch(sql, params)
        except Exception as exc:
            # A failed connection is not reused: the next read reconnects.
            self.close()
            raise self._error(exc) from None
        names = [c.lower() for c in columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def test_connection(self) -> None:
        self._connection()

    def close(self) -> None:
        if self._conn is not None:
            # Closing a broken connection may fail too; there is nothing more to do then.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- the one write ----------------------------------------------------------------------

    def confirm_column(self) -> str | None:
        """The MIS column a confirmation is written to, or None: this profile cannot."""
        return self.profile.confirm.column if self.profile.confirm is not None else None

    def confirm_visit(self, visit_id: str) -> None:
        """Write the patient's confirmation of visit `visit_id` into its MIS row: exactly
        one column of one row, by key, in its own short transaction, over mis.write_dsn
        (the read account stays read-only). Raises ConnectorError: `retryable` says
        whether trying again later can help (kind missing_row: nothing was written)."""
        if self.profile.confirm is None:
            raise ConnectorError(
                f"profile {self.profile.name!r} has no column to write a confirmation to",
                retryable=False,
                kind="unsupported",
            )
        if not self._write_dsn:
            raise ConnectorError("mis.write_dsn is not set", retryable=False, kind="config")
        connect = getattr(self.driver, "connect_write", None)
        if connect is None:
            raise ConnectorError(
                f"the {self.driver.name} driver cannot write", retryable=False, kind="unsupported"
            )
        try:
            conn = connect(self._write_dsn, self._timeout, "")
        except Exception as exc:
            raise self._write_error(exc) from None
        try:
            value_sql, sql, slots = self.profile.render_confirm(
                getattr(conn, "dialect", self.driver.dialect)
            )
            conn.write_one(value_sql, sql, slots, visit_id)
        except Exception as exc:
            raise self._write_error(exc) from None
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _write_error(self, exc: BaseException) -> ConnectorError:
        err = self.driver.classify(exc)
        return ConnectorError(
            redact(str(err), extra=(self._password,)).replace(self._write_dsn or "\0", "***"),
            retryable=err.retryable,
            kind=err.kind,
        )

    # -- reading --------------------------------------------------------------------------

    def _run(self, entity: str, limit: int, values: dict[str, Any]) -> _Read:
        rendered = self.profile.render(entity, limit, self.dialect)
        rows = self.query(rendered.sql, [values[slot] for slot in rendered.slots])
        mapper = self._mappers[entity]
        records = []
        hashes = []
        seen = set()
        content = [c for c in rows[0] if c not in _NOT_CONTENT] if rows else []
        salt = mapper.salt
        for row in rows:
            seen.add(mis_id_of(row, mapper.query))
            try:
                records.append(mapper(row))
            except ValueError as exc:
                # One malformed row must not stop every patient's reminders; it is logged
                # and skipped, and the cursor still moves past it.
                log.warning("skipping %s row: %s", entity, exc)
                continue
            # The raw row stands for the record: the same row, mapped the same way (the
            # salt), is the same record.
            raw = salt + repr([row[c] for c in content])
            hashes.append(hashlib.sha256(raw.encode()).hexdigest())
        return _Read(rows, records, seen, hashes)

    def read_changes(
        self,
        entity: str,
        cursor: str | None,
        limit: int = 1000,
        *,
        resume: bool = False,
        now: datetime | None = None,
    ) -> Batch:
        query = self.profile.entities[entity]
        if query.strategy == "timestamp":
            return self._read_timestamp(entity, query, cursor, limit, resume)
        if query.strategy == "window":
            return self._read_window(entity, query, cursor, limit, resume, now)
        return self._read_monotonic(entity, query, cursor, limit)

    def _read_monotonic(
        self, entity: str, query: EntityQuery, cursor: str | None, limit: int
    ) -> Batch:
        if cursor is None and query.start_sql:
            # History is not news: start from where the history table is now.
            rows = self.query(self.profile.render_start(entity, self.dialect), [])
            start = next(iter(rows[0].values()), None) if rows else None
            return Batch(cursor=str(_int(start) if start is not None else query.initial_cursor))
        value = cursor if cursor is not None else query.initial_cursor
        read = self._run(entity, limit, {"cursor": _int(value)})
        new_cursor = str(_cursor_of(read.rows[-1], query)) if read.rows else value
        return Batch(
            records=read.records,
            cursor=new_cursor,
            more=len(read.rows) >= limit,
            hashes=read.hashes,
        )

    def _read_timestamp(
        self, entity: str, query: EntityQuery, cursor: str | None, limit: int, resume: bool
    ) -> Batch:
        stored = _TsCursor.parse(cursor)
        if stored is None:
            start = _TsCursor(_EPOCH, _NO_KEY)
        elif resume:
            start = stored
        else:
            # Rows stamped just before the cursor may have committed after it was read.
            start = _TsCursor(stored.ts - timedelta(seconds=query.overlap_seconds), _NO_KEY)
        read = self._run(entity, limit, {"ts": start.ts, "key": start.key})
        more = len(read.rows) >= limit
        if read.rows:
            last = read.rows[-1]
            reached = _TsCursor(_to_datetime(_cursor_of(last, query)), _int(_key_of(last)))
            # Re-reading the overlap must not move the cursor backwards.
            new = reached if more or stored is None else max(reached, stored)
        else:
            new = stored or start
        return Batch(records=read.records, cursor=new.dump(), more=more, hashes=read.hashes)

    def _read_window(
        self,
        entity: str,
        query: EntityQuery,
        cursor: str | None,
        limit: int,
        resume: bool,
        now: datetime | None,
    ) -> Batch:
        state = _WindowCursor.parse(cursor)
        now = now or utcnow()
        if resume and state.page is not None and state.start is not None:
            page, start = state.page, state.start
        else:
            if state.done_at is not None and now - state.done_at < timedelta(
                seconds=query.reread_seconds
            ):
                return Batch(cursor=cursor)  # not due yet
            page = _NO_KEY
            local = now.astimezone(self.mis_tz).replace(tzinfo=None)
            start = (local - timedelta(days=query.window_days)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
        param: date | datetime = start.date() if query.window_param == "date" else start
        read = self._run(entity, limit, {"window_start": param, "key": page})
        more = len(read.rows) >= limit
        if more:
            new = _WindowCursor(state.done_at, _int(_cursor_of(read.rows[-1], query)), start)
        else:
            new = _WindowCursor(now, None, None)
        sweep = Sweep(
            record=query.record,
            field=WINDOW_FIELDS[query.record],
            since=start.replace(tzinfo=self.mis_tz),
            max_fraction=query.max_sweep_fraction,
        )
        return Batch(
            records=read.records,
            cursor=new.dump(),
            more=more,
            sweep=sweep,
            seen=read.seen,
            hashes=read.hashes,
        )

    def sample(self, entity: str, since: str | None, limit: int) -> list[Any]:
        """What the entity's query returns after `since` (an integer cursor, a timestamp or
        a window start date; default: from the beginning, or the usual window), with none
        of the sync's bookkeeping: `kabinet mis check` and `mis dump` show the real query."""
        query = self.profile.entities[entity]
        try:
            if query.strategy == "timestamp":
                ts = _to_datetime(since) if since else _EPOCH
                return self._run(entity, limit, {"ts": ts, "key": _NO_KEY}).records
            if query.strategy == "window":
                if since:
                    start = _to_datetime(since)
                    param: date | datetime = start.date() if query.window_param == "date" else start
                    return self._run(entity, limit, {"window_start": param, "key": _NO_KEY}).records
                return self._read_window(entity, query, None, limit, False, None).records
            if query.start_sql:
                # Run it too, so `mis check` finds a mistake in it.
                self.query(self.profile.render_start(entity, self.dialect), [])
            value = since if since is not None else query.initial_cursor
            return self._run(entity, limit, {"cursor": _int(value)}).records
        except ValueError as exc:
            raise ConnectorError(
                f"--since {since!r} does not suit entity {entity!r} ({query.strategy} "
                f"cursor): {exc}",
                retryable=False,
                kind="config",
            ) from None


# -- cursors --------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class _TsCursor:
    ts: datetime  # naive, the MIS's own clock
    key: int

    @classmethod
    def parse(cls, text: str | None) -> _TsCursor | None:
        try:
            data: Any = json.loads(text) if text else None
            return cls(datetime.fromisoformat(data["ts"]), int(data["key"]))
        except (ValueError, TypeError, KeyError):
            # No cursor yet, or one from another strategy (a profile override changed
            # it): read from the beginning; the content hashes keep that quiet.
            return None

    def dump(self) -> str:
        return json.dumps({"ts": self.ts.isoformat(sep=" "), "key": self.key})


@dataclass(frozen=True)
class _WindowCursor:
    done_at: datetime | None  # aware: when the last complete read finished
    page: int | None  # the last key of a read still in progress
    start: datetime | None  # that read's window start (naive, MIS clock)

    @classmethod
    def parse(cls, text: str | None) -> _WindowCursor:
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls(None, None, None)

        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(when("done_at"), data.get("page"), when("start"))

    def dump(self) -> str:
        return json.dumps(
            {
                "done_at": self.done_at.isoformat() if self.done_at else None,
                "page": self.page,
                "start": self.start.isoformat(sep=" ") if self.start else None,
            }
        )


def _cursor_of(row: dict[str, Any], query: EntityQuery) -> Any:
    column = query.columns.get("sync_cursor")
    if column is None:
        column = "sync_cursor" if "sync_cursor" in row else "cursor"
    try:
        return row[column]
    except KeyError:
        raise ConnectorError(
            "the query returns no sync_cursor column (alias the cursor column AS sync_cursor)",
            retryable=False,
            kind="config",
        ) from None


def _key_of(row: dict[str, Any]) -> Any:
    return row["sync_key"] if "sync_key" in row else row.get("mis_id")


def _int(value: Any) -> int:
    if isinstance(value, bytes | bytearray):  # a rowversion read without CAST
        return int.from_bytes(value, "big")
    return int(value)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value).strip())
