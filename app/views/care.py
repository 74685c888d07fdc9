"""«Рекомендации после лечения»: the care instructions sent in the bot after a visit.

Every staff role (app/permissions.py, care.edit) may list, create, edit, turn on and off
and delete them, with an English version and an attachment (a PDF or an image, checked by
its content: core.care.attachments); the rule that sends them is core.care.on_completed.
A form refused keeps everything typed and the instruction as it was.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from sqlalchemy import select

from app.context import signed_in
from app.extensions import db
from app.permissions import requires
from app.views.panel_forms import ButtonForm, CareForm, care_values, first_error
from core import care
from core.care import attachments
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
            "title_en": form.title_en,
            "text_en": form.text_en,
        }
    elif editing is not None:
        values = {
            "title": editing.title,
            "text": editing.text,
            "services": editing.services,
            "specialties": editing.specialties,
            "delay_minutes": editing.delay_minutes,
            "enabled": editing.enabled,
            "title_en": editing.title_en,
            "text_en": editing.text_en,
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
            accepted=attachments.ACCEPTED,
            limit_mb=attachments.LIMIT_MB,
            tz=current_app.config["KABINET"].clinic.tz,
        ),
        status,
    )


def _checked_form() -> tuple[care.Form, attachments.Checked | None, bool]:
    """The form and its new attachment, each checked; a bad file is one more error.
    The third value: the «Убрать вложение» box was ticked."""
    sent = CareForm()
    shape = [] if sent.validate() else [first_error(sent)]
    form = care.check_form(care_values(sent))
    form.errors[:0] = shape
    checked = None
    upload = sent.attachment.data  # None when no file was chosen
    if upload is not None:
        # One byte past the limit tells "too big" without reading all of a huge upload.
        data = upload.stream.read(attachments.LIMIT_BYTES + 1)
        try:
            checked = attachments.check(data, upload.filename or "")
        except attachments.BadFile as exc:
            form.errors.append(f"Вложение не принято: {exc}")
    if form.errors and upload is not None:
        form.errors.append("Ничего не сохранено; файл, если он нужен, приложите заново.")
    return form, checked, bool(sent.remove_file.data)


def _apply_file(
    instruction: CareInstruction, checked: attachments.Checked | None, remove: bool
) -> None:
    if checked is not None:
        config = current_app.config["KABINET"]
        instruction.file_path = attachments.keep(config, instruction.id, checked)
        instruction.file_name = checked.file_name
        instruction.file_type = checked.mime_type
        instruction.file_size = len(checked.data)
    elif remove:
        # The file itself stays: patients who got it still see it in their thread.
        instruction.file_path = instruction.file_name = instruction.file_type = ""
        instruction.file_size = 0


@bp.route("/")
@requires("care.edit")
def index() -> Any:
    return _page()


@bp.route("/", methods=["POST"])
@requires("care.edit")
def create() -> Any:
    form, checked, _remove = _checked_form()
    if form.errors:
        return _page(form=form, status=400)
    instruction = CareInstruction(created_at=utcnow())
    care.apply_form(instruction, form, _who(), utcnow())
    db.session.add(instruction)
    db.session.flush()  # its id names the attachment's folder
    _apply_file(instruction, checked, remove=False)
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
    form, checked, remove = _checked_form()
    if form.errors:
        return _page(editing=instruction, form=form, status=400)
    care.apply_form(instruction, form, _who(), utcnow())
    _apply_file(instruction, checked, remove=remove)
    db.session.commit()
    flash(f"Рекомендация «{instruction.title}» сохранена.", "info")
    return redirect(url_for("care.index"))


@bp.route("/<int:instruction_id>/toggle", methods=["POST"])
@requires("care.edit")
def toggle(instruction_id: int) -> Any:
    instruction = db.get_or_404(CareInstruction, instruction_id)
    ButtonForm().validate()  # nothing to refuse but a missing CSRF token, which CSRFProtect did
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
    ButtonForm().validate()  # nothing to refuse but a missing CSRF token, which CSRFProtect did
    title = instruction.title
    db.session.delete(instruction)
    db.session.commit()
    flash(
        f"Рекомендация «{title}» удалена. Кому она уже пришла, по-прежнему видят её в боте.", "info"
    )
    return redirect(url_for("care.index"))


@bp.route("/<int:instruction_id>/file")
@requires("care.edit")
def file(instruction_id: int) -> Any:
    """The attachment as the patients get it."""
    instruction = db.get_or_404(CareInstruction, instruction_id)
    path = attachments.path_of(current_app.config["KABINET"], instruction.file_path)
    if path is None:
        abort(404)
    return send_file(
        path,
        mimetype=instruction.file_type or None,
        as_attachment=True,
        download_name=instruction.file_name or path.name,
    )
