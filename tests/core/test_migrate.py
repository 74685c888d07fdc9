from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.db import make_engine
from core.migrate import UnsupportedUpgrade, current_revision, head_revision, upgrade


def test_upgrade_from_empty_twice_and_sqlite_pragmas(tmp_path: Path, store_url: str) -> None:
    engine = make_engine(store_url)
    before, after = upgrade(engine, tmp_path / "m.lock")
    assert before is None and after == head_revision()
    assert upgrade(engine, tmp_path / "m.lock") == (head_revision(), head_revision())
    assert "outbox" in inspect(engine).get_table_names()
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_database_from_a_newer_release_is_refused(tmp_path: Path, store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, tmp_path / "m.lock")
    with engine.begin() as c:
        # One row per head: while branches await their merge there are several.
        c.execute(text("DELETE FROM alembic_version"))
        c.execute(text("INSERT INTO alembic_version (version_num) VALUES ('9999_future')"))
    with pytest.raises(UnsupportedUpgrade, match="newer Kabinet"):
        upgrade(engine, tmp_path / "m.lock")
    assert current_revision(engine) == "9999_future"  # untouched
    engine.dispose()


def test_models_and_migrations_agree(tmp_path: Path, store_url: str) -> None:
    """A model change without its migration would break every upgraded install."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from core.db import Base
    from core.patients.search import INDEX_TABLES
    from core.reports.cache import TABLE

    def modelled(name: str | None, kind: str, parent: object) -> bool:
        # The search's FTS5 table and its shadow tables, and the reports' token: tables of
        # SQLite triggers (migration 0019), not models.
        return not (kind == "table" and (name in INDEX_TABLES or name == TABLE))

    engine = make_engine(store_url)
    upgrade(engine, tmp_path / "m.lock")
    with engine.connect() as c:
        opts = {"compare_type": True, "include_name": modelled}
        diff = compare_metadata(MigrationContext.configure(c, opts=opts), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_store_of_the_release_with_two_branches_comes_to_the_merged_line(
    tmp_path: Path, store_url: str
) -> None:
    """The previous release left both 0002 branches applied (two rows in alembic_version);
    this one merges them: the store upgrades, keeps its rows, and has one head."""
    from alembic import command

    from core.migrate import _alembic_config

    engine = make_engine(store_url)
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002_delivery")
        command.upgrade(cfg, "0002_loyalty")
    assert current_revision(engine) == "0002_delivery+0002_loyalty"
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO kv (key, value, updated_at) VALUES ('kept', '\"yes\"', '2026-11-01')")
        )
    # ...and on to the head, through the one line that follows the merge.
    assert upgrade(engine, tmp_path / "m.lock") == ("0002_delivery+0002_loyalty", head_revision())
    assert "+" not in head_revision()
    with engine.connect() as c:
        assert (
            c.execute(text("SELECT CAST(value AS TEXT) FROM kv WHERE key = 'kept'")).scalar()
            == '"yes"'
        )
    engine.dispose()
