"""«Отчёты»: each report over a period the owner or manager picks, as charts, tables and
a CSV for a spreadsheet in Russian. The figures are core.reports' (one module a report);
this screen only reads the period, draws (app.charts) and writes (app.formatting)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from sqlalchemy.orm import Session

from app import charts
from app.extensions import db
from app.formatting import csv_cell
from app.permissions import requires
from core.clock import local_now
from core.config import Config
from core.reports import (
    confirmations,
    connections,
    economics,
    ratings,
    referrals,
    response_times,
    reviews,
)
from core.reports.model import Column, Report
from core.reports.period import DEFAULT_DAYS, Period, PeriodError, parse

bp = Blueprint("reports", __name__, url_prefix="/reports")


@dataclass(frozen=True)
class Entry:
    title: str
    summary: str
    build: Callable[[Session, Config, Period], Report]


REPORTS: dict[str, Entry] = {
    "connections": Entry(
        "Подключение пациентов",
        "Сколько пациентов подключилось к боту, откуда и по чьим ссылкам.",
        lambda s, c, p: connections.report(s, p),
    ),
    "confirmations": Entry(
        "Подтверждение визитов",
        "Доля визитов, подтверждённых в ответ на напоминание.",
        lambda s, c, p: confirmations.report(s, p),
    ),
    "ratings": Entry(
        "Оценки и NPS",
        "Оценки после визитов и NPS: по времени и по врачам.",
        lambda s, c, p: ratings.report(s, p),
    ),
    "referrals": Entry(
        "Рекомендации",
        "Пациенты по рекомендации и выручка, которую они принесли.",
        lambda s, c, p: referrals.report(s, p),
    ),
    "reviews": Entry(
        "Ссылки на отзывы",
        "Ссылки на отзывы по площадкам: сколько предложено, сколько открыли, сколько отзывов "
        "подтверждено.",
        lambda s, c, p: reviews.report(s, p, c),
    ),
    "response-times": Entry(
        "Время ответа",
        "Как быстро сотрудники отвечают пациентам и закрывают задачи: медиана и 90-й процентиль.",
        lambda s, c, p: response_times.report(s, p),
    ),
    "economics": Entry(
        "Экономика бонусов",
        "Во что обходится бонусная программа против прежней скидки, по месяцам.",
        lambda s, c, p: economics.report(s, c, p),
    ),
}


def _config() -> Config:
    config: Config = current_app.config["KABINET"]
    return config


def _entry(slug: str) -> Entry:
    entry = REPORTS.get(slug)
    if entry is None:
        abort(404)
    return entry


def _period(config: Config) -> Period:
    """The picker's period (PeriodError for one that cannot be)."""
    today = local_now(config.clinic.tz).date()
    return parse(request.args.get("from"), request.args.get("to"), today, config.clinic.tz)


def _presets(config: Config) -> list[tuple[str, str, str]]:
    """(label, from, to) for the quick choices beside the picker."""
    today = local_now(config.clinic.tz).date()
    year_start = today.replace(month=1, day=1)
    return [
        ("4 недели", f"{today - timedelta(days=27)}", f"{today}"),
        (f"{DEFAULT_DAYS // 7} недель", f"{today - timedelta(days=DEFAULT_DAYS - 1)}", f"{today}"),
        ("с начала года", f"{year_start}", f"{today}"),
        ("12 месяцев", f"{today.replace(day=1) - timedelta(days=334):%Y-%m-01}", f"{today}"),
    ]


@bp.route("")
@requires("reports.view")
def index() -> Any:
    return render_template("reports/index.html", reports=REPORTS)


@bp.route("/<slug>")
@requires("reports.view")
def show(slug: str) -> Any:
    entry = _entry(slug)
    config = _config()
    page: dict[str, Any] = {
        "slug": slug,
        "entry": entry,
        "presets": _presets(config),
        "raw_from": request.args.get("from", "")[:40],
        "raw_to": request.args.get("to", "")[:40],
    }
    try:
        period = _period(config)
    except PeriodError as exc:
        return render_template("reports/report.html", error=str(exc), **page), 400
    report = entry.build(db.session(), config, period)
    return render_template(
        "reports/report.html",
        report=report,
        period=period,
        svgs={chart.key: charts.render(chart) for chart in report.charts},
        **page,
    )


def _header(column: Column) -> str:
    unit = {"money": " (₽)", "percent": " (%)"}.get(column.kind, "")
    return column.title + unit


def to_csv(report: Report, period: Period) -> str:
    """Every table of the report, one after another, for Excel in Russian: «;» between
    fields, a decimal comma, dates as 08.03.2027."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow([report.title, f"{period.first:%d.%m.%Y}", f"{period.last:%d.%m.%Y}"])
    for table in report.tables:
        w.writerow([])
        w.writerow([table.title])
        w.writerow([_header(c) for c in table.columns])
        for row in table.rows:
            w.writerow([csv_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    return out.getvalue()


@bp.route("/<slug>.csv")
@requires("reports.view")
def download(slug: str) -> Any:
    entry = _entry(slug)
    config = _config()
    try:
        period = _period(config)
    except PeriodError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    report = entry.build(db.session(), config, period)
    name = f"{slug}-{period.first:%Y%m%d}-{period.last:%Y%m%d}.csv"
    return Response(
        "\ufeff" + to_csv(report, period),  # a BOM: Excel then reads the Cyrillic right
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
