"""Reports computed once and kept until their data change (SQLite).

«Экономика бонусов», «Подключение пациентов» and «Время ответа» read tens of thousands of
rows for a period (60-80 ms at bench/panel.py's 1,000,000 ledger entries, 140-200 ms for
its 16,000 episodes in 12 weeks), and while one is computed
the web worker's other requests wait for the GIL. Their data change only when somebody
writes to the tables they read, so the report of a period is kept with a token of those
tables' state and given again while the token stays the same.

The token is `report_version.token` (migration 0019): triggers on every table a kept
report reads set it to a new random 64-bit number on each insert, delete and relevant
update, whoever writes (the MIS sync writes through the driver, not the ORM). A random
number rather than a counter: a store restored from a backup brings back a token whose
state is exactly the restored data, never one that later data also had. The token is read
before the report: a write committed meanwhile leaves the report under the older token,
which no later state has, so it is never given for newer data.

A later migration that rebuilds one of those tables (Alembic's batch mode on SQLite) drops
its triggers and must create them again: tests/core/test_report_cache.py checks them at
the head. PostgreSQL has no such triggers: there every report is computed on each request.
Kept per process (a web worker has its own), at most `SIZE` reports, the least recently
used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.reports.model import Report

TABLE = "report_version"
# What the kept reports read (core/loyalty/reports.py's economics and leaderboard,
# core/loyalty/money.py, core/reports/connections.py, core/reports/response_times.py;
# tasks since migration 0021). A report that reads another table must not be kept until
# a migration's triggers cover it too.
WATCHED = (
    "ledger_entries",
    "loyalty_accounts",
    "loyalty_referrals",
    "loyalty_settings",
    "payments",
    "domain_events",
    "patient_links",
    "subscribers",
    "staff_users",
    "tasks",
)
SIZE = 32

_lock = threading.Lock()
_kept: OrderedDict[tuple[Hashable, ...], Report] = OrderedDict()


def token(session: Session) -> int | None:
    """The store's data token, or None where reports are not kept (PostgreSQL)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    value = session.scalar(text(f"SELECT token FROM {TABLE}"))
    return None if value is None else int(value)


def kept(session: Session, key: tuple[Hashable, ...], compute: Callable[[], Report]) -> Report:
    """The report `compute` makes, from memory when the same `key` (the report, its
    period and whatever else it depends on) was computed on the same data."""
    now = token(session)
    if now is None:
        return compute()
    full = (str(session.get_bind().engine.url), now, *key)
    with _lock:
        report = _kept.get(full)
        if report is not None:
            _kept.move_to_end(full)
            return report
    report = compute()
    with _lock:
        _kept[full] = report
        while len(_kept) > SIZE:
            _kept.popitem(last=False)
    return report


def forget() -> None:
    """Drop every kept report (tests; a process keeps them until it ends)."""
    with _lock:
        _kept.clear()


def config_key(config: Any) -> str:
    """A configuration as part of a key: its whole text (a frozen dataclass's repr names
    every value), so a report is never given for other settings."""
    return repr(config)
