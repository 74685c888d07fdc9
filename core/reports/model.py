"""What a report is made of: headline figures, charts (series over labels) and tables.

Values stay raw here (int, Decimal, date, text); the panel writes them in Russian format,
the same way on the page, in the chart and in the CSV, by each column's kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Kind = Literal["text", "int", "decimal", "percent", "money", "date"]
Value = str | int | Decimal | date | None


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind = "int"


@dataclass(frozen=True)
class Table:
    key: str  # the HTML id and the CSV section
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Value, ...]]


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int | Decimal | None]  # None: nothing to show for that label (no base)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str  # what the chart shows, for a screen reader (the table has the numbers)
    labels: list[str]
    series: list[Series]
    style: Literal["bars", "stacked", "line"] = "bars"
    unit: Kind = "int"


@dataclass(frozen=True)
class Figure:
    """A headline number above the charts."""

    key: str
    title: str
    value: Value
    kind: Kind = "int"


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the numbers are counted


def share(part: int, whole: int) -> Decimal | None:
    """part of whole in per cent; None when there is no whole to divide by."""
    return None if not whole else Decimal(part) * 100 / Decimal(whole)
