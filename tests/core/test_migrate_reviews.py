"""Migration 0018 (review_offers): a store of 0017 with a rating upgrades with its rows
kept, gets the table, and downgrades back to 0017 without it (and up again)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from core.db import make_engine
from core.migrate import _alembic_config, current_revision


def _to(engine, revision: str, down: bool = False) -> None:  # type: ignore[no-untyped-def]
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _insert(engine, table: str, **given: object) -> None:  # type: ignore[no-untyped-def]
    """A row with every required column of the table as this revision has it."""
    values = dict(given)
    for column in inspect(engine).get_columns(table):
        name, kind = column["name"], str(column["type"]).upper()
        if name in values or column["nullable"] or column.get("default") is not None:
            continue
        if "INT" in kind:
            values[name] = 0
        elif "BOOL" in kind:
            values[name] = False
        elif "JSON" in kind:
            values[name] = "[]"
        elif "DATE" in kind or "TIME" in kind:
            values[name] = "2026-12-01 10:00:00.000000"
        else:
            values[name] = ""
    names = ", ".join(values)
    marks = ", ".join(f":{n}" for n in values)
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)


def test_review_offers_upgrade_and_downgrade(tmp_path: Path, store_url: str) -> None:
    engine = make_engine(store_url)
    _to(engine, "0017_report_indexes")
    _insert(engine, "subscribers", id=1, telegram_user_id=10, chat_id=10)
    _insert(engine, "visit_ratings", id=1, subscriber_id=1, review_link_offered=True)
    _to(engine, "0018_review_offers")
    assert current_revision(engine) == "0018_review_offers"
    columns = {c["name"] for c in inspect(engine).get_columns("review_offers")}
    assert columns == {
        "id", "rating_id", "patient_mis_id", "platform", "name", "url", "token", "tracked",
        "offered_at", "first_opened_at", "opens",
    }  # fmt: skip
    _insert(engine, "review_offers", rating_id=1, platform="yandex", token="t", tracked=True)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM visit_ratings")).scalar() == 1
    _to(engine, "0017_report_indexes", down=True)
    assert "review_offers" not in inspect(engine).get_table_names()
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM visit_ratings")).scalar() == 1
    _to(engine, "0018_review_offers")
    assert "review_offers" in inspect(engine).get_table_names()
    engine.dispose()
