"""Beside the inbox: response times (median and p90 per administrator and per week, also as
CSV) and linking one's Telegram account for the staff group with a one-time code."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, tzinfo
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from app.context import clinic_config, signed_in
from app.extensions import db
from app.formatting import csv_cell, iso_week
from app.labels import TASK_KINDS
from app.permissions import requires
from app.views.tasks import STATE_LABELS
from core.clock import utcnow
from core.conversations import response_times, staff_links
from core.reports.response_times import COLUMNS, figures_row

bp = Blueprint("task_reports", __name__, url_prefix="/tasks")

DEFAULT_DAYS = 56  # eight weeks


def _period() -> tuple[datetime, datetime, int]:
    raw = request.args.get("days", "")
    days = int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 3660 else DEFAULT_DAYS
    until = utcnow()
    return until - timedelta(days=days), until, days


@bp.route("/times")
@requires("tasks.work")
def times() -> Any:
    since, until, days = _period()
    items = response_times.episodes(db.session(), since, until)
    tz = clinic_config().clinic.tz
    return render_template(
        "response_times.html",
        days=days,
        people=response_times.by_administrator(items),
        weeks=response_times.by_week(items, tz),
        count=len(items),
        minutes=response_times.minutes,
    )


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else csv_cell(seconds / 60, "decimal")


def _csv(items: list[response_times.Episode], tz: tzinfo) -> str:
    """For Excel in Russian, as the reports' CSV: «;» between fields, a decimal comma,
    times as 08.03.2027 09:30, durations in minutes; one line per task, then the figures
    per administrator and per week."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(
        [
            "Задача",
            "Вид",
            "Открыта",
            "Неделя",
            "Состояние",
            "Первый ответ: кто",
            "Первый ответ, мин",
            "Закрыл(а)",
            "До закрытия, мин",
        ]
    )
    for ep in items:
        w.writerow(
            [
                ep.task_id,
                TASK_KINDS.get(ep.kind, ep.kind),
                ep.opened_at.astimezone(tz).strftime("%d.%m.%Y %H:%M"),
                iso_week(response_times.week_of(ep.opened_at, tz)),
                STATE_LABELS.get(ep.state, ep.state),
                ep.first_response_by,
                _minutes(ep.first_response_seconds),
                ep.closed_by,
                _minutes(ep.resolution_seconds),
            ]
        )
    summaries = (
        ("Администратор", response_times.by_administrator(items), str),
        ("Неделя", response_times.by_week(items, tz), iso_week),
    )
    for title, rows, label in summaries:
        w.writerow([])
        w.writerow(
            [
                title,
                "Задач",
                "С ответом",
                "Первый ответ, медиана, мин",
                "Первый ответ, 90-й процентиль, мин",
                "Закрыто",
                "До закрытия, медиана, мин",
                "До закрытия, 90-й процентиль, мин",
            ]
        )
        for f in rows:
            _, *values = figures_row(f)
            w.writerow(
                [
                    label(f.label),
                    *(csv_cell(v, c.kind) for v, c in zip(values, COLUMNS, strict=True)),
                ]
            )
    return out.getvalue()


@bp.route("/times.csv")
@requires("tasks.work")
def times_csv() -> Any:
    since, until, days = _period()
    items = response_times.episodes(db.session(), since, until)
    body = _csv(items, clinic_config().clinic.tz)
    return Response(
        "\ufeff" + body,  # a BOM: Excel then reads the Cyrillic names right
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=response-times-{days}d.csv"},
    )


@bp.route("/telegram")
@requires("tasks.work")
def telegram() -> Any:
    link = staff_links.link_of(db.session(), signed_in())
    return render_template("staff_telegram.html", link=link, code=None)


@bp.route("/telegram/code", methods=["POST"])
@requires("tasks.work")
def telegram_code() -> Any:
    code = staff_links.new_code(db.session(), signed_in(), utcnow())
    db.session.commit()
    link = staff_links.link_of(db.session(), signed_in())
    return render_template(
        "staff_telegram.html", link=link, code=code, minutes=staff_links.LINK_CODE_MINUTES
    )


@bp.route("/telegram/unlink", methods=["POST"])
@requires("tasks.work")
def telegram_unlink() -> Any:
    staff_links.unlink(db.session(), signed_in())
    db.session.commit()
    flash("Telegram отвязан: из группы вы больше ничего не измените.", "info")
    return redirect(url_for("task_reports.telegram"))
