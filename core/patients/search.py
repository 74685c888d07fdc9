"""The panel's patient search by surname, without reading every patient.

A surname matches wherever the typed text is in it, which no ordinary index serves: on
SQLite the store keeps a trigram index of the surnames (FTS5, migration 0019: the
`patient_search` table, kept in step with `patients` by triggers, so every writer — the
MIS sync's driver-level inserts and updates, the ORM, a bulk fill — updates it in the same
transaction). It only narrows the candidates: the condition that decides is the one the
panel always had, so the results are the same with or without it.

The index folds case for every alphabet (Cyrillic too, where SQLite's LIKE folds ASCII
only) and holds ё as е, so its candidates are all the rows the exact condition can accept,
and a few more that it then drops. A text shorter than three characters has no trigram,
and PostgreSQL has no such table: there the exact condition reads every patient, as before.

A later migration that rebuilds `patients` (Alembic's batch mode on SQLite copies it into a
new table) drops the triggers with the old table and must create them again:
tests/core/test_patient_search.py, run at the head, would find the index out of step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, column, or_, select, table
from sqlalchemy.orm import Session

from core.models import Patient, PatientPhone

INDEX = "patient_search"
# The FTS5 table and the shadow tables SQLite keeps for it: not models, so the check that
# models and migrations agree leaves them out (tests/core/test_migrate.py).
INDEX_TABLES = frozenset(
    {INDEX} | {f"{INDEX}_{part}" for part in ("data", "idx", "content", "docsize", "config")}
)
TRIGRAM = 3

_index = table(INDEX, column("rowid", Integer), column("name", String))


def spellings(query: str) -> list[str]:
    """The ways people type a surname: SQLite's lower() and LIKE fold ASCII only, so
    "иванова" would never find "Иванова" by LIKE alone (and PostgreSQL's LIKE folds
    nothing). Each is matched as it is."""
    return sorted({query, query.lower(), query.upper(), query.capitalize(), query.title()})


def _phrase(text: str) -> str:
    # An FTS5 string: inside double quotes everything is literal, a quote is doubled.
    return '"' + text.replace("ё", "е").replace("Ё", "Е").replace('"', '""') + '"'


def condition(session: Session, query: str, phone: str | None) -> ColumnElement[bool]:
    """Which patients a search for `query` finds: the surname contains one of its
    spellings, the MIS id is it, or (`phone`, the query read as a phone) a phone is it."""
    forms = spellings(query)
    exact = [Patient.last_name.contains(form, autoescape=True) for form in forms]
    exact.append(Patient.mis_id == query)
    by_phone: Select[Any] | None = None
    if phone:
        by_phone = select(PatientPhone.patient_id).where(PatientPhone.phone == phone)
        exact.append(Patient.id.in_(by_phone))
    matches = or_(*exact)
    # (FTS5 reads a query string up to a NUL only: "unterminated string".)
    short = min(map(len, forms)) < TRIGRAM or "\x00" in query
    if short or session.get_bind().dialect.name != "sqlite":
        return matches
    # The candidates, a few rows read through indexes, then the exact condition on them:
    # SQLite takes `id IN (…)` as rowid look-ups and so never scans the table.
    found = " OR ".join(_phrase(form) for form in forms)
    parts: list[Select[Any]] = [
        select(_index.c.rowid).where(_index.c.name.match(found)),
        select(Patient.id).where(Patient.mis_id == query),
    ]
    if by_phone is not None:
        parts.append(by_phone)
    candidates = parts[0].union_all(*parts[1:])
    return Patient.id.in_(candidates) & matches
