"""How fast the clinic answers: per episode the first response and the resolution time,
and their median and 90th percentile per administrator and per week.

First response: from the episode's opening to the first staff reply (Task.first_response_at,
kept by core.conversations.threads.reply). Resolution: from the opening to done or
dismissed. Both are wall-clock time, as the patient lived it. An administrator is credited
with the first responses they gave and the episodes they closed (closing by the system —
a visit that made a task moot — is nobody's). Weeks are ISO weeks of the clinic's calendar.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cached_property

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from core.models import Task


@dataclass(frozen=True)
class Episode:
    task_id: int
    kind: str
    opened_at: datetime
    first_response_at: datetime | None
    first_response_by: str
    closed_at: datetime | None
    closed_by: str
    state: str

    # Cached: a report reads each several times (per stretch, per person, in total).
    @cached_property
    def first_response_seconds(self) -> int | None:
        if self.first_response_at is None:
            return None
        return max(int((self.first_response_at - self.opened_at).total_seconds()), 0)

    @cached_property
    def resolution_seconds(self) -> int | None:
        if self.closed_at is None or self.state not in ("done", "dismissed"):
            return None
        return max(int((self.closed_at - self.opened_at).total_seconds()), 0)


@dataclass(frozen=True)
class Figures:
    """One row of the report: a person or a week."""

    label: str
    episodes: int
    responses: int
    first_median: int | None
    first_p90: int | None
    resolved: int
    resolution_median: int | None
    resolution_p90: int | None


def percentile(values: list[int], share: float) -> int | None:
    """The nearest-rank percentile: a value that really occurred, none invented between."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


def _utc(value: datetime | str | None) -> datetime | None:
    """A stored moment as an aware UTC datetime. The moments are read as they are stored:
    on SQLite SQLAlchemy parses a DATETIME with a regular expression, which at 16,000
    episodes (12 weeks of a busy clinic) took 5 times the query itself."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def episodes(session: Session, since: datetime, until: datetime) -> list[Episode]:
    """Episodes opened in [since, until), oldest first."""
    rows = session.execute(
        select(
            Task.id,
            Task.kind,
            type_coerce(Task.created_at, String),
            type_coerce(Task.first_response_at, String),
            Task.first_response_by,
            type_coerce(Task.closed_at, String),
            Task.taken_by,
            Task.state,
        )
        .where(Task.created_at >= since, Task.created_at < until)
        .order_by(Task.created_at, Task.id)
    )
    result = []
    for task_id, kind, opened, first, first_by, closed, taken_by, state in rows:
        opened_at = _utc(opened)
        assert opened_at is not None  # the column is NOT NULL
        result.append(
            Episode(
                task_id=task_id,
                kind=kind,
                opened_at=opened_at,
                first_response_at=_utc(first),
                first_response_by=first_by or "",
                closed_at=_utc(closed),
                closed_by=(taken_by or "") if state in ("done", "dismissed") else "",
                state=state,
            )
        )
    return result


def _figures(label: str, items: list[Episode], firsts: list[int], closes: list[int]) -> Figures:
    return Figures(
        label=label,
        episodes=len(items),
        responses=len(firsts),
        first_median=percentile(firsts, 0.5),
        first_p90=percentile(firsts, 0.9),
        resolved=len(closes),
        resolution_median=percentile(closes, 0.5),
        resolution_p90=percentile(closes, 0.9),
    )


def by_administrator(items: Iterable[Episode]) -> list[Figures]:
    firsts: dict[str, list[int]] = defaultdict(list)
    closes: dict[str, list[int]] = defaultdict(list)
    touched: dict[str, dict[int, Episode]] = defaultdict(dict)
    for ep in items:
        if ep.first_response_by and ep.first_response_seconds is not None:
            firsts[ep.first_response_by].append(ep.first_response_seconds)
            touched[ep.first_response_by][ep.task_id] = ep
        if ep.closed_by and ep.closed_by != "system" and ep.resolution_seconds is not None:
            closes[ep.closed_by].append(ep.resolution_seconds)
            touched[ep.closed_by][ep.task_id] = ep
    return [
        _figures(who, list(touched[who].values()), firsts[who], closes[who])
        for who in sorted(touched)
    ]


def week_of(moment: datetime, tz: tzinfo) -> str:
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def summary(label: str, items: list[Episode]) -> Figures:
    """The figures of a group of episodes (a week, a stretch of a report's period)."""
    firsts = [s for e in items if (s := e.first_response_seconds) is not None]
    closes = [s for e in items if (s := e.resolution_seconds) is not None]
    return _figures(label, items, firsts, closes)


def by_week(items: Iterable[Episode], tz: tzinfo) -> list[Figures]:
    groups: dict[str, list[Episode]] = defaultdict(list)
    for ep in items:
        groups[week_of(ep.opened_at, tz)].append(ep)
    return [summary(week, groups[week]) for week in sorted(groups)]


def minutes(seconds: int | None) -> str:
    """Seconds as whole minutes for a report cell ("" when there is nothing to show)."""
    return "" if seconds is None else str(round(seconds / 60))
