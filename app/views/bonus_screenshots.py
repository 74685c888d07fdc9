"""A screenshot of a review or a post sent for a bonus, decided in the task's thread:
approve (the points, once per patient and platform) or reject (the patient is told
politely). core.loyalty.screenshots does the work."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, url_for

from app.auth import current_user
from app.extensions import db
from app.ledger_basis import PLATFORM_LABELS
from app.permissions import requires
from app.views.panel_forms import ButtonForm, ScreenshotApproveForm, first_error
from core.config import Config
from core.loyalty import operations, screenshots
from core.models import Task

bp = Blueprint("bonus_screenshots", __name__, url_prefix="/tasks")


def _config() -> Config:
    config: Config = current_app.config["KABINET"]
    return config


def _who() -> str:
    user = current_user()
    assert user is not None  # requires()
    return user.full_name or user.login


def _task(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or task.kind not in screenshots.TASK_KINDS.values():
        abort(404)
    return task


@bp.route("/<int:task_id>/screenshot/approve", methods=["POST"])
@requires("bonus.spend")
def approve(task_id: int) -> Any:
    task = _task(task_id)
    form = ScreenshotApproveForm()
    if not form.validate():
        flash(first_error(form), "error")
        return redirect(url_for("tasks.thread", task_id=task_id))
    try:
        decision = screenshots.approve(db.session(), _config(), task, form.platform.data, _who())
        db.session.commit()
    except (screenshots.ScreenshotError, operations.OperationError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(
            "Бонус за эту площадку уже был начислен раньше — второй раз не начислен."
            if decision.repeated
            else f"Начислено {decision.points} бонусов, пациенту отправлено сообщение."
        )
    return redirect(url_for("tasks.thread", task_id=task_id))


@bp.route("/<int:task_id>/screenshot/reject", methods=["POST"])
@requires("bonus.spend")
def reject(task_id: int) -> Any:
    task = _task(task_id)
    ButtonForm().validate()  # nothing to refuse but a missing CSRF token, which CSRFProtect did
    try:
        screenshots.reject(db.session(), _config(), task, _who())
        db.session.commit()
    except screenshots.ScreenshotError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash("Скриншот отклонён, пациенту отправлено вежливое сообщение.")
    return redirect(url_for("tasks.thread", task_id=task_id))


@bp.app_context_processor
def screenshot_choices() -> dict[str, Any]:
    """For the thread page's approve form: each bonus kind's platforms, in Russian."""
    return {
        "screenshot_platforms": {
            kind: [(p, PLATFORM_LABELS.get(p, p)) for p in platforms]
            for kind, platforms in operations.BONUS_PLATFORMS.items()
        }
    }
