"""The staff group: one message per episode, edited in place as its thread grows.

The post is the outbox row "task:<id>:announce": the task's first text, the last lines of
the episode, how many messages the patient sent, who has it, a link to the panel, and
Take / Done / Dismiss while it is open. Every change (a patient's line, a reply, a state
change, an escalation) calls `refresh`, which keeps at most one edit per post queued and
rewrites that one instead of adding another, and spaces a post's edits
`conversations.group_edit_seconds` apart (`flood_edit_seconds` for a sender who is not a
linked patient): a burst of 100 lines is one post and a few edits, and the group's 20
messages a minute are left for other patients. A state change is not delayed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config
from core.conversations.models import StaffPost, ThreadMessage
from core.models import OutboxMessage, Subscriber, Task
from core.outbox import PRIORITY_STAFF, enqueue, inline_keyboard
from core.texts import CATALOGUE, render

LIMIT = 4096
TAIL_LINES = 8  # the episode's last lines shown under its first text
CHANNEL_NAMES = {"telegram": "Telegram", "max": "MAX"}
LINE_CHARS = 300
CLOSED = ("done", "dismissed")
STATUS_KEYS = {"taken": "task_taken", "done": "task_done", "dismissed": "task_dismissed"}


def announce_key(task_id: int) -> str:
    return f"task:{task_id}:announce"


def staff_keyboard(task: Task, lang: str) -> dict[str, Any]:
    return inline_keyboard(
        [
            [
                (render("btn_take", lang), f"t:take:{task.id}"),
                (render("btn_done", lang), f"t:done:{task.id}"),
                (render("btn_dismiss", lang), f"t:dismiss:{task.id}"),
            ]
        ]
    )


def _markup(task: Task, lang: str) -> dict[str, Any]:
    # An empty keyboard removes the buttons: nobody handles a closed task a second time.
    return {"inline_keyboard": []} if task.state in CLOSED else staff_keyboard(task, lang)


def _line_text(line: ThreadMessage, lang: str) -> str:
    label = ""
    if line.kind not in ("text", "reply", "event", "notice") and f"line_{line.kind}" in CATALOGUE:
        label = render(f"line_{line.kind}", lang, name=line.file_name, emoji="", phone="")
    text = " ".join(p for p in (label.strip(), line.text.strip()) if p)
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _tail(session: Session, config: Config, task: Task) -> tuple[list[str], int, int]:
    """The episode's lines as the post shows them; (lines, hidden before them, messages)."""
    lang = config.clinic.language
    tz = config.clinic.tz
    shown: list[str] = []
    incoming = 0
    rows = session.execute(
        select(ThreadMessage, Subscriber.channel)
        .outerjoin(Subscriber, Subscriber.id == ThreadMessage.subscriber_id)
        .where(ThreadMessage.task_id == task.id)
        .order_by(ThreadMessage.id)
    ).all()
    # A patient writing from Telegram and MAX in one episode: each line says which, so the
    # staff know where a reply goes (the messenger of the last one). One messenger: no noise.
    both = len({channel for line, channel in rows if line.direction == "in" and channel}) > 1
    for line, channel in rows:
        if line.direction == "in":
            incoming += 1
            if incoming == 1 and task.kind == "message":
                continue  # already the task's own text
            by = f"[{CHANNEL_NAMES.get(channel or '', channel)}] " if both and channel else ""
            body = "› " + by + _line_text(line, lang)
        elif line.kind == "reply" or (line.direction == "out" and line.author):
            # A staff answer, text or a file sent from the panel.
            body = render("post_reply", lang, who=line.author, text=_line_text(line, lang))
        elif line.direction == "event" and line.event != task.kind:
            body = "• " + _line_text(line, lang)
        else:
            continue  # the bot's acknowledgements, the task's own opening event
        shown.append(f"{line.created_at.astimezone(tz):%H:%M} {body}")
    hidden = max(len(shown) - TAIL_LINES, 0)
    return shown[hidden:], hidden, incoming


def post_text(session: Session, config: Config, task: Task) -> str:
    """The post, within Telegram's 4,096 characters: the first text gives way, then lines."""
    lang = config.clinic.language
    tail, hidden, incoming = _tail(session, config, task)
    footer: list[str] = []
    if incoming > 1:
        footer.append(render("post_count", lang, n=incoming))
    sub = session.get(Subscriber, task.subscriber_id) if task.subscriber_id else None
    if sub is not None and sub.unreachable_at is not None:
        footer.append(render("post_blocked", lang))
    if task.state in STATUS_KEYS:
        who = render("post_by_system", lang) if task.taken_by == "system" else task.taken_by
        footer.append(render(STATUS_KEYS[task.state], lang, who=who))
    else:
        footer.append(render("post_open", lang))
        if task.escalated_at is not None:
            waited = _escalation_minutes(config, task)
            footer.append(render("post_escalated", lang, minutes=waited))
    if config.web.public_url:
        url = f"{config.web.public_url.rstrip('/')}/tasks/{task.id}"
        footer.append(render("post_link", lang, url=url))
    bottom = "\n".join(footer)
    while tail and len("\n".join(tail)) + len(bottom) > LIMIT // 2:
        tail.pop(0)  # the newest lines matter most
        hidden += 1
    if hidden:
        tail.insert(0, render("post_more", lang, n=hidden))
    middle = "\n".join(tail)
    room = LIMIT - len(bottom) - len(middle) - 4
    head = f"#{task.id} {task.text}"
    if len(head) > room:
        head = head[: room - 1] + "…"
    return "\n\n".join(p for p in (head, middle, bottom) if p)


def _escalation_minutes(config: Config, task: Task) -> int:
    return config.conversations.escalate_after.get(
        task.kind, config.messaging.task_escalate_minutes
    )


def _digest(text: str, markup: dict[str, Any]) -> str:
    blob = text + json.dumps(markup, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def announce(session: Session, config: Config, task: Task) -> None:
    """Post a new episode to the staff group, if there is one."""
    chat = config.telegram.staff_chat_id
    if not chat:
        return
    lang = config.clinic.language
    text, markup = post_text(session, config, task), _markup(task, lang)
    enqueue(
        session,
        key=announce_key(task.id),
        chat_id=chat,
        text=text,
        kind="task",
        priority=PRIORITY_STAFF,
        reply_markup=markup,
        respect_quiet_hours=False,
    )
    session.add(StaffPost(task_id=task.id, chat_id=chat, shown=_digest(text, markup)))
    session.flush()


def _post(session: Session, task: Task) -> tuple[StaffPost | None, OutboxMessage | None]:
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == announce_key(task.id)))
    post = session.get(StaffPost, task.id)
    if post is None and row is not None:  # announced before posts were kept
        post = StaffPost(task_id=task.id, chat_id=row.chat_id, shown="")
        session.add(post)
        session.flush()
    return post, row


def _edit_interval(config: Config, task: Task) -> int:
    conv = config.conversations
    unknown = task.kind in ("message", "unknown_patient") and not task.patient_mis_id
    return conv.flood_edit_seconds if unknown else conv.group_edit_seconds


def refresh(
    session: Session,
    config: Config,
    task: Task,
    *,
    urgent: bool = False,
    now: datetime | None = None,
    priority: int = PRIORITY_STAFF,
) -> None:
    """Bring the task's post up to date (see the module's docstring); `urgent` for state
    changes, which go out without waiting for the post's edit interval; `priority` of a
    new edit (an edit already queued keeps its own)."""
    post, row = _post(session, task)
    if post is None:
        return
    now = now or utcnow()
    lang = config.clinic.language
    text, markup = post_text(session, config, task), _markup(task, lang)
    digest = _digest(text, markup)
    if post.message_id is None:
        if row is not None and row.state == "sent" and row.telegram_message_id:
            post.message_id = row.telegram_message_id
        elif row is not None and row.state == "pending":
            # Not in the group yet: a closed task is not posted at all, an open one is
            # posted as it now is.
            values: dict[str, Any] = (
                {"state": "cancelled", "last_error": "task closed before it was announced"}
                if task.state in CLOSED
                else {"text": text, "reply_markup": markup}
            )
            changed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.state == "pending")
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            post.dirty = not changed
            post.shown = digest if changed else post.shown
            return
        else:
            # On the wire: the edit waits for its message id (the staff_posts job); failed
            # or cancelled: there is nothing to edit.
            post.dirty = row is not None and row.state in ("claimed", "sending")
            return
    post.dirty = False
    if digest == post.shown:
        return
    post.shown = digest
    queued = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.key.startswith(f"staff-post:{task.id}:", autoescape=True),
            OutboxMessage.state == "pending",
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    if queued is not None:
        values = {"text": text, "reply_markup": markup}
        if urgent:
            values["due_at"] = now
        if session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == queued, OutboxMessage.state == "pending")
            .values(**values)
        ).rowcount:  # type: ignore[attr-defined]
            return
    due = now
    if not urgent and post.last_edit_at is not None:
        due = max(now, post.last_edit_at + timedelta(seconds=_edit_interval(config, task)))
    post.edits += 1
    post.last_edit_at = due
    enqueue(
        session,
        key=f"staff-post:{task.id}:{post.edits}",
        chat_id=post.chat_id,
        text=text,
        kind="edit_text",
        priority=priority,
        reply_markup=markup,
        edit_message_id=post.message_id,
        due_at=due,
        respect_quiet_hours=False,
    )


def mark_dirty(session: Session, task: Task) -> None:
    """Leave the post's update to the staff_posts job (for callers without the config)."""
    session.execute(
        update(StaffPost)
        .where(StaffPost.task_id == task.id)
        .values(dirty=True)
        .execution_options(synchronize_session=False)
    )


def task_for_message(session: Session, chat_id: int, message_id: int) -> Task | None:
    """The task whose post (or escalation alert) is this message of the staff group."""
    post = session.scalar(
        select(StaffPost).where(StaffPost.chat_id == chat_id, StaffPost.message_id == message_id)
    )
    if post is not None:
        return session.get(Task, post.task_id)
    key = session.scalar(
        select(OutboxMessage.key).where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.telegram_message_id == message_id,
            OutboxMessage.kind == "task",
            OutboxMessage.key.startswith("task:"),
        )
    )
    raw = key.split(":")[1] if key else ""
    return session.get(Task, int(raw)) if raw.isdigit() else None


def refresh_due(session: Session, config: Config, now: datetime, limit: int = 100) -> int:
    """The runner's staff_posts job: posts whose announcement was on the wire when they
    changed, and staff replies that turned out undeliverable (the author is told once)."""
    count = 0
    for post in session.scalars(select(StaffPost).where(StaffPost.dirty.is_(True)).limit(limit)):
        task = session.get(Task, post.task_id)
        if task is not None:
            refresh(session, config, task, now=now)
            count += 1
    failed = session.execute(
        select(ThreadMessage, StaffPost, OutboxMessage.state)
        .join(StaffPost, StaffPost.task_id == ThreadMessage.task_id)
        .join(OutboxMessage, OutboxMessage.id == ThreadMessage.outbox_id)
        .where(
            ThreadMessage.direction == "out",
            ThreadMessage.author != "",  # a staff answer (text or file), not the bot's
            ThreadMessage.id > StaffPost.told_upto,
            OutboxMessage.state.in_(("unreachable", "failed")),
        )
        .order_by(ThreadMessage.id)
        .limit(limit)
    ).all()
    lang = config.clinic.language
    for line, post, state in failed:
        reason = (
            "пациент заблокировал бота или удалил аккаунт — свяжитесь с ним по телефону"
            if state == "unreachable"
            else "Telegram не принял сообщение"
        )
        enqueue(
            session,
            key=f"staff-undelivered:{line.id}",
            chat_id=post.chat_id,
            text=render(
                "staff_reply_undelivered", lang, who=line.author, id=post.task_id, reason=reason
            ),
            kind="task",
            priority=PRIORITY_STAFF,
            respect_quiet_hours=False,
        )
        post.told_upto = max(post.told_upto, line.id)
        task = session.get(Task, post.task_id)
        if task is not None:
            refresh(session, config, task, now=now)
        count += 1
    return count
