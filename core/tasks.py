"""Tasks for the clinic's staff: each patient request becomes one, with an owner and an end.

A task with a subscriber is an episode of that patient's thread (core.conversations): it is
opened by the first unanswered message or by an event that needs a person, the patient's
further messages join it, and the next message after it is closed opens a new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config
from core.conversations.lines import conversation_for, record_event
from core.conversations.splitting import split_text
from core.models import OutboxMessage, Subscriber, Task
from core.outbox import PRIORITY_STAFF, enqueue, inline_keyboard
from core.texts import render

OPEN_STATES = ("open", "taken")


class TaskStateError(ValueError):
    """The task is not in a state that allows the action; `task` is it as it now is."""

    def __init__(self, message: str, task: Task | None = None) -> None:
        super().__init__(message)
        self.task = task


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
    acknowledged: bool = False,
) -> Task:
    """Create the task once per key and announce it in the staff group, if there is one.

    With a subscriber it becomes an episode of their thread; an event task (not a message)
    is also a line of the thread. `acknowledged`: the caller has already told the patient
    their request is with the staff, so a message joining the task is not acknowledged again.
    """
    existing = session.scalar(select(Task).where(Task.key == key))
    if existing is not None:
        return existing
    now = utcnow()
    task = Task(
        kind=kind,
        key=key,
        text=text,
        subscriber_id=subscriber_id,
        patient_mis_id=patient_mis_id,
        appointment_mis_id=appointment_mis_id,
        state="open",
        created_at=now,
        last_message_at=now,
        waiting_since=now,
        acknowledged_at=now if acknowledged else None,
    )
    session.add(task)
    session.flush()
    sub = session.get(Subscriber, subscriber_id) if subscriber_id is not None else None
    if sub is not None:
        task.conversation_id = conversation_for(session, sub).id
        if kind != "message":  # a message task's line is the message itself
            record_event(session, sub, kind, text, task_id=task.id)
    if config.telegram.staff_chat_id:
        lang = config.clinic.language
        # A patient's text may be longer than Telegram takes: the buttons go on the first
        # part (the one later edited), the rest follows as plain messages.
        parts = split_text(f"#{task.id} {text}")
        for n, part in enumerate(parts):
            enqueue(
                session,
                key=f"task:{task.id}:announce" + (f":{n + 1}" if n else ""),
                chat_id=config.telegram.staff_chat_id,
                text=part,
                kind="task",
                priority=PRIORITY_STAFF,
                reply_markup=staff_keyboard(task, lang) if n == 0 else None,
                respect_quiet_hours=False,
            )
    return task


TRANSITIONS = {
    "take": ({"open"}, "taken"),
    "done": ({"open", "taken"}, "done"),
    "dismiss": ({"open", "taken"}, "dismissed"),
}


def transition(session: Session, task: Task, action: str, who: str) -> Task:
    """Move the task on, or raise TaskStateError naming who got there first.

    One conditional UPDATE: of two people pressing Take at once (the panel and the group,
    two panel tabs), exactly one changes the row; the other's update matches nothing.
    """
    try:
        allowed, target = TRANSITIONS[action]
    except KeyError:
        raise TaskStateError(f"unknown action {action!r}") from None
    now = utcnow()
    values: dict[str, object] = {"state": target}
    if action == "take":
        values.update(taken_by=who, taken_at=now)
    else:
        values.update(taken_by=func.coalesce(func.nullif(Task.taken_by, ""), who), closed_at=now)
    result = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.state.in_(sorted(allowed)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(task)
    if not result.rowcount:  # type: ignore[attr-defined]
        raise TaskStateError(
            f"task #{task.id} is {task.state}"
            + (f" ({task.taken_by})" if task.taken_by else "")
            + f"; cannot {action}",
            task,
        )
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


STATUS_KEYS = {"taken": "task_taken", "done": "task_done", "dismissed": "task_dismissed"}


def announce_state(session: Session, config: Config, task: Task, who: str) -> None:
    """Show a state change made outside the group (in the panel) on the task's message in
    the staff group: who took or closed it, and no buttons once it is closed, so nobody
    there handles it a second time. A closed task not yet announced is not announced."""
    announce = session.scalar(
        select(OutboxMessage).where(OutboxMessage.key == f"task:{task.id}:announce")
    )
    if announce is None or task.state not in STATUS_KEYS:
        return
    closed = task.state in ("done", "dismissed")
    if announce.state == "sent" and announce.telegram_message_id:
        lang = config.clinic.language
        status = render(STATUS_KEYS[task.state], lang, who=who)
        # The status must fit with the text in one message: the text gives way.
        head = split_text(f"#{task.id} {task.text}", 4096 - len(status) - 2)[0]
        enqueue(
            session,
            key=f"task:{task.id}:{task.state}:panel",
            chat_id=announce.chat_id,
            text=f"{head}\n\n{status}",
            kind="edit_text",
            priority=PRIORITY_STAFF,
            reply_markup={"inline_keyboard": []} if closed else staff_keyboard(task, lang),
            edit_message_id=announce.telegram_message_id,
            respect_quiet_hours=False,
        )
    elif closed:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.key.startswith(f"task:{task.id}:announce", autoescape=True),
                OutboxMessage.state == "pending",
            )
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
