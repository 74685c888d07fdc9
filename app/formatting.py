"""Values written the way the staff read them: clinic-local times, roubles, numbers with a
decimal comma and a narrow no-break space between thousands, dates as 08.03.2027.

The functions are plain so the reports' charts and CSV use the very same rules as the
templates' filters.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

THIN = "\u202f"  # groups digits: 3 450
NBSP = "\u00a0"  # between a number and its unit: 3 450 ₽, 12,5 %
MINUS = "\u2212"  # a typographic minus reads better than a hyphen beside digits


def _quantized(value: Decimal | int | float, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def number(value: Decimal | int | float | None, places: int = 0) -> str:
    """1234.5 -> '1 234,5' (places=1); None -> '—' (nothing to show)."""
    if value is None:
        return "—"
    amount = _quantized(value, places)
    text = f"{abs(amount):,.{places}f}".replace(",", THIN).replace(".", ",")
    return (MINUS if amount < 0 else "") + text


def percent(value: Decimal | int | float | None, places: int | None = 1) -> str:
    """12.345 -> '12,3 %'; places=None writes a setting as it was set (5.0 -> '5 %',
    7.5 -> '7,5 %'); None (no base to divide by) -> '—'."""
    if value is None:
        return "—"
    if places is None:
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
        places = max(-exponent, 0) if isinstance(exponent, int) else 0
    return f"{number(value, places)}{NBSP}%"


def rub(value: Decimal | int | float | None) -> str:
    """3450.00 -> '3 450 ₽', 99.5 -> '99,50 ₽'."""
    if value is None:
        return ""
    text = number(value, 2)
    if text.endswith(",00"):
        text = text[:-3]
    return f"{text}{NBSP}₽"


def day(value: date | datetime | None) -> str:
    """A calendar date as 08.03.2027."""
    return "" if value is None else value.strftime("%d.%m.%Y")


def iso_week(label: str) -> str:
    """An ISO week's label ('2027-W10', as reports keep it) as the staff say it: the week
    from its Monday, 'неделя с 08.03.2027'. Anything else is shown as it is."""
    try:
        year, week = label.split("-W")
        return f"неделя с {day(date.fromisocalendar(int(year), int(week), 1))}"
    except ValueError:
        return label


def cell(value: Any, kind: str) -> str:
    """A report's value on the page, by its column's kind (core.reports.model.Kind)."""
    if value is None:
        return "—"
    if kind == "money":
        return rub(value)
    if kind == "percent":
        return percent(value)
    if kind == "decimal":
        return number(value, 1)
    if kind == "int":
        return number(value)
    if kind == "date":
        return day(value)
    return str(value)


def csv_cell(value: Any, kind: str) -> str:
    """The same value for a spreadsheet in Russian: a decimal comma and no grouping
    space (Excel would take «1 234» for text), the unit in the column's header."""
    if value is None:
        return ""
    if kind in ("money", "percent", "decimal"):
        places = 2 if kind == "money" else 1
        return str(_quantized(value, places)).replace(".", ",")
    if kind == "date":
        return day(value)
    return str(value)


def register(app: Flask, tz: ZoneInfo) -> None:
    @app.template_filter("local")
    def local(value: datetime | str | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
        """An aware datetime (or ISO text) shown in the clinic's time zone."""
        if value is None or value == "":
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(tz).strftime(fmt)

    app.add_template_filter(rub, "rub")
    app.add_template_filter(number, "number")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(day, "day")
    app.add_template_filter(cell, "cell")
    app.add_template_filter(iso_week, "iso_week")
