"""Kept reports (core/reports/cache.py): given again while their data stay the same, and
computed anew at once after any write to what they read, whoever writes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event, text, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import transaction
from core.models import Subscriber, Task
from core.reports import cache, connections, economics, response_times
from core.reports.model import Report
from core.reports.period import Period
from tests.conftest import make_config
from tests.core.loyalty_world import T0, World

pytestmark = pytest.mark.clock

MOSCOW = ZoneInfo("Europe/Moscow")
PERIOD = Period(date(2026, 3, 1), date(2026, 4, 30), MOSCOW)


@pytest.fixture
def world(tmp_path: Path, factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    cache.forget()
    config = make_config(tmp_path, loyalty={"cashback_percent": 10, "staff_connect_points": 50})
    with World(factory, config) as w:
        w.patient("a")
        w.pay("a", "1000")
        w.connect("a")
        yield w
    cache.forget()


def _both(s: Session, w: World) -> tuple[Report, Report]:
    return economics.report(s, w.config, PERIOD), connections.report(s, PERIOD)


def _figures(report: Report) -> dict[str, object]:
    return {f.key: f.value for f in report.figures}


def test_a_report_is_kept_until_a_write_changes_its_data(world: World) -> None:
    w = world
    with w.factory() as s:
        first = _both(s, w)
        if cache.token(s) is None:
            # PostgreSQL: nothing is kept, each request computes.
            assert _both(s, w)[0] is not first[0]
            return
        again = _both(s, w)
    assert again[0] is first[0] and again[1] is first[1]  # the same objects: kept
    assert _figures(first[0])["cost"] == Decimal(100)
    assert _figures(first[1])["connected"] == 1

    w.pay("a", "2000")  # a ledger entry and a payment: Экономика changes at once
    with w.factory() as s:
        paid = _both(s, w)
    assert _figures(paid[0])["cost"] == Decimal(300)
    assert paid[1] is not first[1]  # the token is one for the store: recomputed, equal
    assert _figures(paid[1]) == _figures(first[1])

    w.patient("b")
    w.connect("b")
    with w.factory() as s:
        assert _figures(connections.report(s, PERIOD))["connected"] == 2

    # The MIS sync writes through the driver, not the ORM: a refund in full is seen too.
    with w.factory() as s:
        before = economics.report(s, w.config, PERIOD)
    with transaction(w.factory) as s:
        s.execute(text("UPDATE payments SET reversed = 1 WHERE amount = 2000"))
    with w.factory() as s:
        after = economics.report(s, w.config, PERIOD)
    assert after is not before
    assert table_rows(after) != table_rows(before)


def table_rows(report: Report) -> list[tuple[object, ...]]:
    return [row for t in report.tables for row in t.rows]


def test_what_the_reports_do_not_read_leaves_them_kept(world: World) -> None:
    w = world
    with w.factory() as s:
        if cache.token(s) is None:
            pytest.skip("PostgreSQL keeps no reports")
        first = _both(s, w)
    with transaction(w.factory) as s:  # a chat's visit and language are written all day
        s.execute(update(Subscriber).values(last_seen_at=utcnow(), language="en"))
    with w.factory() as s:
        assert _both(s, w)[0] is first[0]
    with transaction(w.factory) as s:
        s.execute(update(Subscriber).values(start_payload="clinic_qr"))
    with w.factory() as s:
        assert connections.report(s, PERIOD) is not first[1]


def test_other_settings_or_another_period_are_other_reports(world: World) -> None:
    w = world
    other = make_config(Path(w.config.storage.data_dir), loyalty={"cashback_percent": 10, "point_value_rub": 2})  # fmt: skip
    with w.factory() as s:
        mine = economics.report(s, w.config, PERIOD)
        theirs = economics.report(s, other, PERIOD)
        longer = Period(PERIOD.first - timedelta(days=31), PERIOD.last, MOSCOW)
        assert economics.report(s, w.config, longer) is not mine
    assert _figures(theirs)["cost"] == 2 * _figures(mine)["cost"]  # type: ignore[operator]


def test_every_table_the_kept_reports_read_is_watched(world: World) -> None:
    """A report that starts reading another table would be kept past that table's
    changes: the SQL they run names only tables with the migration's triggers."""
    w = world
    with w.factory() as s:
        if cache.token(s) is None:
            pytest.skip("PostgreSQL keeps no reports")
        triggers = {
            row[0]
            for row in s.execute(text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"))
        }
        assert set(cache.WATCHED) <= triggers
        read: set[str] = set()

        def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            read.update(re.findall(r"(?:FROM|JOIN)\s+\"?(\w+)", statement))

        engine = s.get_bind().engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            cache.forget()
            _both(s, w)
            response_times.report(s, PERIOD)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert read - {cache.TABLE} <= set(cache.WATCHED), read - set(cache.WATCHED)
    assert {"ledger_entries", "payments", "patient_links", "tasks"} <= read


def test_response_times_are_kept_until_a_task_changes(world: World) -> None:
    """A new episode, its first answer and its closing each show at once; so does a raw
    update (a migration or a repair writes through SQL)."""
    from core.conversations.threads import Incoming, receive, reply
    from core.tasks import transition
    from tests.core.people import chat_for, patient

    w = world

    def figures() -> dict[str, object]:
        with w.factory() as s:
            return _figures(response_times.report(s, PERIOD))

    with w.factory() as s:
        if cache.token(s) is None:
            pytest.skip("PostgreSQL keeps no reports")
        first = response_times.report(s, PERIOD)
        assert response_times.report(s, PERIOD) is first
    assert _figures(first)["episodes"] == 0
    with time_machine.travel(T0 + timedelta(hours=1), tick=False) as clock:
        with transaction(w.factory) as s:
            sub = chat_for(s, patient(s, "rt1"))
            task_id = receive(s, w.config, sub, Incoming(telegram_message_id=1, text="?")).task.id
        assert figures()["episodes"] == 1 and figures()["first-median"] is None
        clock.shift(timedelta(minutes=3))
        with transaction(w.factory) as s:
            reply(s, s.get(Task, task_id), "Ответ", author="Ольга")
        assert figures()["first-median"] == Decimal(3)
        with transaction(w.factory) as s:
            transition(s, s.get(Task, task_id), "done", "Ольга")
        assert figures()["resolved"] == 1
    with transaction(w.factory) as s:
        s.execute(text("UPDATE tasks SET state = 'open'"))
    assert figures()["resolved"] == 0


def test_the_time_t0_is_inside_the_period() -> None:
    assert PERIOD.start <= T0 < PERIOD.end  # the world's payments fall in the report
