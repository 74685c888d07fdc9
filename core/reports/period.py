"""A report's period: whole clinic-calendar days, validated, cut into days, weeks or months.

The picker sends ``from`` and ``to`` as dates (YYYY-MM-DD from the date input, or the
Russian 08.03.2027 typed by hand); both days count. What cannot be a period is refused with
a message for the person who typed it (PeriodError), never an exception further up.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

EARLIEST = date(2000, 1, 1)  # before any clinic could have had Kabinet
MAX_DAYS = 3 * 366 + 1  # three years: enough for a trend, bounded work per request
DEFAULT_DAYS = 84  # twelve weeks

MONTHS = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
Grain = Literal["day", "week", "month"]


class PeriodError(ValueError):
    """What is wrong with the period, in Russian, for the page."""


@dataclass(frozen=True)
class Bucket:
    first: date  # the bucket's first day (the period's first day for a cut one)
    start: datetime  # UTC bounds: [start, end)
    end: datetime
    label: str  # for tables and CSV: «08.03.2027», «неделя с 08.03.2027», «март 2027»
    short: str  # for a chart's axis: «08.03», «март 27»


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive
    tz: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def at(self, day: date) -> datetime:
        """The UTC instant a clinic day begins."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.at(self.first)

    @property
    def end(self) -> datetime:
        return self.at(self.last + timedelta(days=1))

    @property
    def grain(self) -> Grain:
        if self.days <= 31:
            return "day"
        return "week" if self.days <= 26 * 7 else "month"

    @property
    def label(self) -> str:
        return f"{self.first:%d.%m.%Y} — {self.last:%d.%m.%Y}"

    def buckets(self) -> list[Bucket]:
        firsts = [self.first]
        while True:
            nxt = _next_start(firsts[-1], self.grain)
            if nxt > self.last:
                break
            firsts.append(nxt)
        ends = [*firsts[1:], self.last + timedelta(days=1)]
        return [
            Bucket(d, self.at(d), self.at(e), *_labels(d, self.grain))
            for d, e in zip(firsts, ends, strict=True)
        ]

    def locate(self, buckets: list[Bucket], moment: datetime | None) -> int | None:
        """The index of the bucket holding `moment`, None outside the period."""
        # Called once per row (tens of thousands): bounds from the buckets, no list built.
        if moment is None or not buckets or not buckets[0].start <= moment < buckets[-1].end:
            return None
        return bisect.bisect_right(buckets, moment, key=lambda b: b.start) - 1


def _next_start(day: date, grain: Grain) -> date:
    if grain == "day":
        return day + timedelta(days=1)
    if grain == "week":
        return day + timedelta(days=7 - day.weekday())  # the next Monday
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _labels(day: date, grain: Grain) -> tuple[str, str]:
    if grain == "day":
        return f"{day:%d.%m.%Y}", f"{day:%d.%m}"
    if grain == "week":
        return f"неделя с {day:%d.%m.%Y}", f"{day:%d.%m}"
    return f"{MONTHS[day.month - 1]} {day.year}", f"{MONTHS[day.month - 1][:3]} {day:%y}"


def _date(raw: str, what: str) -> date:
    text = raw.strip()
    try:
        if len(text) == 10 and text[2] == "." and text[5] == ".":
            return date(int(text[6:]), int(text[3:5]), int(text[:2]))
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise PeriodError(f"{what}: «{text[:40]}» — не дата. Укажите день как 08.03.2027.")


def parse(raw_from: str | None, raw_to: str | None, today: date, tz: ZoneInfo) -> Period:
    """The period the picker asked for; the last DEFAULT_DAYS days when it asked nothing."""
    last = _date(raw_to, "Конец периода") if raw_to else today
    if last > today:
        raise PeriodError(f"Конец периода позже сегодняшнего дня ({today:%d.%m.%Y}).")
    if last < EARLIEST:
        raise PeriodError(f"Конец периода не может быть раньше {EARLIEST:%d.%m.%Y}.")
    first = (
        _date(raw_from, "Начало периода")
        if raw_from
        else max(last - timedelta(days=DEFAULT_DAYS - 1), EARLIEST)
    )
    if first < EARLIEST:
        raise PeriodError(f"Начало периода не может быть раньше {EARLIEST:%d.%m.%Y}.")
    if first > last:
        raise PeriodError("Начало периода позже его конца.")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("Период длиннее трёх лет: выберите покороче.")
    return Period(first, last, tz)
