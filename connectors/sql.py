"""The one connector implementation: a profile's SQL run through an engine driver."""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import Batch, ConnectorError
from connectors.drivers import Driver
from connectors.mapping import RowMapper
from connectors.profiles import Profile
from core.config import redact

log = logging.getLogger(__name__)


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
    ) -> None:
        self.profile = profile
        self.profile_name = profile.name
        self.driver = driver
        self._dsn = dsn
        self._password = password
        self._timeout = query_timeout
        self._conn: Any = None
        self._mappers = {
            name: RowMapper(name, query, mis_tz, phone_region)
            for name, query in profile.entities.items()
        }

    def __repr__(self) -> str:
        return f"SqlConnector({self.profile.name!r}, {redact(self._dsn)!r})"

    def entities(self) -> list[str]:
        return list(self.profile.entities)

    def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self.driver.connect(self._dsn, self._timeout, self._password)
            except Exception as exc:
                raise self._error(exc) from None
        return self._conn

    def _error(self, exc: BaseException) -> ConnectorError:
        err = self.driver.classify(exc)
        # Driver messages may echo the DSN, password included.
        return ConnectorError(
            redact(str(err), extra=(self._password,)), retryable=err.retryable, kind=err.kind
        )

    def query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        conn = self._connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params)
                columns = [d[0] for d in cursor.description]
                rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            finally:
                cursor.close()
            # End the read transaction at once: a long-open snapshot holds back the MIS.
            conn.rollback()
            return rows
        except ConnectorError:
            raise
        except Exception as exc:
            self.close()
            raise self._error(exc) from None

    def test_connection(self) -> None:
        self._connection()

    def read_changes(self, entity: str, cursor: str | None, limit: int = 1000) -> Batch:
        query = self.profile.entities[entity]
        sql = self.profile.sql_for(entity, limit, self.driver.dialect)
        rows = self.query(sql, [int(cursor if cursor is not None else query.initial_cursor)])
        mapper = self._mappers[entity]
        records = []
        for row in rows:
            try:
                records.append(mapper(row))
            except ValueError as exc:
                # One malformed row must not stop every patient's reminders; it is logged
                # and skipped, and the cursor still moves past it.
                log.warning("skipping %s row: %s", entity, exc)
        new_cursor = str(rows[-1]["cursor"]) if rows else cursor
        return Batch(records=records, cursor=new_cursor, more=len(rows) >= limit)

    def close(self) -> None:
        if self._conn is not None:
            # Closing a broken connection may fail too; there is nothing more to do then.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
