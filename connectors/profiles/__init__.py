"""Profiles: the SQL and mappings for one MIS, as TOML data files beside this module."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlglot

from connectors.base import ConnectorError

PROFILE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class EntityQuery:
    sql: str
    # canonical field -> column name in the result, where the SQL does not alias it already
    columns: dict[str, str] = field(default_factory=dict)
    # raw MIS value (as text) -> canonical value, e.g. Open Dental AptStatus "5" -> "no_show"
    status_map: dict[str, str] = field(default_factory=dict)
    method_map: dict[str, str] = field(default_factory=dict)
    initial_cursor: str = "0"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    dialect: str  # sqlglot dialect the SQL is written in
    driver: str  # key in connectors.registry.DRIVERS
    entities: dict[str, EntityQuery]

    def sql_for(self, entity: str, limit: int, target_dialect: str) -> str:
        """The entity's SQL with the batch size filled in, in the engine's own dialect."""
        query = self.entities[entity]
        sql = query.sql.replace("{limit}", str(int(limit)))
        sql = _AFTER.sub(lambda m: _after(m.group(1), target_dialect), sql)
        if target_dialect != self.dialect:
            sql = _transpile(sql, self.dialect, target_dialect)
        return sql


_AFTER = re.compile(r"\{after\(([\w.\[\]]+)\)\}")


def _after(column: str, dialect: str) -> str:
    if dialect == "tsql":
        # Comparing rowversion with a bigint would convert the column and scan the table.
        return f"{column} > CAST(CAST(? AS BIGINT) AS BINARY(8))"
    return f"{column} > ?"


@lru_cache(maxsize=256)
def _transpile(sql: str, read: str, write: str) -> str:
    (out,) = sqlglot.transpile(sql, read=read, write=write)
    # pyodbc and sqlite3 take qmark placeholders whatever the engine.
    return out.replace("%s", "?")


def _entity(name: str, raw: dict[str, Any], source: str) -> EntityQuery:
    if "sql" not in raw or not str(raw["sql"]).strip():
        raise ConnectorError(
            f"{source}: entity {name!r} has no sql", retryable=False, kind="config"
        )
    return EntityQuery(
        sql=str(raw["sql"]),
        columns=dict(raw.get("columns", {})),
        status_map={str(k): str(v) for k, v in raw.get("status_map", {}).items()},
        method_map={str(k): str(v) for k, v in raw.get("method_map", {}).items()},
        initial_cursor=str(raw.get("initial_cursor", "0")),
    )


def load_profile(name: str, override_file: str | Path | None = None) -> Profile:
    """Load a built-in profile; an override file may replace any entity's keys."""
    path = PROFILE_DIR / f"{name}.toml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
        raise ConnectorError(
            f"unknown MIS profile {name!r}; known: {', '.join(known)}",
            retryable=False,
            kind="config",
        )
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if "extends" in data.get("profile", {}):
        base = tomllib.loads(
            (PROFILE_DIR / f"{data['profile']['extends']}.toml").read_text("utf-8")
        )
        merged_entities = dict(base.get("entity", {}))
        for key, value in data.get("entity", {}).items():
            merged_entities[key] = {**merged_entities.get(key, {}), **value}
        data = {"profile": {**base["profile"], **data["profile"]}, "entity": merged_entities}
    entities_raw: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in data.get("entity", {}).items()
    }
    if override_file:
        try:
            overrides = tomllib.loads(Path(override_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConnectorError(
                f"mis.profile_overrides: cannot read {override_file}: {exc}",
                retryable=False,
                kind="config",
            ) from None
        for key, value in overrides.get("entity", {}).items():
            entities_raw[key] = {**entities_raw.get(key, {}), **value}
    meta = data["profile"]
    return Profile(
        name=name,
        description=meta.get("description", ""),
        dialect=meta["dialect"],
        driver=meta["driver"],
        entities={k: _entity(k, v, str(path)) for k, v in entities_raw.items()},
    )
