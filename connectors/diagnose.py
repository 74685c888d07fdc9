"""ConnectorErrors in words clinic IT can act on, for `kabinet mis check`.

Each engine names a missing column its own way ("Invalid column name 'PlanStart'",
"column r.planstart does not exist", "Column unknown - R.PLANSTART", "Unknown column
'a.AptDateTime'"); the profile's own SQL tells which table an alias or a bare column
belongs to, so the message can say "Receptions.PlanStart", as the MIS's admin knows it.
"""

from __future__ import annotations

import re

from connectors.base import ConnectorError
from connectors.profiles import Profile

MIS_NAMES = {
    "ident": "IDENT",
    "infodent": "Инфодент",
    "opendental": "Open Dental",
    "demo": "demo clinic",
}

_MISSING_COLUMN = (
    re.compile(r"invalid column name '([^']+)'", re.I),  # SQL Server
    re.compile(r'column "?([\w.]+)"? does not exist', re.I),  # PostgreSQL
    re.compile(r"unknown column '([^']+)'", re.I),  # MySQL / MariaDB
    re.compile(r"column unknown\W+([\w.$]+)", re.I),  # Firebird
    re.compile(r"no such column: ([\w.]+)", re.I),  # SQLite
)
_MISSING_TABLE = (
    re.compile(r"invalid object name '([^']+)'", re.I),
    re.compile(r'relation "?([\w.]+)"? does not exist', re.I),
    re.compile(r"table '([^']+)' doesn't exist", re.I),
    re.compile(r"table unknown\W+([\w.$]+)", re.I),
    re.compile(r"no such table: ([\w.]+)", re.I),
)
_DENIED_ON = (
    re.compile(r"on object '([^']+)'", re.I),  # SQL Server
    re.compile(r"permission denied for (?:table|relation) (\w+)", re.I),  # PostgreSQL
    re.compile(r"for table ([`'\w.]+)", re.I),  # MySQL: `db`.`table`
    re.compile(r"access on table/view (\w+)", re.I),  # Firebird
)
_TABLE_REF = re.compile(r"\b(?:FROM|JOIN)\s+([\w.\[\]\"`]+)(?:\s+(?:AS\s+)?(\w+))?", re.I)
_NOT_ALIAS = {"on", "where", "join", "left", "right", "inner", "outer", "cross", "group",
              "order", "with", "limit", "rows", "union", "fetch"}  # fmt: skip


def _tables(sql: str) -> dict[str, str]:
    """alias (lower case) -> table name as written; a table is its own alias too."""
    aliases: dict[str, str] = {}
    for match in _TABLE_REF.finditer(sql):
        table = match.group(1).strip('[]"`')
        if table.startswith("("):
            continue
        aliases.setdefault(table.lower().split(".")[-1], table)
        alias = match.group(2)
        if alias and alias.lower() not in _NOT_ALIAS:
            aliases[alias.lower()] = table
    return aliases


def qualified_column(sql: str, reported: str) -> str:
    """'r.planstart' or 'PLANSTART' -> 'Receptions.PlanStart', using the query's text."""
    tables = _tables(sql)
    name = reported.strip("[]\"`'")
    alias, _, column = name.rpartition(".")
    if alias:
        alias = alias.split(".")[-1]
        # Restore the case the profile wrote it in.
        written = re.search(rf"\b{re.escape(alias)}\.({re.escape(column)})\b", sql, re.I)
        column = written.group(1) if written else column
        return f"{tables.get(alias.lower(), alias)}.{column}"
    for match in re.finditer(rf"\b(\w+)\.({re.escape(column)})\b", sql, re.I):
        table = tables.get(match.group(1).lower())
        if table:
            return f"{table}.{match.group(2)}"
    return column


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def explain(entity: str, error: ConnectorError, profile: Profile, *, query_timeout: int) -> str:
    """One line saying what failed and what to do about it."""
    mis = MIS_NAMES.get(profile.name, profile.name)
    fix = f"override entity.{entity}.sql in mis.profile_overrides"
    query = profile.entities.get(entity)
    sql = query.sql if query is not None else ""
    text = str(error)
    if error.kind == "missing_column":
        column = _first(_MISSING_COLUMN, text)
        if column:
            where = qualified_column(sql, column)
            return f"✗ {entity}: column {where} not found — check the {mis} version or {fix}"
        table = _first(_MISSING_TABLE, text)
        if table:
            known = _tables(sql).get(table.strip("[]\"`'").split(".")[-1].lower(), table)
            return f"✗ {entity}: table {known} not found — check the {mis} version or {fix}"
        return f"✗ {entity}: a column or table of the query is missing ({text}) — {fix}"
    if error.kind == "permission":
        table = _first(_DENIED_ON, text)
        if table:
            table = table.replace("`", "").replace('"', "").split(".")[-1]
        tables = sorted({t for t in _tables(sql).values()})
        on = f" on {_tables(sql).get(table.lower(), table)}" if table else ""
        return (
            f"✗ {entity}: permission denied{on} — grant the Kabinet account SELECT on "
            f"{', '.join(tables) or 'the tables of this query'} (see docs/mis-access.md)"
        )
    if error.kind == "timeout":
        return (
            f"✗ {entity}: the query did not finish within {query_timeout} s — the MIS server is "
            "busy, a table is locked, or an index is missing; try again off-peak, raise "
            f"mis.query_timeout_seconds, or {fix}"
        )
    if error.kind == "unreachable":
        return f"✗ {entity}: the MIS server stopped answering ({text}) — check the network"
    if error.kind == "config":
        return f"✗ {entity}: {text}"
    return f"✗ {entity}: {text}"


def explain_connect(error: ConnectorError, profile: Profile) -> str:
    mis = MIS_NAMES.get(profile.name, profile.name)
    if error.kind == "unreachable":
        return (
            f"✗ cannot connect to the {mis} database: {error} — check mis.dsn (host, port, "
            "path), that the database server runs, and that a firewall lets this server in"
        )
    if error.kind == "permission":
        return (
            f"✗ the {mis} database refused the login: {error} — check the account in mis.dsn "
            "and mis.password (see docs/mis-access.md)"
        )
    if error.kind == "timeout":
        return f"✗ connecting to the {mis} database timed out: {error}"
    return f"✗ cannot connect ({error.kind}): {error}"
