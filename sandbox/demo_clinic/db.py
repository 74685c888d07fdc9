"""SQLite plumbing shared by the generator, the DemoClinic API and the simulator."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from importlib import resources
from pathlib import Path

ROWVERSION_TABLES: tuple[str, ...] = (
    "Patients",
    "Staffs",
    "Receptions",
    "PaymentsIn",
    "PaymentsOut",
)

DT_FORMAT = "%Y-%m-%d %H:%M:%S"


def schema_text() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def schema_sections() -> dict[str, str]:
    """schema.sql split at its "-- section: NAME" markers, in file order."""
    sections: dict[str, list[str]] = {"preamble": []}
    current = "preamble"
    for line in schema_text().splitlines():
        if line.startswith("-- section:"):
            current = line.split(":", 1)[1].strip()
            sections[current] = []
        else:
            sections[current].append(line)
    return {name: "\n".join(lines) + "\n" for name, lines in sections.items()}


def connect(path: str | Path, *, timeout: float = 10.0) -> sqlite3.Connection:
    """A connection in autocommit mode; callers open transactions explicitly.

    Explicit BEGIN IMMEDIATE keeps each DemoClinic call one short write transaction
    and makes a concurrent writer wait (busy timeout) rather than fail mid-way.
    """
    con = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return con


def create_schema(con: sqlite3.Connection) -> None:
    """Create every table, index and trigger (an empty demo clinic)."""
    for name, sql in schema_sections().items():
        if name != "preamble":
            con.executescript(sql)


def fmt_dt(value: datetime) -> str:
    """SQL Server `datetime` as text, to the second (the demo never needs more)."""
    return value.strftime(DT_FORMAT)


def parse_dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value[:19], DT_FORMAT)


def fmt_birthday(value: date) -> str:
    """IDENT keeps birthdays as 'dd.mm.yyyy' text."""
    return value.strftime("%d.%m.%Y")


def parse_birthday(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%d.%m.%Y").date()
    except ValueError:
        return None
