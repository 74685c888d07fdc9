"""«Настройки» (the owner): the rating scale, reminders, quiet hours, the arrival welcome
and the review link in one screen. Each value says where it comes from (the config file or
a change made here); «вернуть значение из файла» drops the change. The values themselves
are checked and kept by core.settings; every change is in the audit log (app/audit.py
logs the panel's flushes)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from app.context import clinic_config, signed_in
from app.extensions import db
from app.permissions import requires
from core.settings import store
from core.settings.catalogue import BY_KEY, SETTINGS, Setting

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _session() -> Session:
    session: Session = db.session()
    return session


def _shown(setting: Setting, value: Any) -> str:
    """A value as the form's field holds it (and as the file's column reads)."""
    if setting.kind == "bool":
        return "включено" if value else "выключено"
    if setting.kind == "list":
        return ", ".join(value)
    if setting.kind == "choice":
        return dict(setting.choices).get(value, str(value))
    return str(value)


def _groups(s: Session, typed: dict[str, str] | None = None) -> list[tuple[str, list[dict]]]:
    config = clinic_config()
    in_force = store.effective(s, config)
    changed = store.changed_at(s)
    rows = []
    for setting in SETTINGS:
        value = store.file_value(in_force, setting.key)
        row = changed.get(setting.key)
        rows.append(
            {
                "setting": setting,
                "field": setting.key.replace(".", "__"),
                "value": value,
                # What the owner typed stays in a refused form, so it can be corrected.
                "text": (typed or {}).get(setting.key, _shown(setting, value)),
                "file": _shown(setting, store.file_value(config, setting.key)),
                "changed": row,
            }
        )
    return [(group, list(items)) for group, items in groupby(rows, lambda r: r["setting"].group)]


@bp.route("/", methods=["GET", "POST"])
@requires("settings.edit")
def index() -> Any:
    s = _session()
    if request.method == "GET":
        return render_template("settings/index.html", groups=_groups(s))
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    try:
        for setting in SETTINGS:
            field = setting.key.replace(".", "__")
            text = request.form.get(field)
            # A form without the field leaves it as it is; an unticked checkbox is absent
            # from the form, so the form says it showed one.
            shown = (
                f"{field}__shown" in request.form if setting.kind == "bool" else text is not None
            )
            if not shown:
                continue
            typed[setting.key] = text or ""
            values[setting.key] = store.parse(setting, text)
        changed = store.save(s, clinic_config(), values, signed_in().login)
    except store.SettingRefused as exc:
        s.rollback()
        flash(f"Не сохранено: {exc}", "error")
        return render_template("settings/index.html", groups=_groups(s, typed)), 400
    s.commit()
    if changed:
        labels = ", ".join(f"«{BY_KEY[key].label}»" for key in changed)
        flash(f"Сохранено: {labels}.")
    else:
        flash("Ничего не изменилось.")
    return redirect(url_for("settings.index"))


@bp.route("/reset", methods=["POST"])
@requires("settings.edit")
def reset() -> Any:
    key = request.form.get("key", "")
    if key not in BY_KEY:
        abort(400, description="Такой настройки нет.")
    s = _session()
    if store.reset(s, key):
        s.commit()
        flash(f"«{BY_KEY[key].label}»: снова действует значение из файла.")
    else:
        flash(f"«{BY_KEY[key].label}» и так берётся из файла.")
    return redirect(url_for("settings.index"))
