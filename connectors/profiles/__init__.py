"""Profiles: the SQL and mappings for one MIS, as TOML data files beside this module.

Each `[entity.NAME]` table is one query. NAME is a canonical entity (doctor, patient,
appointment, payment, payment_reversal, deletion) or any other name with `record = "..."`
saying which canonical record its rows are, so one record type can be read by several
queries with different change-detection strategies (Open Dental appointments: the
appointment table for the initial import and new rows, histappointment for changes).

The SQL never writes a parameter itself; macros do, in the engine's own form:

  {limit}                   the batch size
  {after(col)}              strategy "monotonic": col > the cursor. In T-SQL `col` is a
                            rowversion: compared as BINARY(8) so its index is used, and
                            below MIN_ACTIVE_ROWVERSION() so a row of a transaction still
                            open (which got a lower rowversion than rows already committed)
                            is not skipped for ever.
  {after_key(col)}          strategy "monotonic" over a plain integer key (identity,
                            autoincrement, a history table's id): col > the cursor.
  {changed(ts, key)}        strategy "timestamp": rows whose change time `ts` is after the
                            cursor, keyset-paged by `key` so a thousand rows stamped in the
                            same second cannot stall the read. Each poll starts
                            `overlap_seconds` before the cursor (a transaction that commits
                            late, a workstation whose clock is behind); rows read twice are
                            recognised by their content hash and produce nothing.
  {window(date, key)}       strategy "window": every row with `date` in the last
                            `window_days` (and in the future), paged by `key`. Rows of the
                            mirror in that window that the read did not return were deleted
                            in the MIS (appointment -> cancelled, payment -> reversed). Read
                            at most every `reread_seconds`.

A profile may also say how a patient's confirmation of a visit is written back to the MIS
(`[confirm]`: the one column it sets, the UPDATE of one row by the visit's key with
`{visit_id}`, and optionally `value_sql`, a query for the value the UPDATE sets as
`{value}`). A profile without it cannot write back; see ConfirmWrite.

Every query returns canonical column names (AS mis_id, AS starts_at, ...) and the cursor
as `sync_cursor` (`cursor` is accepted too, but it is a reserved word in Firebird and
MySQL), plus `sync_key` for the timestamp strategy's tie-breaker.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from connectors.base import ENTITIES, ConnectorError

PROFILE_DIR = Path(__file__).resolve().parent

STRATEGIES = ("monotonic", "timestamp", "window")
# What a window read compares the mirror on: the canonical field its date column feeds.
WINDOW_FIELDS = {"appointment": "starts_at", "payment": "paid_at"}

_MACRO = re.compile(r"\{(after|after_key|changed|window)\(([^)]*)\)\}")
_STRATEGY_MACROS = {
    "monotonic": ("after", "after_key"),
    "timestamp": ("changed",),
    "window": ("window",),
}


@dataclass(frozen=True)
class EntityQuery:
    sql: str
    # the canonical record its rows are (defaults to the entity's own name)
    record: str = ""
    strategy: str = "monotonic"
    # canonical field -> column name in the result, where the SQL does not alias it already
    columns: dict[str, str] = field(default_factory=dict)
    # raw MIS value (as text) -> canonical value, e.g. Open Dental AptStatus "5" -> "no_show"
    status_map: dict[str, str] = field(default_factory=dict)
    method_map: dict[str, str] = field(default_factory=dict)
    initial_cursor: str = "0"
    # monotonic: where a fresh cursor starts, e.g. the history table's current maximum when
    # another query imports the current state ("history is not news").
    start_sql: str = ""
    overlap_seconds: int = 120
    window_days: int = 30
    reread_seconds: int = 300
    # how the window's start is passed: "datetime" or "date" (a DATE column)
    window_param: str = "datetime"
    # a window read that would delete more than this share of the window's rows (and more
    # than 20) is refused: an empty result from a broken override must not cancel a week.
    max_sweep_fraction: float = 0.5


@dataclass(frozen=True)
class Rendered:
    sql: str
    # what each placeholder is, in order: cursor | ts | key | window_start
    slots: tuple[str, ...]


@dataclass(frozen=True)
class ConfirmWrite:
    """How a confirmation is written back: `sql` updates exactly `column` of the one row
    whose key is the visit's MIS id (`{visit_id}`), to a constant or to `{value}`, which
    `value_sql` reads first in the same transaction (Open Dental: the office's own
    "confirmed" definition). Never more than one row: the driver checks the row count."""

    column: str
    sql: str
    value_sql: str = ""


_CONFIRM_MACRO = re.compile(r"\{(visit_id|value)\}")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    dialect: str  # sqlglot dialect the SQL is written in ("firebird": not transpiled)
    driver: str  # key in connectors.registry.DRIVERS
    entities: dict[str, EntityQuery]
    confirm: ConfirmWrite | None = None

    def render_confirm(self, target_dialect: str) -> tuple[str, str, tuple[str, ...]]:
        """The confirmation write in the engine's dialect: (value_sql, sql, slots), where
        slots say what each `?` of sql is (visit_id | value)."""
        if self.confirm is None:
            raise ConnectorError(
                f"profile {self.name!r} cannot write confirmations back (no [confirm])",
                retryable=False,
                kind="unsupported",
            )
        slots = tuple(m.group(1) for m in _CONFIRM_MACRO.finditer(self.confirm.sql))
        sql = _CONFIRM_MACRO.sub("?", self.confirm.sql)
        value_sql = self.confirm.value_sql
        if target_dialect != self.dialect:
            sql = _transpile(sql, self.dialect, target_dialect)
            if value_sql:
                value_sql = _transpile(value_sql, self.dialect, target_dialect)
        return value_sql, sql, slots

    def render(self, entity: str, limit: int, target_dialect: str) -> Rendered:
        """The entity's SQL with the batch size and cursor conditions filled in, in the
        engine's own dialect, and what its placeholders stand for."""
        return _render(self.entities[entity].sql, int(limit), self.dialect, target_dialect)

    def sql_for(self, entity: str, limit: int, target_dialect: str) -> str:
        return self.render(entity, limit, target_dialect).sql

    def render_start(self, entity: str, target_dialect: str) -> str:
        return _render(self.entities[entity].start_sql, 1, self.dialect, target_dialect).sql


@lru_cache(maxsize=512)
def _render(sql: str, limit: int, source: str, target: str) -> Rendered:
    slots: list[str] = []

    def macro(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",") if a.strip()]
        text, names = _macro(name, args, target)
        slots.extend(names)
        return text

    out = _MACRO.sub(macro, sql.replace("{limit}", str(limit)))
    if target != source:
        out = _transpile(out, source, target)
    return Rendered(out, tuple(slots))


def _macro(name: str, args: list[str], dialect: str) -> tuple[str, list[str]]:
    expected = {"after": 1, "after_key": 1, "changed": 2, "window": 2}[name]
    if len(args) != expected:
        raise ConnectorError(
            f"{{{name}(...)}} takes {expected} column name(s), got {len(args)}",
            retryable=False,
            kind="config",
        )
    if name == "after":
        (column,) = args
        if dialect == "tsql":
            # Comparing rowversion with a bigint would convert the column and scan the table.
            return (
                f"{column} > CAST(CAST(? AS BIGINT) AS BINARY(8))"
                f" AND {column} < MIN_ACTIVE_ROWVERSION()",
                ["cursor"],
            )
        return f"{column} > ?", ["cursor"]
    if name == "after_key":
        return f"{args[0]} > ?", ["cursor"]
    # pyodbc sends a Python datetime as datetime2, which SQL Server would compare by
    # converting a `datetime` column, row by row; IDENT's columns are `datetime`.
    when = "CAST(? AS DATETIME)" if dialect == "tsql" else "?"
    if name == "changed":
        ts, key = args
        # The first condition alone is what an index on `ts` serves; the second breaks ties.
        return f"{ts} >= {when} AND ({ts} > {when} OR {key} > ?)", ["ts", "ts", "key"]
    date_col, key = args
    return f"{date_col} >= {when} AND {key} > ?", ["window_start", "key"]


@lru_cache(maxsize=256)
def _transpile(sql: str, read: str, write: str) -> str:
    # Imported here: only a profile read by another engine than its own needs it, and it
    # costs the long-running process ~10 MB.
    import sqlglot

    (out,) = sqlglot.transpile(sql, read=read, write=write)
    # pyodbc and sqlite3 take qmark placeholders whatever the engine.
    return out.replace("%s", "?")


_INT_KEYS = ("overlap_seconds", "window_days", "reread_seconds")
_KNOWN_KEYS = {
    "sql",
    "record",
    "strategy",
    "columns",
    "status_map",
    "method_map",
    "initial_cursor",
    "start_sql",
    "window_param",
    "max_sweep_fraction",
    "enabled",
    *_INT_KEYS,
}


def _entity(name: str, raw: dict[str, Any], source: str) -> EntityQuery:
    def bad(problem: str) -> ConnectorError:
        return ConnectorError(
            f"{source}: entity {name!r}: {problem}", retryable=False, kind="config"
        )

    if "sql" not in raw or not str(raw["sql"]).strip():
        raise bad("has no sql")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise bad(
            f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(_KNOWN_KEYS))}"
        )
    record = str(raw.get("record", name if name in ENTITIES else ""))
    if record not in ENTITIES:
        raise bad(f"record = {record!r}: expected one of {', '.join(ENTITIES)}")
    strategy = str(raw.get("strategy", "monotonic"))
    if strategy not in STRATEGIES:
        raise bad(f"strategy = {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    sql = str(raw["sql"])
    used = {m.group(1) for m in _MACRO.finditer(sql)}
    wanted = _STRATEGY_MACROS[strategy]
    if not used & set(wanted) or used - set(wanted):
        raise bad(
            f"strategy {strategy!r} needs "
            + " or ".join("{" + m + "(...)}" for m in wanted)
            + " in its sql, and no other cursor macro"
        )
    if strategy == "window" and record not in WINDOW_FIELDS:
        raise bad(f"a window read compares {', '.join(WINDOW_FIELDS)} records only")
    window_param = str(raw.get("window_param", "datetime"))
    if window_param not in ("date", "datetime"):
        raise bad(f"window_param = {window_param!r}: expected 'date' or 'datetime'")
    numbers: dict[str, int] = {}
    for key in _INT_KEYS:
        if key in raw:
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(f"{key} = {value!r}: expected a whole number of 0 or more")
            numbers[key] = value
    return EntityQuery(
        sql=sql,
        record=record,
        strategy=strategy,
        columns={str(k): str(v).lower() for k, v in raw.get("columns", {}).items()},
        status_map={str(k): str(v) for k, v in raw.get("status_map", {}).items()},
        method_map={str(k): str(v) for k, v in raw.get("method_map", {}).items()},
        initial_cursor=str(raw.get("initial_cursor", "0")),
        start_sql=str(raw.get("start_sql", "")),
        window_param=window_param,
        max_sweep_fraction=float(raw.get("max_sweep_fraction", 0.5)),
        **numbers,
    )


def _confirm(raw: dict[str, Any], source: str) -> ConfirmWrite | None:
    def bad(problem: str) -> ConnectorError:
        return ConnectorError(f"{source}: [confirm]: {problem}", retryable=False, kind="config")

    if raw.get("enabled", True) is False:
        return None
    unknown = sorted(set(raw) - {"column", "sql", "value_sql", "enabled"})
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)}; expected column, sql, value_sql")
    column = str(raw.get("column", "")).strip()
    sql = str(raw.get("sql", "")).strip()
    value_sql = str(raw.get("value_sql", "")).strip()
    if not column:
        raise bad("column = '': name the one column the write sets, e.g. 'Receptions.IsNotified'")
    if not re.match(r"(?is)^update\s", sql) or ";" in sql:
        raise bad("sql: expected one UPDATE statement")
    used = [m.group(1) for m in _CONFIRM_MACRO.finditer(sql)]
    if used.count("visit_id") != 1:
        raise bad("sql: expected {visit_id} once, in the WHERE on the visit's key")
    if ("value" in used) != bool(value_sql):
        raise bad("sql uses {value} exactly when value_sql is given")
    if value_sql and (not re.match(r"(?is)^select\s", value_sql) or ";" in value_sql):
        raise bad("value_sql: expected one SELECT returning the value")
    return ConfirmWrite(column=column, sql=sql, value_sql=value_sql)


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConnectorError(
            f"{what}: cannot read {path}: {exc}", retryable=False, kind="config"
        ) from None


def known_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name: str, override_file: str | Path | None = None) -> Profile:
    """Load a built-in profile; an override file may replace any entity's keys, add an
    entity, or switch one off with `enabled = false`."""
    path = PROFILE_DIR / f"{name}.toml"
    if not path.exists():
        raise ConnectorError(
            f"unknown MIS profile {name!r}; known: {', '.join(known_profiles())}",
            retryable=False,
            kind="config",
        )
    data = _read_toml(path, "profile")
    if "extends" in data.get("profile", {}):
        base = _read_toml(PROFILE_DIR / f"{data['profile']['extends']}.toml", "profile")
        merged_entities = dict(base.get("entity", {}))
        for key, value in data.get("entity", {}).items():
            merged_entities[key] = {**merged_entities.get(key, {}), **value}
        data = {
            "profile": {**base["profile"], **data["profile"]},
            "entity": merged_entities,
            "confirm": {**base.get("confirm", {}), **data.get("confirm", {})},
        }
    entities_raw: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in data.get("entity", {}).items()
    }
    source = str(path)
    confirm_raw: dict[str, Any] = dict(data.get("confirm", {}))
    if override_file:
        overrides = _read_toml(Path(override_file), "mis.profile_overrides")
        unknown = set(overrides) - {"entity", "confirm"}
        if unknown:
            raise ConnectorError(
                f"mis.profile_overrides {override_file}: unknown table(s) "
                f"{', '.join(sorted(unknown))}; only [entity.NAME] tables and a [confirm] table are read",
                retryable=False,
                kind="config",
            )
        for key, value in overrides.get("entity", {}).items():
            entities_raw[key] = {**entities_raw.get(key, {}), **value}
        confirm_raw.update(overrides.get("confirm", {}))
        source = f"{path} + {override_file}"
    meta = data["profile"]
    return Profile(
        name=name,
        description=meta.get("description", ""),
        dialect=meta["dialect"],
        driver=meta["driver"],
        entities={
            k: _entity(k, v, source)
            for k, v in entities_raw.items()
            if v.get("enabled", True) is not False
        },
        confirm=_confirm(confirm_raw, source) if confirm_raw else None,
    )
