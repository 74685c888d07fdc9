"""The inbox: patients' conversations as episodes (tasks), each with its thread, the
patient's card and a reply box; Take / Done / Dismiss (also from the Telegram group)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
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
from markupsafe import Markup
from sqlalchemy import func, select

from app.auth import current_user
from app.extensions import db
from app.permissions import requires
from app.views.panel_forms import ActForm, ReplyForm
from core.clock import utcnow
from core.config import Config
from core.conversations import files, inbox
from core.conversations.models import ThreadMessage
from core.conversations.threads import ReplyError, reply
from core.models import StaffUser, Task
from core.tasks import TaskStateError, announce_state, transition

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

LAST_LINE_ID = 2**63 - 1  # the largest id a thread line can have (SQLite, PostgreSQL)

STATE_LABELS = {"open": "новая", "taken": "в работе", "done": "готово", "dismissed": "отклонена"}
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


# A form's CSRF token is signed anew at every render; it is not a change of the page.
_TOKEN = re.compile(r'name="csrf_token" value="[^"]*"')


def _version(parts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(parts):
        digest.update(name.encode() + b"\0" + _TOKEN.sub("", parts[name]).encode() + b"\0")
    return digest.hexdigest()[:16]


def _polled(
    page: str,
    render_parts: Callable[[], dict[str, str]],
    context: dict[str, Any],
    version: str = "",
) -> Any:
    """The page, or for panel.js's poll (GET …/poll?v=<version>) the parts that changed
    since the version it has: {"version", "changed", "parts": {element id: html}}.

    ``version``, when the caller can tell it from the data, spares rendering the parts for
    a poll that finds nothing new (most of them); otherwise it is the rendered parts' hash.
    """
    parts: dict[str, str] | None = None
    if not version:
        parts = render_parts()
        version = _version(parts)
    if page:  # the page is built around the very parts a poll would send
        parts = parts if parts is not None else render_parts()
        safe = {name: Markup(html) for name, html in parts.items()}  # rendered, escaped
        return render_template(page, version=version, parts=safe, **context)
    body: dict[str, Any] = {"version": version, "changed": False, "parts": {}}
    if "seen" in context:
        body["seen"] = context["seen"]
    if request.args.get("v") != version:
        body.update(changed=True, parts=parts if parts is not None else render_parts())
    # Not \u-escaped: the parts are mostly Cyrillic, six bytes a letter escaped.
    return current_app.response_class(
        json.dumps(body, ensure_ascii=False), mimetype="application/json"
    )


# The oldest-waiting first, a page at a time: nobody works down 2,000 rows, and rendering
# them all cost the whole list's time (docs/performance.md, Inbox).
PAGE_ROWS = 50
MAX_ROWS = 1000


def _shown_rows() -> int:
    raw = request.args.get("n", "")
    wanted = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else PAGE_ROWS
    return min(max(wanted, PAGE_ROWS), MAX_ROWS)


# Where the app keeps every task kind seen so far, with the highest task id read for it.
_KINDS = "kabinet.task_kinds"


def _kinds_ever() -> list[str]:
    """Every kind of task there has been, for the «все» page's filter, without reading all
    tasks at each view (15 ms of the page's 20 over a busy year's 66,000). Tasks are never
    deleted and keep their kind, and SQLite commits one writer at a time, in id order:
    only tasks after the highest id already read can bring a new kind. PostgreSQL hands
    out ids before commits that may land in any order, so there every view reads them."""
    if db.engine.dialect.name != "sqlite":
        return inbox.kinds(db.session())
    last, known = current_app.extensions.get(_KINDS, (0, frozenset()))
    rows = db.session.execute(
        select(Task.kind, func.max(Task.id)).where(Task.id > last).group_by(Task.kind)
    ).all()
    if rows:
        last = max(last, *(top for _, top in rows))
        known = known | {kind for kind, _ in rows}
        current_app.extensions[_KINDS] = (last, known)  # one tuple: threads see a pair
    return sorted(known)


def _index(page: str) -> Any:
    show = request.args.get("show", "open")
    who = request.args.get("who", "all")
    kind = request.args.get("kind", "")
    n = _shown_rows()
    # One more than shown tells whether there is more, without counting them all.
    rows = inbox.episodes(
        db.session(), utcnow(), show=show, who=who, kind=kind, me=_name(_me()), limit=n + 1
    )
    more, rows = len(rows) > n, rows[:n]
    context = dict(
        rows=rows,
        show=show,
        who=who,
        kind=kind,
        n=n,
        more=more,
        next_n=min(n + PAGE_ROWS, MAX_ROWS) if n < MAX_ROWS else None,
        # Polls need no filter links; the page of open tasks offers the kinds open now
        # (and the one chosen, even if none is left).
        kinds=(
            []
            if not page
            else sorted(
                {
                    *(
                        inbox.kinds(db.session(), open_only=True)
                        if show == "open"
                        else _kinds_ever()
                    ),
                    *[kind] * bool(kind),
                }
            )
        ),
        state_labels=STATE_LABELS,
        waited=waited,
    )
    # Everything a row shows, so an unchanged list is known without rendering it.
    shown = [
        (
            r.task.id,
            r.task.kind,
            r.task.text,
            r.task.state,
            r.task.taken_by,
            r.task.message_count,
            r.task.patient_mis_id,
            r.task.created_at.isoformat(),
            r.task.waiting_since.isoformat() if r.task.waiting_since else "",
            waited(r.waiting_seconds),
        )
        for r in rows
    ]
    version = hashlib.sha256(repr(shown).encode()).hexdigest()[:16]
    return _polled(
        page,
        lambda: {"task-rows": render_template("_task_rows.html", **context)},
        context,
        version,
    )


def _ago(seconds: int) -> str:
    return f"{seconds} с" if seconds < 60 else waited(seconds)


@bp.route("/")
@requires("tasks.work")
def index() -> Any:
    return _index("tasks.html")


@bp.route("/search")
@requires("tasks.work")
def search_view() -> Any:
    """Every thread, kept forever: a word, a patient's surname or a phone."""
    q = request.args.get("q", "")[:200]
    limit = 50
    hits = inbox.search(db.session(), q, limit) if q else []
    return render_template("search.html", q=q, hits=hits, limit=limit)


@bp.route("/poll")
@requires("tasks.work")
def poll() -> Any:
    return _index("")


def quick_replies(config: Config) -> tuple[str, ...]:
    return config.conversations.quick_replies


def _thread(task_id: int, page: str, draft: str = "") -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    now = utcnow()
    lines = inbox.thread(db.session(), task.conversation_id) if task.conversation_id else []
    context = dict(
        task=task,
        lines=lines,
        card=inbox.card(db.session(), task, now),
        state_labels=STATE_LABELS,
        quick_replies=quick_replies(_config()),
        draft=draft,
        config_max_mb=_config().conversations.max_file_mb,
        # The newest line on screen: a reply sent from this page was written having seen
        # up to it (reply_view's check; panel.js moves it on as lines arrive).
        seen=inbox.last_line_id(db.session(), task.conversation_id),
        waiting=waited(
            max(int((now - task.waiting_since).total_seconds()), 0)
            if task.waiting_since and task.state in ("open", "taken")
            else None
        ),
    )
    return _polled(
        page,
        lambda: {
            "episode-state": render_template("_episode_state.html", **context),
            "thread": render_template("_thread_lines.html", **context),
        },
        context,
    )


@bp.route("/<int:task_id>")
@requires("tasks.work")
def thread(task_id: int) -> Any:
    return _thread(task_id, "thread.html")


@bp.route("/<int:task_id>/poll")
@requires("tasks.work")
def thread_poll(task_id: int) -> Any:
    return _thread(task_id, "")


def _back(task_id: int, form: ActForm) -> Any:
    if form.next.data == "thread":
        return redirect(url_for("tasks.thread", task_id=task_id))
    return redirect(url_for("tasks.index"))


@bp.route("/<int:task_id>/reply", methods=["POST"])
@requires("tasks.work")
def reply_view(task_id: int) -> Any:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    user = _me()
    # Nothing in the form's shape is refused: ReplyError says what cannot be sent, and a
    # `seen` no number can be read from means no check (ReplyForm.seen).
    form = ReplyForm()
    form.validate()
    text = form.text.data
    # Two people answering one patient at once: a second answer written without having
    # seen the first is held, not sent (a message in the patient's chat cannot be taken
    # back; holding it costs one more click). The page comes back with the text kept and
    # the other answer in view; sending again sends it.
    seen = form.seen.data  # None: not from the page's form, no check
    if seen is not None:
        # A line id the database can compare (beyond 2**63 the driver overflows): a
        # forged number past every line means "saw them all", never an error that loses
        # the typed answer.
        seen = min(max(seen, 0), LAST_LINE_ID)
    other = inbox.answered_since(db.session(), task, seen, user.id) if seen is not None else None
    if other is not None:
        ago = max(int((utcnow() - other.created_at).total_seconds()), 0)
        flash(
            f"{other.author} только что ответил(а) пациенту ({_ago(ago)} назад). Ваш ответ не отправлен: прочтите переписку и нажмите «Отправить» ещё раз, "
            "если он всё ещё нужен"
            + (" (файл приложите заново)." if form.file.data is not None else "."),
            "error",
        )
        return _thread(task_id, "thread.html", draft=text), 409
    upload = None
    sent = form.file.data  # None when no file was chosen
    if sent is not None:
        # Read one byte past the limit, never the whole of a huge upload.
        limit = files.limit_bytes(_config())
        data = sent.stream.read(limit + 1)
        upload = files.Upload(data, sent.filename or "", sent.mimetype or "")
    try:
        reply(
            db.session(),
            task,
            text,
            author=_name(user),
            author_user_id=user.id,
            config=_config() if upload is not None else None,
            upload=upload,
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
    form = ActForm()
    form.validate()  # nothing to refuse but a missing CSRF token, which CSRFProtect did
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
    return _back(task_id, form)
