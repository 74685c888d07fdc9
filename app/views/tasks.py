"""The inbox: patients' conversations as episodes (tasks), each with its thread, the
patient's card and a reply box; Take / Done / Dismiss (also from the Telegram group)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from app.auth import current_user
from app.extensions import db
from app.permissions import requires
from core.clock import utcnow
from core.config import Config
from core.conversations import files, inbox
from core.conversations.models import ThreadMessage
from core.conversations.threads import ReplyError, reply
from core.models import StaffUser, Task
from core.tasks import TaskStateError, announce_state, transition

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

STATE_LABELS = {"open": "новая", "taken": "в работе", "done": "готово", "dismissed": "отклонена"}
KIND_LABELS = {
    "message": "сообщение",
    "reschedule": "перенос визита",
    "unknown_patient": "неизвестный пациент",
    "service_recovery": "низкая оценка",
    "no_show": "не пришёл(ла)",
}
ACTION_LABELS = {"take": "взять её", "done": "закрыть её", "dismiss": "отклонить её"}


def _config() -> Config:
    config: Config = current_app.config["KABINET"]
    return config


def _me() -> StaffUser:
    user = current_user()
    assert user is not None  # requires()
    return user


def _name(user: StaffUser) -> str:
    return user.full_name or user.login


def waited(seconds: int | None) -> str:
    """«3 мин», «2 ч 05 мин», «1 д 4 ч»: how long the patient has been waiting."""
    if seconds is None:
        return "ответили"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} мин"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} ч {minutes:02d} мин"
    days, hours = divmod(hours, 24)
    return f"{days} д {hours} ч"


@bp.route("/")
@requires("tasks.work")
def index() -> Any:
    show = request.args.get("show", "open")
    who = request.args.get("who", "all")
    kind = request.args.get("kind", "")
    rows = inbox.episodes(db.session(), utcnow(), show=show, who=who, kind=kind, me=_name(_me()))
    return render_template(
        "tasks.html",
        rows=rows,
        show=show,
        who=who,
        kind=kind,
        kinds=inbox.kinds(db.session()),
        kind_labels=KIND_LABELS,
        state_labels=STATE_LABELS,
        waited=waited,
    )


@bp.route("/<int:task_id>")
@requires("tasks.work")
def thread(task_id: int) -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    now = utcnow()
    lines = inbox.thread(db.session(), task.conversation_id) if task.conversation_id else []
    return render_template(
        "thread.html",
        task=task,
        lines=lines,
        card=inbox.card(db.session(), task, now),
        kind_labels=KIND_LABELS,
        state_labels=STATE_LABELS,
        waiting=waited(
            max(int((now - task.waiting_since).total_seconds()), 0)
            if task.waiting_since and task.state in ("open", "taken")
            else None
        ),
    )


def _back(task_id: int) -> Any:
    if request.form.get("next") == "thread":
        return redirect(url_for("tasks.thread", task_id=task_id))
    return redirect(url_for("tasks.index"))


@bp.route("/<int:task_id>/reply", methods=["POST"])
@requires("tasks.work")
def reply_view(task_id: int) -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    user = _me()
    try:
        reply(
            db.session(),
            task,
            request.form.get("text", ""),
            author=_name(user),
            author_user_id=user.id,
        )
        db.session.commit()
    except ReplyError as err:
        db.session.rollback()
        flash(str(err), "error")
    return redirect(url_for("tasks.thread", task_id=task_id))


@bp.route("/file/<int:line_id>")
@requires("tasks.work")
def file(line_id: int) -> Any:
    line = db.session.get(ThreadMessage, line_id)
    path = files.stored_path(_config(), line) if line is not None else None
    if line is None or path is None:
        abort(404)
    # Only images are shown in the page; anything else is downloaded, never rendered.
    inline = line.mime_type.startswith("image/") and line.mime_type != "image/svg+xml"
    return send_file(
        path,
        mimetype=line.mime_type if inline else "application/octet-stream",
        as_attachment=not inline,
        download_name=line.file_name or path.name,
    )


@bp.route("/<int:task_id>/<action>", methods=["POST"])
@requires("tasks.work")
def act(task_id: int, action: str) -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    try:
        transition(db.session(), task, action, _name(_me()))
        announce_state(db.session(), _config(), task, _name(_me()))
        db.session.commit()
    except TaskStateError:
        db.session.rollback()
        db.session.refresh(task)
        # Usually someone else (or the Telegram group) got there first: say who.
        state = STATE_LABELS.get(task.state, task.state)
        by = f" ({task.taken_by})" if task.taken_by else ""
        flash(
            f"Задача #{task.id} уже в состоянии «{state}»{by}: "
            f"{ACTION_LABELS.get(action, 'сделать это с ней')} нельзя.",
            "error",
        )
    return _back(task_id)
