"""Tasks for the clinic's staff: each patient request becomes one, with an owner and an end."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config
from core.models import OutboxMessage, Task
from core.outbox import PRIORITY_STAFF, enqueue, inline_keyboard
from core.texts import render

OPEN_STATES = ("open", "taken")


class TaskStateError(ValueError):
    pass


def staff_keyboard(task: Task, lang: str) -> dict:
    return inline_keyboard(
        [
            [
                (render("btn_take", lang), f"t:take:{task.id}"),
                (render("btn_done", lang), f"t:done:{task.id}"),
                (render("btn_dismiss", lang), f"t:dismiss:{task.id}"),
            ]
        ]
    )


def create_task(
    session: Session,
    config: Config,
    *,
    kind: str,
    key: str,
    text: str,
    subscriber_id: int | None = None,
    patient_mis_id: str = "",
    appointment_mis_id: str = "",
) -> Task:
    """Create the task once per key and announce it in the staff group, if there is one."""
    existing = session.scalar(select(Task).where(Task.key == key))
    if existing is not None:
        return existing
    task = Task(
        kind=kind,
        key=key,
        text=text,
        subscriber_id=subscriber_id,
        patient_mis_id=patient_mis_id,
        appointment_mis_id=appointment_mis_id,
        state="open",
    )
    session.add(task)
    session.flush()
    if config.telegram.staff_chat_id:
        lang = config.clinic.language
        enqueue(
            session,
            key=f"task:{task.id}:announce",
            chat_id=config.telegram.staff_chat_id,
            text=f"#{task.id} {text}",
            kind="task",
            priority=PRIORITY_STAFF,
            reply_markup=staff_keyboard(task, lang),
            respect_quiet_hours=False,
        )
    return task


TRANSITIONS = {
    "take": ({"open"}, "taken"),
    "done": ({"open", "taken"}, "done"),
    "dismiss": ({"open", "taken"}, "dismissed"),
}


def transition(session: Session, task: Task, action: str, who: str) -> Task:
    try:
        allowed, target = TRANSITIONS[action]
    except KeyError:
        raise TaskStateError(f"unknown action {action!r}") from None
    if task.state not in allowed:
        raise TaskStateError(f"task #{task.id} is {task.state}; cannot {action}")
    now = utcnow()
    task.state = target
    if action == "take":
        task.taken_by, task.taken_at = who, now
    else:
        task.taken_by = task.taken_by or who
        task.closed_at = now
    return task


def close_by_system(session: Session, task: Task, note: str) -> None:
    """Close a task nobody needs to do any more (done, by "system"), with ``note`` saying
    why added to its text, in the panel and on its message in the staff group."""
    transition(session, task, "done", "system")
    task.text = f"{task.text}\n\n{note}"
    announce = session.scalar(
        select(OutboxMessage).where(OutboxMessage.key == f"task:{task.id}:announce")
    )
    if announce is None:
        return
    if announce.state == "sent" and announce.telegram_message_id:
        enqueue(
            session,
            key=f"task:{task.id}:closed-by-system",
            chat_id=announce.chat_id,
            text=f"#{task.id} {task.text}",
            kind="edit_text",
            priority=PRIORITY_STAFF,
            reply_markup={"inline_keyboard": []},
            edit_message_id=announce.telegram_message_id,
            respect_quiet_hours=False,
        )
    else:
        # Not in the group yet: a task already closed need not be announced at all.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == announce.id, OutboxMessage.state == "pending")
            .values(state="cancelled", last_error="task closed before it was announced")
        )


def escalate_stale(session: Session, config: Config, now: datetime) -> int:
    """Announce once more, in the staff group, every open task nobody took in time."""
    minutes = config.messaging.task_escalate_minutes
    staff_chat = config.telegram.staff_chat_id
    if not minutes or not staff_chat:
        return 0
    lang = config.clinic.language
    stale = session.scalars(
        select(Task).where(
            Task.state == "open",
            Task.escalated_at.is_(None),
            Task.created_at <= now - timedelta(minutes=minutes),
        )
    ).all()
    for task in stale:
        enqueue(
            session,
            key=f"task:{task.id}:escalate",
            chat_id=staff_chat,
            text=render("task_escalated", lang, id=task.id, minutes=minutes, text=task.text),
            kind="task",
            priority=PRIORITY_STAFF,
            reply_markup=staff_keyboard(task, lang),
            # Unlike the first announcement, a reminder can wait for the morning: nobody is
            # at the desk at night to take it.
            respect_quiet_hours=True,
        )
        task.escalated_at = now
    return len(stale)
