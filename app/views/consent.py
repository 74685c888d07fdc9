"""«Согласие»: the text of the consent to personal data processing the bot shows.

Owners and managers edit it; each save is a new version (core.patients.consent), the bot shows the
latest, and every patient's acceptance names the version they accepted (on their card).
Earlier versions stay listed, since acceptances point at them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for

from app.auth import current_user
from app.extensions import db
from app.permissions import requires
from app.views.panel_forms import ConsentForm, first_error
from core.clock import utcnow
from core.patients import consent

bp = Blueprint("consent", __name__, url_prefix="/consent")


def _page(text: str | None = None, errors: list[str] | None = None, status: int = 200) -> Any:
    config = current_app.config["KABINET"]
    now = consent.current(db.session(), config.clinic.name, config.clinic.language)
    return (
        render_template(
            "consent.html",
            current=now,
            text=now.text if text is None else text,
            errors=errors or [],
            history=consent.history(db.session()),
            max_text=consent.MAX_TEXT,
        ),
        status,
    )


@bp.route("/")
@requires("consent.edit")
def index() -> Any:
    return _page()


@bp.route("/", methods=["POST"])
@requires("consent.edit")
def save() -> Any:
    form = ConsentForm()
    text = form.text.data
    errors = ([] if form.validate() else [first_error(form)]) + consent.check_text(text)
    if errors:
        return _page(text=text, errors=errors, status=400)
    config = current_app.config["KABINET"]
    if text.strip() == consent.current(db.session(), config.clinic.name).text:
        flash("Текст не изменился — новая версия не нужна.", "info")
        return redirect(url_for("consent.index"))
    user = current_user()
    assert user is not None
    row = consent.new_version(db.session(), text, user.full_name or user.login, utcnow())
    db.session.commit()
    flash(f"Сохранена версия {row.version}: бот показывает её новым пациентам.", "info")
    return redirect(url_for("consent.index"))
