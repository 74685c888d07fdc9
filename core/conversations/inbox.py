"""What the panel's inbox reads: open episodes oldest-waiting first, and a thread with its
lines' delivery states and the bot's other messages in the chat."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.conversations.models import Conversation, ThreadMessage
from core.messengers import best_chat, channel_name, thread_chats
from core.models import Appointment, OutboxMessage, Patient, PatientLink, Subscriber, Task
from core.patients.linking import linked_patients
from core.patients.persons import person_chats
from core.tasks import OPEN_STATES

# What a staff member reads under an outgoing line, from its outbox row's state.
DELIVERY_LABELS = {
    "pending": "отправляется",
    "claimed": "отправляется",
    "sending": "отправляется",
    "sent": "доставлено",
    "failed": "не отправлено",
    "unreachable": "не доставлено: пациент заблокировал бота",
    "unknown": "неизвестно, дошло ли (см. «Доставка»)",
    "cancelled": "отменено",
}
# Outbox kinds that are not messages of their own in the chat.
_EDIT_KINDS = ("edit_text", "edit_markup")


@dataclass
class InboxRow:
    task: Task
    subscriber: Subscriber | None
    waiting_seconds: int | None  # None: answered, the patient is not waiting


@dataclass
class Line:
    direction: str  # in | out | event
    kind: str
    text: str
    at: datetime
    author: str = ""
    delivery: str = ""  # outbox state, for outgoing lines
    line: ThreadMessage | None = None  # None for a bot message known only to the outbox
    channel: str = ""  # the messenger it came or went by ("telegram", "max")

    @property
    def delivery_label(self) -> str:
        return DELIVERY_LABELS.get(self.delivery, self.delivery)

    @property
    def channel_label(self) -> str:
        return channel_name(self.channel) if self.channel else ""


def episodes(
    session: Session,
    now: datetime,
    *,
    show: str = "open",
    who: str = "all",
    kind: str = "",
    me: str = "",
    limit: int = 200,
) -> list[InboxRow]:
    """Open episodes, the longest-waiting first (answered ones after them); ``who`` is
    "mine" (taken by ``me``), "unassigned" or "all"; ``show="all"`` adds closed ones,
    newest first."""
    stmt = select(Task, Subscriber).outerjoin(Subscriber, Subscriber.id == Task.subscriber_id)
    if show == "open":
        stmt = stmt.where(Task.state.in_(OPEN_STATES))
    if who == "mine":
        stmt = stmt.where(Task.taken_by == me)
    elif who == "unassigned":
        stmt = stmt.where(Task.state == "open")
    if kind:
        stmt = stmt.where(Task.kind == kind)
    if show == "open":
        stmt = stmt.order_by(
            Task.waiting_since.is_(None), func.coalesce(Task.waiting_since, Task.created_at)
        )
    else:
        # Newest first by id (the order they were created in): the primary key serves
        # it, where created_at has no index and 60,000 tasks would be sorted each time.
        stmt = stmt.order_by(Task.id.desc())
    rows = []
    for task, sub in session.execute(stmt.limit(limit)).all():
        waiting = None
        if task.waiting_since is not None and task.state in OPEN_STATES:
            waiting = max(int((now - task.waiting_since).total_seconds()), 0)
        rows.append(InboxRow(task, sub, waiting))
    return rows


def kinds(session: Session, open_only: bool = False) -> list[str]:
    """The kinds to filter by; ``open_only``: of open tasks (found through the state's
    index: every kind ever seen means reading all 60,000 tasks of a busy year)."""
    stmt = select(Task.kind).distinct().order_by(Task.kind)
    if open_only:
        stmt = stmt.where(Task.state.in_(OPEN_STATES))
    return list(session.scalars(stmt))


def thread(session: Session, conversation_id: int, limit: int = 500) -> list[Line]:
    """The last ``limit`` lines of a thread, oldest first, with the bot's other messages to
    the chat (reminders, notices) that the outbox still remembers."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return []
    recorded = list(
        session.scalars(
            select(ThreadMessage)
            .where(ThreadMessage.conversation_id == conversation_id)
            .order_by(ThreadMessage.id.desc())
            .limit(limit)
        )
    )[::-1]
    outbox_ids = [line.outbox_id for line in recorded if line.outbox_id is not None]
    states = dict(
        session.execute(
            select(OutboxMessage.id, OutboxMessage.state).where(OutboxMessage.id.in_(outbox_ids))
        ).all()
    )
    # A person in Telegram and MAX has one thread: each line says which messenger it
    # came by (a line from before lines named their chat is the thread's own chat's).
    chats = thread_chats(session, conv)
    own = chats.get(conv.subscriber_id)
    own_channel = own.channel if own is not None else ""

    def channel_of(line: ThreadMessage) -> str:
        chat = chats.get(line.subscriber_id) if line.subscriber_id else None
        return chat.channel if chat is not None else own_channel

    lines = [
        Line(
            line.direction,
            line.kind,
            line.text,
            line.created_at,
            author=line.author,
            delivery=states.get(line.outbox_id, "") if line.outbox_id else "",
            line=line,
            channel=channel_of(line),
        )
        for line in recorded
    ]
    since = recorded[0].created_at if len(recorded) >= limit else None
    if not chats:
        return lines
    others = select(OutboxMessage).where(
        or_(
            *(
                and_(OutboxMessage.channel == chat.channel, OutboxMessage.chat_id == chat.chat_id)
                for chat in chats.values()
            )
        ),
        OutboxMessage.kind.not_in(_EDIT_KINDS),
        OutboxMessage.id.not_in(outbox_ids),
    )
    if since is not None:
        others = others.where(OutboxMessage.created_at >= since)
    for row in session.scalars(others.order_by(OutboxMessage.id).limit(limit)):
        lines.append(
            Line("out", "notice", row.text, row.created_at, delivery=row.state, channel=row.channel)
        )
    lines.sort(key=lambda item: item.at)
    return lines


@dataclass
class Card:
    subscriber: Subscriber | None
    patients: list[Patient]
    upcoming: list[Appointment]
    # The person's chats in every messenger, and the one their messages go to now.
    chats: list[Subscriber] = field(default_factory=list)
    current_chat_id: int | None = None


def card(session: Session, task: Task, now: datetime) -> Card:
    """Who is writing: their chat, the patients it is linked to, their next visits."""
    sub = session.get(Subscriber, task.subscriber_id) if task.subscriber_id else None
    patients = linked_patients(session, sub) if sub is not None else []
    if not patients and task.patient_mis_id:
        found = session.scalar(select(Patient).where(Patient.mis_id == task.patient_mis_id))
        patients = [found] if found is not None else []
    ids = [p.mis_id for p in patients]
    upcoming = list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.patient_mis_id.in_(ids),
                Appointment.starts_at > now,
                Appointment.deleted.is_(False),
                Appointment.status == "scheduled",
            )
            .order_by(Appointment.starts_at)
            .limit(5)
        )
    )
    chats = person_chats(session, sub) if sub is not None else []
    current = best_chat(chats)
    return Card(sub, patients, upcoming, chats, current.id if current is not None else None)


def last_line_id(session: Session, conversation_id: int | None) -> int:
    if conversation_id is None:
        return 0
    found = session.scalar(
        select(func.max(ThreadMessage.id)).where(ThreadMessage.conversation_id == conversation_id)
    )
    return int(found or 0)


def answered_since(
    session: Session, task: Task, seen: int, user_id: int | None
) -> ThreadMessage | None:
    """A staff answer in the task's thread newer than line ``seen`` by someone other than
    ``user_id`` (from the panel or the group): what a reply written now has not seen."""
    if task.conversation_id is None:
        return None
    stmt = select(ThreadMessage).where(
        ThreadMessage.conversation_id == task.conversation_id,
        ThreadMessage.id > seen,
        ThreadMessage.direction == "out",
        ThreadMessage.author != "",
    )
    if user_id is not None:
        stmt = stmt.where(
            (ThreadMessage.author_user_id != user_id) | ThreadMessage.author_user_id.is_(None)
        )
    return session.scalar(stmt.order_by(ThreadMessage.id.desc()).limit(1))


@dataclass
class Hit:
    line: ThreadMessage
    task_id: int | None  # the episode the line belongs to, else the thread's newest
    who: str


def _variants(query: str) -> list[str]:
    # SQLite's LIKE folds case for ASCII only: «болит» must also find «Болит» and «БОЛИТ».
    return sorted({query, query.lower(), query.upper(), query.capitalize()})


def search(session: Session, query: str, limit: int = 50) -> list[Hit]:
    """Lines of every thread (kept forever) whose text holds ``query``, newest first; and
    lines of the threads of patients or chats whose name or phone holds it."""
    query = query.strip()
    if len(query) < 2:
        return []
    escaped = [
        v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in _variants(query)
    ]
    text_match = or_(*(ThreadMessage.text.like(f"%{v}%", escape="\\") for v in escaped))
    digits = "".join(ch for ch in query if ch.isdigit())
    people = select(Conversation.id).join(Subscriber, Subscriber.id == Conversation.subscriber_id)
    who_match = [
        *(Subscriber.first_name.like(f"%{v}%", escape="\\") for v in escaped),
        *(Subscriber.last_name.like(f"%{v}%", escape="\\") for v in escaped),
    ]
    if len(digits) >= 4:
        who_match.append(Subscriber.phone.like(f"%{digits}%"))
    linked = (
        select(Conversation.id)
        .join(PatientLink, PatientLink.subscriber_id == Conversation.subscriber_id)
        .join(Patient, Patient.mis_id == PatientLink.patient_mis_id)
        .where(or_(*(Patient.last_name.like(f"%{v}%", escape="\\") for v in escaped)))
    )
    convs = people.where(or_(*who_match)).union(linked)
    lines = session.scalars(
        select(ThreadMessage)
        .where(
            or_(
                text_match,
                and_(
                    ThreadMessage.conversation_id.in_(convs.scalar_subquery()),
                    ThreadMessage.direction == "in",
                ),
            )
        )
        .order_by(ThreadMessage.id.desc())
        .limit(limit)
    ).all()
    hits = []
    for line in lines:
        task_id = line.task_id or session.scalar(
            select(func.max(Task.id)).where(Task.conversation_id == line.conversation_id)
        )
        conv = session.get(Conversation, line.conversation_id)
        sub = session.get(Subscriber, conv.subscriber_id) if conv is not None else None
        patients = linked_patients(session, sub) if sub is not None else []
        who = (
            patients[0].full_name
            if patients
            else (
                " ".join(filter(None, [sub.first_name, sub.last_name])) if sub is not None else ""
            )
        )
        hits.append(Hit(line, task_id, who or "—"))
    return hits
