"""«Рекомендации после лечения»: the care instructions sent in the bot after a visit.

Every staff role (app/permissions.py, care.edit) may list, create, edit, turn on and off
and delete them; the rule that sends them is core.care.on_completed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.context import signed_in
from app.extensions import db
from app.permissions import requires
from core import care
from core.clock import utcnow
from core.models import CareInstruction

bp = Blueprint("care", __name__, url_prefix="/care")


def _who() -> str:
    user = signed_in()
    return user.full_name or user.login


def _page(
    editing: CareInstruction | None = None, form: care.Form | None = None, status: int = 200
) -> Any:
    rows = db.session.scalars(select(CareInstruction).order_by(CareInstruction.id)).all()
    values: dict[str, Any]
    if form is not None:
        values = {
            "title": form.title,
            "text": form.text,
            "services": form.services,
            "specialties": form.specialties,
            "delay_minutes": form.raw_delay,
            "enabled": form.enabled,
        }
    elif editing is not None:
        values = {
            "title": editing.title,
            "text": editing.text,
            "services": editing.services,
            "specialties": editing.specialties,
            "delay_minutes": editing.delay_minutes,
            "enabled": editing.enabled,
        }
    else:
        values = {"delay_minutes": care.DEFAULT_DELAY_MINUTES, "enabled": False}
    return (
        render_template(
            "care.html",
            rows=rows,
            editing=editing,
            values=values,
            errors=form.errors if form is not None else [],
            max_text=care.MAX_TEXT + 1,
            tz=current_app.config["KABINET"].clinic.tz,
        ),
        status,
    )


@bp.route("/")
@requires("care.edit")
def index() -> Any:
    return _page()


@bp.route("/", methods=["POST"])
@requires("care.edit")
def create() -> Any:
    form = care.check_form(request.form)
    if form.errors:
        return _page(form=form, status=400)
    instruction = CareInstruction(created_at=utcnow())
    care.apply_form(instruction, form, _who(), utcnow())
    db.session.add(instruction)
    db.session.commit()
    flash(f"Рекомендация «{instruction.title}» добавлена.", "info")
    return redirect(url_for("care.index"))


@bp.route("/<int:instruction_id>")
@requires("care.edit")
def edit(instruction_id: int) -> Any:
    return _page(editing=db.get_or_404(CareInstruction, instruction_id))


@bp.route("/<int:instruction_id>", methods=["POST"])
@requires("care.edit")
def update(instruction_id: int) -> Any:
    instruction = db.get_or_404(CareInstruction, instruction_id)
    form = care.check_form(request.form)
    if form.errors:
        return _page(editing=instruction, form=form, status=400)
    care.apply_form(instruction, form, _who(), utcnow())
    db.session.commit()
    flash(f"Рекомендация «{instruction.title}» сохранена.", "info")
    return redirect(url_for("care.index"))


@bp.route("/<int:instruction_id>/toggle", methods=["POST"])
@requires("care.edit")
def toggle(instruction_id: int) -> Any:
    instruction = db.get_or_404(CareInstruction, instruction_id)
    instruction.enabled = not instruction.enabled
    instruction.updated_by, instruction.updated_at = _who(), utcnow()
    db.session.commit()
    state = "включена" if instruction.enabled else "выключена"
    flash(f"Рекомендация «{instruction.title}» {state}.", "info")
    return redirect(url_for("care.index"))


@bp.route("/<int:instruction_id>/delete", methods=["POST"])
@requires("care.edit")
def delete(instruction_id: int) -> Any:
    instruction = db.get_or_404(CareInstruction, instruction_id)
    title = instruction.title
    db.session.delete(instruction)
    db.session.commit()
    flash(
        f"Рекомендация «{title}» удалена. Кому она уже пришла, по-прежнему видят её в боте.", "info"
    )
    return redirect(url_for("care.index"))
