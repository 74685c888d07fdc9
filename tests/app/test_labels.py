"""Every kind of task and of outgoing message the code creates has its Russian name in
app/labels.py, and stored values are shown the Russian way."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.labels import OUTBOX_KINDS, TASK_KINDS, outbox_kind, plain, task_kind

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "bot_handlers", "jobs", "app", "connectors")


def _kinds_passed_to(functions: set[str]) -> set[str]:
    """The constant `kind=` of every call to one of `functions` in the product code."""
    found: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in functions:
                    continue
                for kw in node.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        found.add(str(kw.value.value))
    return found


def test_every_task_kind_the_code_opens_has_a_russian_name() -> None:
    kinds = _kinds_passed_to({"create_task"})
    assert {"message", "reschedule"} <= kinds  # the scan finds them at all
    assert kinds - set(TASK_KINDS) == set()


def test_every_outgoing_kind_the_code_enqueues_has_a_russian_name() -> None:
    kinds = _kinds_passed_to({"enqueue"})
    assert {"reply", "rating"} <= kinds
    assert kinds - set(OUTBOX_KINDS) == set()


def test_a_kind_not_named_yet_reads_as_russian_with_its_internal_name_as_code() -> None:
    assert str(task_kind("reschedule")) == "перенос визита"
    assert str(task_kind("brand_new")) == "задача <code>brand_new</code>"
    assert str(outbox_kind("<b>")) == "сообщение <code>&lt;b&gt;</code>"


MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        ("", "—"),
        (True, "да"),
        ("False", "нет"),
        ("2026-12-02T06:23:37.165970+00:00", "02.12.2026 09:23:37"),
        (datetime(2026, 12, 31, 21, 0, tzinfo=UTC), "01.01.2027 00:00:00"),
        ("2026-03-10 10:00", "10.03.2026 10:00:00"),
        ("Иванова", "Иванова"),
        (15, "15"),
    ],
)
def test_stored_values_are_shown_the_russian_way(value: object, shown: str) -> None:
    assert plain(value, MOSCOW) == shown


def test_every_action_and_table_the_journal_can_show_has_a_russian_name(app) -> None:  # type: ignore[no-untyped-def]
    """An audit entry's action is the endpoint that made the change (app/audit.py): every
    route that takes a POST is named, and so is every table a change can touch."""
    from app.labels import AUDIT_ACTIONS, AUDIT_TABLES
    from core.db import Base

    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in (r.methods or set())}
    assert posts - set(AUDIT_ACTIONS) == set()
    assert {"auth.login_failed", "auth.locked", "auth.logout"} <= set(AUDIT_ACTIONS)
    assert set(Base.metadata.tables) - set(AUDIT_TABLES) == set()
    assert all(
        not any("a" <= ch.lower() <= "z" for ch in name.replace("Telegram", "").replace("MAX", ""))
        for name in AUDIT_ACTIONS.values()
    )
