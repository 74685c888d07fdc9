"""Template filters: clinic-local times and roubles, written the way the staff read them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask


def register(app: Flask, tz: ZoneInfo) -> None:
    @app.template_filter("local")
    def local(value: datetime | str | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
        """An aware datetime (or ISO text) shown in the clinic's time zone."""
        if value is None or value == "":
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(tz).strftime(fmt)

    @app.template_filter("rub")
    def rub(value: Decimal | int | float | None) -> str:
        """3450.00 -> '3 450 ₽', 99.5 -> '99,50 ₽' (a narrow no-break space groups digits)."""
        if value is None:
            return ""
        amount = Decimal(str(value))
        text = f"{amount:,.2f}".replace(",", "\u202f").replace(".", ",")
        if text.endswith(",00"):
            text = text[:-3]
        return f"{text}\u00a0₽"
