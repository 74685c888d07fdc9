"""Bulk statements on the mirror: one executemany per table and batch.

On SQLite they go straight to the driver, each value bound (or read) by its column's own
SQLAlchemy type processor: the values Core would write and return, without Core's per-row
bookkeeping, which costs more than SQLite's own work in an initial import or a poll. On
other engines (PostgreSQL) they are ordinary Core statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.db import UTCDateTime

# Values per IN (...): well under every engine's limit on bound parameters.
IN_CHUNK = 500


def _constant(value: Any) -> Any:
    return value


def _utc_text(value: datetime | None) -> str | None:
    """UTCDateTime as SQLAlchemy's SQLite dialect stores it ('YYYY-MM-DD HH:MM:SS.ffffff'),
    made with isoformat(), several times faster than the dialect's own formatting."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given where an aware one is required")
    text = value.astimezone(UTC).isoformat(" ")[:-6]  # without its "+00:00"
    return text if len(text) > 19 else text + ".000000"


def _binder(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _utc_text
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    if processor is not None and isinstance(column.type, JSON):
        return lambda value: "[]" if value == [] else processor(value)
    return processor


def _utc_datetime(value: str) -> datetime:
    """UTCDateTime's stored text ('YYYY-MM-DD HH:MM:SS[.ffffff]', naive UTC) -> aware
    datetime, parsed in C: what the dialect's regex and the type's result processor return."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _reader(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime) and dialect.name == "sqlite":
        return _utc_datetime
    return cast(Callable[[Any], Any] | None, column.type._cached_result_processor(dialect, None))


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT of rows that all name the same columns.

    On SQLite the rows go straight to the driver's executemany, bound by SQLAlchemy's own
    type processors, with the columns' own defaults: the values Core would write, without
    Core's per-row bookkeeping, which costs more than SQLite's work in an initial import.
    """
    if not rows:
        return
    if session.connection().dialect.name != "sqlite":
        session.execute(insert(table), rows)
        return
    given = list(rows[0])
    insert_columns(session, table, given, [[row[name] for row in rows] for name in given])


def _dicts(names: list[str], values: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def insert_columns(
    session: Session, table: Table, given: list[str], values: list[list[Any]]
) -> None:
    """Bulk INSERT of rows given column by column: `values[i]` holds column `given[i]`."""
    connection = session.connection()
    dialect = connection.dialect
    count = len(values[0]) if values else 0
    if not count:
        return
    if dialect.name != "sqlite":
        session.execute(insert(table), _dicts(given, values))
        return
    defaults: list[tuple[str, Callable[[], Any]]] = []
    for column in table.columns:
        if column.name in given or table.autoincrement_column is column:
            continue
        default: Any = column.default
        if default is not None and default.is_scalar:
            defaults.append((column.name, partial(_constant, default.arg)))
        elif default is not None and default.is_callable:
            # SQLAlchemy wraps a column's default function to take an execution context.
            defaults.append((column.name, partial(default.arg, None)))
        elif not (column.nullable or column.server_default is not None):
            # A default only Core knows how to make.
            session.execute(insert(table), _dicts(given, values))
            return
    names = given + [name for name, _ in defaults]
    processors = [_binder(table.c[name], dialect) for name in names]
    # Column by column: map() over a column is cheaper than a generator per row.
    columns: list[list[Any]] = []
    for column_values, processor in zip(values, processors, strict=False):
        columns.append(column_values if processor is None else list(map(processor, column_values)))
    for (_, make), processor in zip(defaults, processors[len(given) :], strict=True):
        value = make()
        columns.append([value if processor is None else processor(value)] * count)
    params = list(zip(*columns, strict=True))
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join('?' * len(names))})"
    )
    connection.exec_driver_sql(sql, params)


def chunks(items: list[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_RESULT_PROCESSORS: dict[tuple[str, tuple[str, ...]], list[Callable[[Any], Any] | None]] = {}


def select_in(
    session: Session, table: Table, names: tuple[str, ...], key: str, values: list[str]
) -> list[dict[str, Any]]:
    """SELECT `names` FROM `table` WHERE `key` IN `values`, as dicts.

    On SQLite straight through the driver, each value converted by its column's own result
    processor: the values Core would return, without Core's statement and row machinery,
    which costs more than SQLite's work for the hundred rows of a poll.
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        columns = [table.c[n] for n in names]
        return [
            dict(row._mapping)
            for row in session.execute(select(*columns).where(table.c[key].in_(values)))
        ]
    processors = _RESULT_PROCESSORS.get((table.name, names))
    if processors is None:
        processors = _RESULT_PROCESSORS[(table.name, names)] = [
            _reader(table.c[n], dialect) for n in names
        ]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"SELECT {', '.join(quote(n) for n in names)} "
        f"FROM {dialect.identifier_preparer.format_table(table)} "
        f"WHERE {quote(key)} IN ({', '.join('?' * len(values))})"
    )
    rows = connection.exec_driver_sql(sql, tuple(values)).cursor.fetchall()
    converted = [
        [row[i] if p is None or row[i] is None else p(row[i]) for row in rows]
        for i, p in enumerate(processors)
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*converted, strict=True)]


def update_rows(session: Session, table: Table, names: tuple[str, ...], rows: list[Any]) -> None:
    """UPDATE `table` SET `names` WHERE id = row["id"], for each row, in one executemany
    (on SQLite through the driver, bound by the columns' own processors, as inserts are)."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({c: bindparam(c) for c in names})
        )
        session.execute(statement, [{"row_id": r["id"], **{c: r[c] for c in names}} for r in rows])
        return
    columns: list[list[Any]] = []
    for name in names:
        processor = _binder(table.c[name], dialect)
        values = [r[name] for r in rows]
        columns.append(values if processor is None else list(map(processor, values)))
    columns.append([r["id"] for r in rows])
    quote = dialect.identifier_preparer.quote
    sql = (
        f"UPDATE {dialect.identifier_preparer.format_table(table)} "
        f"SET {', '.join(f'{quote(n)} = ?' for n in names)} WHERE id = ?"
    )
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
