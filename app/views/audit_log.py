"""«Журнал» (the owner): every change made through the panel, filterable by who, what
(the action or the table changed) and the clinic's dates."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, Regexp

from app.extensions import db
from app.forms import PanelForm
from app.labels import AUDIT_ACTIONS
from app.permissions import requires
from core.access import audit

bp = Blueprint("audit_log", __name__, url_prefix="/audit")

PER_PAGE = 50


class FilterForm(PanelForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    user = SelectField("Кто", choices=[], validate_choice=False, validators=[Optional()])
    action = SelectField("Действие", choices=[], validate_choice=False, validators=[Optional()])
    table = StringField(
        "Таблица",
        validators=[Optional(), Regexp(r"^[a-z_]{1,64}$", message="Таблица — латинскими буквами.")],
    )
    since = DateField("С", validators=[Optional()], format="%Y-%m-%d")
    until = DateField("По", validators=[Optional()], format="%Y-%m-%d")
    page = IntegerField(
        "Страница",
        default=1,
        validators=[Optional(), NumberRange(1, 100_000, message="Страница: от 1 до 100 000.")],
    )


def _start_of(day: Any, tz: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


@bp.route("/")
@requires("audit.view")
def index() -> Any:
    tz = current_app.config["KABINET"].clinic.tz
    s = db.session()
    form = FilterForm(request.args)
    form.user.choices = [SelectChoice("", "все")] + [SelectChoice(x) for x in audit.known_logins(s)]
    form.action.choices = [SelectChoice("", "все")] + [
        SelectChoice(x, AUDIT_ACTIONS.get(x, x)) for x in audit.known_actions(s)
    ]
    if not form.validate():
        errors = [e for field in form for e in field.errors]
        return render_template("audit.html", form=form, rows=[], total=0, errors=errors), 400
    f = audit.Filter(
        user_login=form.user.data or "",
        action=form.action.data or "",
        table=form.table.data or "",
        since=_start_of(form.since.data, tz) if form.since.data else None,
        until=_start_of(form.until.data + timedelta(days=1), tz) if form.until.data else None,
    )
    page = form.page.data or 1
    rows, total = audit.search(s, f, PER_PAGE, (page - 1) * PER_PAGE)
    return render_template(
        "audit.html",
        form=form,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        tz=tz,
        errors=[],
    )
