"""One module per database engine. Each is imported only when its profile is used, so a
clinic without Firebird client libraries can still run the IDENT profile.

A driver module has `name`, `dialect` (the sqlglot dialect of its engine), `connect()`
returning a `DriverConnection`, and `classify()` turning the engine's exceptions into
ConnectorError kinds: unreachable, timeout, permission, missing_column, config, error.
Every fetch is one short read-only transaction with a statement timeout.

A driver may also have `connect_write()`, for the one write Kabinet ever makes (a
confirmation written back, connectors/profiles ConfirmWrite), over its own connection
string and account: `write_one()` runs it in its own short transaction, and commits only
when exactly one row changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.base import ConnectorError


class DriverConnection(Protocol):
    # The dialect of the server actually reached (an ODBC DSN may lead to any engine).
    dialect: str

    def fetch(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """Run one query in its own read-only transaction; column names and rows."""
        ...

    def close(self) -> None: ...


class DriverWriteConnection(Protocol):
    def write_one(self, value_sql: str, sql: str, slots: Sequence[str], visit_id: Any) -> None:
        """In one transaction: read the value (if value_sql), run the UPDATE, commit if it
        changed exactly one row, else roll back and raise (kind missing_row)."""
        ...

    def close(self) -> None: ...


def key_param(visit_id: Any) -> Any:
    """An MIS id as the engine's key column wants it: integer keys as integers."""
    text = str(visit_id)
    return int(text) if text.isdigit() else text


def write_one_row(
    cursor: Any,
    value_sql: str,
    sql: str,
    slots: Sequence[str],
    visit_id: Any,
    fmt: Any = None,
) -> None:
    """The body of write_one on a DB-API cursor; the caller commits or rolls back."""
    render = fmt or (lambda text: text)
    params: dict[str, Any] = {"visit_id": key_param(visit_id)}
    if value_sql:
        cursor.execute(render(value_sql), [])
        row = cursor.fetchone()
        if row is None or row[0] is None:
            raise ConnectorError(
                "the value to write was not found in the MIS (value_sql returned no row)",
                retryable=False,
                kind="config",
            )
        params["value"] = row[0]
    cursor.execute(render(sql), [params[slot] for slot in slots])
    changed = cursor.rowcount
    if changed != 1:
        raise ConnectorError(
            f"the write would change {changed} rows, not 1: the visit {visit_id} is not in "
            "the MIS any more, or no longer in a state to confirm; nothing was written",
            retryable=False,
            kind="missing_row",
        )


class Driver(Protocol):
    name: str
    dialect: str

    def connect(self, dsn: str, timeout_seconds: int, password: str = "") -> DriverConnection: ...

    def classify(self, exc: BaseException) -> ConnectorError: ...


@dataclass(frozen=True)
class UrlDsn:
    """`scheme://user[:password]@host[:port]/database?key=value`, as clinic IT writes it."""

    host: str
    port: int | None
    user: str
    password: str
    database: str
    options: dict[str, str]


def parse_url_dsn(dsn: str, scheme: str, example: str) -> UrlDsn:
    parts = urlsplit(dsn)
    if parts.scheme != scheme or not parts.hostname:
        raise ConnectorError(
            f"mis.dsn: expected a {scheme}:// address such as {example}",
            retryable=False,
            kind="config",
        )
    try:
        port = parts.port
    except ValueError:
        raise ConnectorError(
            f"mis.dsn: the port is not a number (expected e.g. {example})",
            retryable=False,
            kind="config",
        ) from None
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return UrlDsn(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        # "/opendental" -> "opendental"; Firebird's "//var/lib/x.fdb" -> "/var/lib/x.fdb"
        database=unquote(parts.path[1:] if parts.path.startswith("/") else parts.path),
        options=options,
    )


def qmark_to_format(sql: str) -> str:
    """`?` placeholders -> `%s` for drivers with the "format" paramstyle (PyMySQL).

    Literal percent signs are doubled, and nothing inside quotes or comments is touched.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"', "`"):
            end = i + 1
            while end < n:
                if sql[end] == "\\" and ch != "`":
                    end += 2
                    continue
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
