"""The panel's patient search through its trigram index: the same patients as reading every
one, whoever wrote them and however, and on SQLite without reading the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import Patient, PatientPhone
from core.patients import search

# Cyrillic in both cases with ё, ASCII, and what LIKE or FTS5 would read as syntax.
_LETTERS = "аАбБеЕёЁиИвВнНоОaAbBsS -'\"%_*^:()\\"
_names = st.text(alphabet=_LETTERS, max_size=8)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _found(s: Session, query: str, phone: str | None = None) -> set[str]:
    stmt = select(Patient.mis_id).where(search.condition(s, query, phone))
    return set(s.scalars(stmt))


def _expected(s: Session, query: str) -> set[str]:
    """What the search has always meant, worked out in Python over every patient: the
    surname holds one of the query's spellings (SQLite's LIKE folds ASCII case only,
    PostgreSQL's none), or the MIS id is the query."""
    sqlite = s.get_bind().dialect.name == "sqlite"

    def fold(value: str) -> str:
        return value.translate(_ASCII_LOWER) if sqlite else value

    rows = s.execute(select(Patient.mis_id, Patient.last_name)).all()
    forms = [fold(form) for form in search.spellings(query)]
    return {
        mis_id
        for mis_id, name in rows
        if mis_id == query or any(form in fold(name) for form in forms)
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(_names, min_size=1, max_size=12),
    renamed=st.lists(_names, max_size=4),
    queries=st.lists(
        st.one_of(
            st.text(alphabet=_LETTERS, max_size=5),
            st.tuples(_names, st.integers(0, 8), st.integers(0, 8), st.booleans()).map(
                # A piece of a surname, as typed in another case or as it is.
                lambda t: t[0][t[1] : t[1] + t[2]].swapcase() if t[3] else t[0][t[1] :]
            ),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_index_finds_what_reading_every_patient_finds(
    factory: sessionmaker[Session], names: list[str], renamed: list[str], queries: list[str]
) -> None:
    with factory() as s:
        for n, name in enumerate(names):  # through the ORM, as the panel writes
            s.add(Patient(mis_id=f"m{n}", last_name=name))
        s.flush()
        # Through the driver, as the MIS sync writes: an insert, renames, a delete.
        s.execute(
            text("INSERT INTO patients (mis_id, last_name, first_name, middle_name, phones,"
                 " status, messaging_allowed, content_hash, updated_at) VALUES ('sync', :n, '',"
                 " '', '[]', 'active', true, '', CURRENT_TIMESTAMP)"),
            {"n": renamed[0] if renamed else "Ёлкина"},
        )  # fmt: skip
        for n, name in enumerate(renamed[1:]):
            s.execute(update(Patient).where(Patient.mis_id == f"m{n}").values(last_name=name))
        if len(names) > 2:
            s.execute(delete(Patient).where(Patient.mis_id == "m2"))
        for query in [*queries, *names[:3]]:
            assert _found(s, query) == _expected(s, query), query
        s.rollback()


def test_cyrillic_case_and_yo_are_found_and_a_phone_too(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        for mis_id, name in (("1", "Иванова"), ("2", "Ёлкина"), ("3", "Соловьёва"), ("4", "Smith")):
            s.add(Patient(mis_id=mis_id, last_name=name))
        s.flush()
        s.add(PatientPhone(phone="79123456789", patient_id=s.scalar(select(Patient.id).where(Patient.mis_id == "4"))))  # fmt: skip
    with factory() as s:
        assert _found(s, "иванова") == _found(s, "ИВАНОВА") == _found(s, "Иван") == {"1"}
        assert _found(s, "ёлкина") == _found(s, "ЁЛК") == {"2"}
        assert _found(s, "ьёва") == {"3"}
        assert _found(s, "ьева") == set()  # е is not ё: the exact condition decides
        assert _found(s, "smith") == _found(s, "MITH") == {"4"}
        assert _found(s, "+7 912 345-67-89", "79123456789") == {"4"}
        assert _found(s, "3") == {"3"}  # the MIS id
        assert _found(s, 'ва"') == _found(s, "%ова") == set()
        if s.get_bind().dialect.name == "sqlite":
            # FTS5 reads a query up to a NUL and calls the rest unterminated: such a query
            # is left to the exact condition alone, which finds nobody, rather than a 500.
            assert _found(s, "Иван\x00") == set()


def test_a_search_on_sqlite_reads_no_patient_it_does_not_find(
    factory: sessionmaker[Session],
) -> None:
    with factory() as s:
        if s.get_bind().dialect.name != "sqlite":
            pytest.skip("PostgreSQL has no such index: its search reads every patient")
        plans = {}
        for query in ("Иванова", "ив"):
            stmt = select(Patient.id).where(search.condition(s, query, "79123456789"))
            sql = str(stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
            plans[query] = " / ".join(
                row[3] for row in s.execute(text("EXPLAIN QUERY PLAN " + sql))
            )
    assert "SCAN patients" not in plans["Иванова"], plans["Иванова"]
    assert "patient_search VIRTUAL TABLE" in plans["Иванова"], plans["Иванова"]
    assert "SCAN patients" in plans["ив"]  # two letters: no trigram, every patient read


def test_the_migration_indexes_the_patients_already_there(tmp_path: Path, store_url: str) -> None:
    from alembic import command

    from core.migrate import _alembic_config

    engine = make_engine(store_url)
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0018_review_offers")
    with transaction(session_factory(engine)) as s:
        s.add_all([Patient(mis_id="1", last_name="Ёлкина"), Patient(mis_id="2", last_name="Ли")])
    upgrade(engine, tmp_path / "m.lock")
    with session_factory(engine)() as s:
        assert _found(s, "ёлкина") == _found(s, "ЁЛКИНА") == {"1"}
        assert _found(s, "Ли") == {"2"}
        if engine.dialect.name == "sqlite":
            indexed = s.execute(text("SELECT rowid, name FROM patient_search ORDER BY rowid"))
            assert [tuple(r) for r in indexed] == [(1, "Елкина"), (2, "Ли")]
    engine.dispose()
