"""Tasks for the clinic's staff: each patient request becomes one, with an owner and an end.

A task with a subscriber is an episode of that patient's thread (core.conversations): it is
opened by the first unanswered message or by an event that needs a person, the patient's
further messages join it, and the next message after it is closed opens a new one.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config
from core.conversations import hours, staff_group
from core.conversations.lines import conversation_for, record_event
from core.conversations.staff_group import STATUS_KEYS, staff_keyboard
from core.conversations.staff_links import managers_to_ping
from core.models import Subscriber, Task
from core.outbox import PRIORITY_STAFF, PRIORITY_STAFF_BACKLOG, enqueue
from core.settings import store as settings
from core.texts import render

OPEN_STATES = ("open", "taken")


class TaskStateError(ValueError):
    """The task is not in a state that allows the action; `task` is it as it now is."""

    def __init__(self, message: str, task: Task | None = None) -> None:
        super().__init__(message)
        self.task = task


__all__ = ["STATUS_KEYS", "staff_keyboard"]  # kept here for the callers that import them


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
    # One post per episode in the staff group, edited as the thread grows (staff_group).
    staff_group.announce(session, config, task)
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


def close_by_system(session: Session, config: Config, task: Task, note: str) -> None:
    """Close a task nobody needs to do any more (done, by "system"), with ``note`` saying
    why added to its text, in the panel and on its message in the staff group."""
    transition(session, task, "done", "system")
    task.text = f"{task.text}\n\n{note}"
    staff_group.refresh(session, config, task, urgent=True)


def announce_state(session: Session, config: Config, task: Task, who: str) -> None:
    """Show a state change made outside the group (in the panel) on the task's post: who
    took or closed it, and no buttons once it is closed, so nobody there handles it a
    second time. A closed task not yet announced is not announced. (`who` is on the task.)"""
    staff_group.refresh(session, config, task, urgent=True)


def escalation_minutes(config: Config, kind: str) -> int:
    return config.conversations.escalate_after.get(kind, config.messaging.task_escalate_minutes)


# One sweep names at most this many tasks in its alert; the rest are counted.
PING_IDS = 20


def escalate_stale(session: Session, config: Config, now: datetime) -> int:
    """Alert the managers once about every open task nobody took within its kind's minutes
    of working time: its post in the staff group says so (edited, not posted again) and a
    short alert names the linked owners and managers, so their Telegram pings them.

    One sweep sends one alert, however many tasks it finds: after the runner was down
    over a long weekend, a thousand overdue tasks must not become a thousand alerts that
    hold the group's 20 messages a minute for an hour. For the same reason their posts'
    edits go behind new patients' posts (PRIORITY_STAFF_BACKLOG)."""
    config = settings.effective(session, config)  # working hours set on «Настройки»
    staff_chat = config.telegram.staff_chat_id
    limits = [escalation_minutes(config, k) for k in ("", *config.conversations.escalate_after)]
    shortest = min((m for m in limits if m), default=0)
    if not shortest or not staff_chat:
        return 0
    lang = config.clinic.language
    candidates = session.scalars(
        select(Task)
        .where(
            Task.state == "open",
            Task.escalated_at.is_(None),
            Task.created_at <= now - timedelta(minutes=shortest),
        )
        .order_by(Task.id)
    ).all()
    escalated: list[tuple[Task, int]] = []
    for task in candidates:
        minutes = escalation_minutes(config, task.kind)
        if not minutes or hours.working_seconds(config, task.created_at, now) < minutes * 60:
            continue
        task.escalated_at = now
        staff_group.refresh(
            session, config, task, urgent=True, now=now, priority=PRIORITY_STAFF_BACKLOG
        )
        escalated.append((task, minutes))
    if not escalated:
        return 0
    mentions = " ".join(
        f'<a href="tg://user?id={tg}">{html.escape(name)}</a>'
        for name, tg in managers_to_ping(session)
    )
    first, minutes = escalated[0]
    if len(escalated) == 1:
        # "task:<id>:…": a reply to this alert reaches the task's patient, as one to its post.
        key, text = (
            f"task:{first.id}:escalate",
            render("staff_ping", lang, id=first.id, minutes=minutes, who=mentions),
        )
    else:
        # Not "task:…": a reply to an alert about many tasks must reach none of them.
        ids = ", ".join(f"#{task.id}" for task, _ in escalated[:PING_IDS])
        more = len(escalated) - PING_IDS
        if more > 0:
            ids += render("staff_ping_more", lang, count=more)
        key, text = (
            f"escalation:{first.id}:{len(escalated)}",
            render("staff_ping_many", lang, count=len(escalated), ids=ids, who=mentions),
        )
    enqueue(
        session,
        key=key,
        chat_id=staff_chat,
        text=text,
        kind="task",
        priority=PRIORITY_STAFF,
        parse_mode="HTML" if mentions else "",
        # Counted in working hours, so it comes when someone is at the desk.
        respect_quiet_hours=False,
    )
    return len(escalated)
