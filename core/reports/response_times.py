"""How fast the clinic answers, over the picked period: the first response and the
resolution of each episode (core.conversations.response_times), their median and 90th
percentile per stretch of the period and per administrator.

An episode counts in the stretch of the day it was opened. Durations are shown in
minutes with one decimal (a median of 40 seconds is «0,7», not «1»); the inbox's own
«Время ответа» page keeps its whole minutes and its script-friendly CSV.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from core.conversations.response_times import (
    Episode,
    Figures,
    by_administrator,
    episodes,
    summary,
)
from core.reports import cache
from core.reports.model import Chart, Column, Figure, Report, Series, Table, Value
from core.reports.period import Period


def _minutes(seconds: int | None) -> Decimal | None:
    return None if seconds is None else Decimal(seconds) / 60


COLUMNS = (
    Column("Задач"),
    Column("С ответом"),
    Column("Первый ответ, медиана (мин)", "decimal"),
    Column("Первый ответ, 90-й процентиль (мин)", "decimal"),
    Column("Решено"),
    Column("Решение, медиана (мин)", "decimal"),
    Column("Решение, 90-й процентиль (мин)", "decimal"),
)


def figures_row(f: Figures) -> tuple[Value, ...]:
    """One stretch's or person's figures: the label, counts, durations in minutes (the
    report's table and the inbox's response-time CSV both write this row)."""
    return (
        f.label,
        f.episodes,
        f.responses,
        _minutes(f.first_median),
        _minutes(f.first_p90),
        f.resolved,
        _minutes(f.resolution_median),
        _minutes(f.resolution_p90),
    )


def report(session: Session, period: Period) -> Report:
    """Kept until the tasks change (core/reports/cache.py): a busy clinic's 12 weeks are
    16,000 episodes, 140-200 ms to read and sort."""
    return cache.kept(session, ("response-times", period), lambda: _report(session, period))


def _report(session: Session, period: Period) -> Report:
    items = episodes(session, period.start, period.end)
    buckets = period.buckets()
    grouped: list[list[Episode]] = [[] for _ in buckets]
    for ep in items:
        index = period.locate(buckets, ep.opened_at)
        if index is not None:
            grouped[index].append(ep)
    stretches = [summary(b.label, grouped[i]) for i, b in enumerate(buckets)]
    whole = summary("весь период", items)
    people = by_administrator(items)
    return Report(
        slug="response-times",
        title="Время ответа",
        figures=[
            Figure("episodes", "Задач открыто", whole.episodes),
            Figure(
                "first-median",
                "Первый ответ, медиана (мин)",
                _minutes(whole.first_median),
                "decimal",
            ),
            Figure(
                "first-p90",
                "Первый ответ, 90-й процентиль (мин)",
                _minutes(whole.first_p90),
                "decimal",
            ),
            Figure("resolved", "Решено", whole.resolved),
        ],
        charts=[
            Chart(
                "first-response-chart",
                "Первый ответ, минуты",
                "Линии: медиана и 90-й процентиль времени от открытия задачи до первого "
                "ответа сотрудника, в минутах, по отрезкам периода.",
                [b.short for b in buckets],
                [
                    Series("медиана", [_minutes(f.first_median) for f in stretches]),
                    Series("90-й процентиль", [_minutes(f.first_p90) for f in stretches]),
                ],
                style="line",
                unit="decimal",
            ),
            Chart(
                "episodes-chart",
                "Задачи",
                "Столбцы: задачи, открытые за отрезок, — с ответом сотрудника и без.",
                [b.short for b in buckets],
                [
                    Series("с ответом", [f.responses for f in stretches]),
                    Series("без ответа", [f.episodes - f.responses for f in stretches]),
                ],
                style="stacked",
            ),
        ],
        tables=[
            Table(
                "by-stretch",
                "По отрезкам периода",
                (Column("Отрезок", "text"), *COLUMNS),
                [figures_row(f) for f in stretches],
            ),
            Table(
                "by-administrator",
                "По сотрудникам",
                (Column("Сотрудник", "text"), *COLUMNS),
                [figures_row(f) for f in people],
            ),
        ],
        notes=[
            "Первый ответ — от открытия задачи до первого ответа сотрудника пациенту; "
            "решение — до «Готово» или «Отклонить». Время по часам, как его прожил "
            "пациент, в том числе ночью и в выходные. Задача считается в отрезке дня, когда "
            "она открыта; сотруднику засчитаны ответы, которые он дал первым, и задачи, "
            "которые он закрыл.",
        ],
    )
