"""ConnectorErrors in words clinic IT can act on, and what the data says about the
configuration, for `kabinet mis check`.

Each engine names a missing column its own way ("Invalid column name 'PlanStart'",
"column r.planstart does not exist", "Column unknown - R.PLANSTART", "Unknown column
'a.AptDateTime'"); the profile's own SQL tells which table an alias or a bare column
belongs to, so the message can say "Receptions.PlanStart", as the MIS's admin knows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from connectors.base import AppointmentRecord, ConnectorError
from connectors.profiles import Profile
from connectors.sql import SqlConnector
from core.config import Config

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


# -- what the data says about the configuration ------------------------------------------

# Patients and visits `mis check` reads to judge phone_region and the time zones: enough
# to be representative, few enough to take seconds.
DATA_SAMPLE = 5000
# The configuration has no opening hours: a visit starting from 07:00 to before 22:00
# clinic time is one a clinic holds; most visits outside that is a zone read wrong.
OPENING = (time(7, 0), time(22, 0))


def check_data(connector: SqlConnector, config: Config, *, limit: int = DATA_SAMPLE) -> list[str]:
    """Lines on the patients' phones and the visits' times, read as configured."""
    lines = []
    patient = _entity_of(connector.profile, "patient")
    if patient:
        mapper = connector.mapper(patient)
        mapper.reset_counts()
        patients = _sample(connector, patient, limit)
        if patients is not None:
            lines.append(
                phone_line(
                    mapper.phones_seen,
                    mapper.phones_unread,
                    mapper.unread_examples,
                    config.clinic.phone_region,
                    rows=len(patients),
                    capped=len(patients) >= limit,
                )
            )
    appointment = _entity_of(connector.profile, "appointment")
    visits = _sample(connector, appointment, limit) if appointment else None
    if visits:
        starts = [v.starts_at for v in visits if isinstance(v, AppointmentRecord)]
        line = time_line(starts, config.clinic.tz, config.mis_tz, capped=len(visits) >= limit)
        if line:
            lines.append(line)
    return lines


def phone_line(
    seen: int,
    unread: int,
    examples: Sequence[str],
    region: str,
    *,
    rows: int,
    capped: bool = False,
) -> str:
    first = f" (first {rows:,} patients)" if capped else ""
    if not seen:
        return (
            f"⚠ phones: none of the {rows:,} patients read{first} has a phone number — the bot "
            "finds patients by it; check the phone columns of entity.patient"
        )
    if not unread:
        return f"✓ phones: all {seen:,} phones{first} read as numbers of region {region}"
    said = ", ".join(repr(e) for e in examples)
    counted = (
        f"{unread:,} of {seen:,} phones{first} could not be read as numbers of region "
        f"{region}, e.g. {said}"
    )
    if unread * 2 > seen:
        return (
            f"⚠ phones: {counted} — most of them: is clinic.phone_region right? It is the "
            "country of numbers typed without a country code"
        )
    return f"✓ phones: {counted}; they are not stored"


def time_line(
    starts: Sequence[datetime], clinic_tz: ZoneInfo, mis_tz: ZoneInfo, *, capped: bool = False
) -> str | None:
    if not starts:
        return None
    opens, closes = OPENING
    outside = sum(1 for s in starts if not opens <= s.astimezone(clinic_tz).time() < closes)
    first = f" (first {len(starts):,})" if capped else ""
    hours = f"{opens:%H:%M}–{closes:%H:%M} {clinic_tz.key} time"
    if outside * 2 > len(starts):
        return (
            f"⚠ visit times: {outside:,} of {len(starts):,} visits{first} start outside "
            f"{hours} (the configuration has no opening hours; Kabinet assumes these) — is "
            f"clinic.timezone right, and mis.timezone, the zone of the MIS server's clock "
            f"(read as {mis_tz.key})?"
        )
    within = len(starts) - outside
    return f"✓ visit times: {within:,} of {len(starts):,} visits{first} start within {hours}"


def _entity_of(profile: Profile, record: str) -> str | None:
    """The profile's query of `record`s: the one named so, else the first that yields them."""
    if record in profile.entities:
        return record
    return next((name for name, q in profile.entities.items() if q.record == record), None)


def _sample(connector: SqlConnector, entity: str, limit: int) -> list[object] | None:
    try:
        return connector.sample(entity, None, limit)
    except ConnectorError:
        return None  # the query's own line above says what failed
