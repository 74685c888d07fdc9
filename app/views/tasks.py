"""Tasks: patients' requests, taken and closed by the staff (also from the Telegram group)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.auth import current_user, login_required
from app.extensions import db
from core.models import Subscriber, Task
from core.tasks import OPEN_STATES, TaskStateError, transition

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

STATE_LABELS = {"open": "новая", "taken": "в работе", "done": "готово", "dismissed": "отклонена"}


@bp.route("/")
@login_required
def index() -> Any:
    show = request.args.get("show", "open")
    stmt = select(Task, Subscriber).outerjoin(Subscriber, Subscriber.id == Task.subscriber_id)
    if show == "open":
        stmt = stmt.where(Task.state.in_(OPEN_STATES))
    rows = db.session.execute(stmt.order_by(Task.created_at.desc()).limit(200)).all()
    return render_template("tasks.html", rows=rows, show=show)


@bp.route("/<int:task_id>/<action>", methods=["POST"])
@login_required
def act(task_id: int, action: str) -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    user = current_user()
    assert user is not None
    try:
        transition(db.session(), task, action, user.full_name or user.login)
        db.session.commit()
    except TaskStateError:
        db.session.rollback()
        # Usually someone else (or the Telegram group) got there first.
        state = STATE_LABELS.get(task.state, task.state)
        flash(f"Задача #{task.id} уже в состоянии «{state}»: это действие недоступно.", "error")
    return redirect(url_for("tasks.index"))
