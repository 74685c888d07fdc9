"""What patients and staff say, filed into the thread and its episodes (tasks).

A patient's message joins the thread's open episode, or opens one (a "message" task); the
patient is acknowledged once per episode, with when to expect an answer if the clinic is
closed. A staff reply is a line with its author and goes out through the outbox at reply
priority; its outbox row gives its delivery state.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import messengers
from core.clock import utcnow
from core.config import Config
from core.conversations import files, hours, staff_group
from core.conversations.files import Upload
from core.conversations.lines import add_line, conversation_for
from core.conversations.models import Conversation, ThreadMessage
from core.conversations.splitting import split_text
from core.models import Subscriber, Task
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients.linking import linked_patients
from core.settings import store as settings
from core.tasks import OPEN_STATES, TaskStateError, create_task, transition
from core.texts import render

# Telegram's limit for the text under a photo or document.
CAPTION_LIMIT = 1024


class ReplyError(ValueError):
    """A staff reply that cannot go out; the message says why, in staff wording."""


@dataclass
class Incoming:
    """One patient message as the thread keeps it (built from a Telegram message)."""

    telegram_message_id: int
    kind: str = "text"
    text: str = ""
    file_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    file_size: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    line: ThreadMessage
    task: Task
    opened: bool


def open_episode(session: Session, conv: Conversation) -> Task | None:
    """The thread's newest open episode, which a new patient message joins."""
    return session.scalar(
        select(Task)
        .where(Task.conversation_id == conv.id, Task.state.in_(OPEN_STATES))
        .order_by(Task.id.desc())
        .limit(1)
    )


def summary(incoming: Incoming, lang: str, limit_mb: int) -> str:
    """The line as staff read it in a task's text: the words, or what was sent."""
    label = ""
    if incoming.kind != "text":
        label = render(
            f"line_{incoming.kind}",
            lang,
            name=incoming.file_name,
            emoji=incoming.extra.get("emoji", ""),
            phone=incoming.extra.get("phone", ""),
        ).strip()
    if incoming.extra.get("too_big"):
        label = f"{label} {render('line_file_too_big', lang, limit=limit_mb)}"
    return "\n".join(p for p in (label, incoming.text) if p)


def receive(session: Session, config: Config, sub: Subscriber, incoming: Incoming) -> Received:
    """File a patient's message: join the open episode or open one, acknowledge once."""
    now = utcnow()
    conv = conversation_for(session, sub)
    limit_mb = config.conversations.max_file_mb
    too_big = bool(incoming.extra.get("too_big"))
    file_state = "too_big" if too_big else ("pending" if incoming.file_id else "")
    line = add_line(
        session,
        conv,
        direction="in",
        kind=incoming.kind,
        text=incoming.text,
        telegram_message_id=incoming.telegram_message_id,
        file_id=incoming.file_id,
        file_name=incoming.file_name[:255],
        mime_type=incoming.mime_type[:100],
        file_size=incoming.file_size,
        file_state=file_state,
        file_error=render("line_file_too_big", "ru", limit=limit_mb) if too_big else "",
        subscriber_id=sub.id,
    )
    task = open_episode(session, conv)
    opened = task is None
    if task is None:
        patients = linked_patients(session, sub)
        who = (
            patients[0].full_name
            if patients
            else " ".join(filter(None, [sub.first_name, sub.last_name])) or f"id {sub.id}"
        )
        lang = config.clinic.language
        task = create_task(
            session,
            config,
            kind="message",
            key=f"message:{_chat_key(sub)}:{incoming.telegram_message_id}",
            text=render(
                "task_message",
                lang,
                patient=who,
                phone=sub.phone or "—",
                text=summary(incoming, lang, limit_mb),
            ),
            subscriber_id=sub.id,
            patient_mis_id=patients[0].mis_id if patients else "",
        )
    line.task_id = task.id
    task.message_count = (task.message_count or 0) + 1
    task.last_message_at = now
    if task.waiting_since is None:
        task.waiting_since = now
    if task.acknowledged_at is None:
        task.acknowledged_at = now
        in_force = settings.effective(session, config)  # working hours set on «Настройки»
        if hours.is_open(in_force, now):
            ack = render("message_received_open", sub.language)
        else:
            opens = hours.answer_expected(in_force, now, sub.language)
            ack = render("message_received_closed", sub.language, opens=opens)
        notice(session, sub, f"message-ack:{task.id}", ack)
    if too_big:
        notice(
            session,
            sub,
            f"file-too-big:{_chat_key(sub)}:{incoming.telegram_message_id}",
            render("file_too_big", sub.language, limit=limit_mb),
        )
    session.flush()
    staff_group.refresh(session, config, task, now=now)
    return Received(line, task, opened)


def _chat_key(sub: Subscriber) -> str:
    # Chat ids are only unique within a messenger; Telegram's keys keep their first shape.
    return str(sub.chat_id) if sub.channel == "telegram" else f"{sub.channel}:{sub.chat_id}"


def notice(session: Session, sub: Subscriber, key: str, text: str) -> ThreadMessage | None:
    """The bot's own answer in the chat, kept in the thread and sent at reply priority."""
    row = enqueue(
        session,
        key=key,
        chat_id=sub.chat_id,
        channel=sub.channel,
        text=text,
        kind="reply",
        priority=PRIORITY_REPLY,
        respect_quiet_hours=False,
    )
    if row is None:
        return None
    conv = conversation_for(session, sub)
    return add_line(
        session,
        conv,
        direction="out",
        kind="notice",
        text=text,
        outbox_id=row.id,
        subscriber_id=sub.id,
    )


def reply(
    session: Session,
    task: Task,
    text: str,
    *,
    author: str,
    author_user_id: int | None = None,
    config: Config | None = None,
    upload: Upload | None = None,
) -> list[ThreadMessage]:
    """A staff member answers the patient of ``task``'s thread, with a text, a file, or
    both (a text that fits Telegram's 1,024-character caption goes under the file).

    The reply takes the task if nobody had (someone else's is left theirs); a text over
    Telegram's 4,096 characters goes in parts cut at paragraphs.
    """
    text = text.strip()
    if not text and upload is None:
        raise ReplyError("Пустой ответ: напишите текст или приложите файл.")
    if upload is not None:
        if config is None:
            raise ReplyError("Файл можно отправить только из панели.")
        if not upload.data:
            raise ReplyError("Файл пустой: выберите другой.")
        if len(upload.data) > files.limit_bytes(config):
            raise ReplyError(
                f"Файл больше {config.conversations.max_file_mb} МБ — не отправлен. "
                "Уменьшите его или отправьте ссылкой."
            )
    if task.conversation_id is None:
        raise ReplyError(f"У задачи #{task.id} нет переписки с пациентом в мессенджере.")
    conv = session.get(Conversation, task.conversation_id)
    # By the messenger of the patient's message it answers (core.messengers.reply_chat).
    route = messengers.reply_chat(session, task, conv) if conv is not None else None
    if conv is None or route is None or route.answered is None:
        raise ReplyError(f"У задачи #{task.id} нет переписки с пациентом в мессенджере.")
    sub = route.chat
    if sub is None:
        raise ReplyError(
            "Пациент заблокировал бота или удалил аккаунт: сообщение не дойдёт. "
            "Свяжитесь с ним по телефону."
        )
    if task.state == "open":
        # Taken a moment ago by someone else: the reply still goes to the patient.
        with contextlib.suppress(TaskStateError):
            transition(session, task, "take", author)
    now = utcnow()
    if route.note:
        add_line(
            session,
            conv,
            direction="event",
            kind="event",
            event="rerouted",
            text=route.note,
            task_id=task.id,
            subscriber_id=sub.id,
        )
    lines = []
    caption = ""
    if upload is not None and len(text) <= CAPTION_LIMIT:
        caption, text = text, ""
    for part in split_text(text) if text else []:
        line = add_line(
            session,
            conv,
            direction="out",
            kind="reply",
            text=part,
            task_id=task.id,
            author=author[:100],
            author_user_id=author_user_id,
            subscriber_id=sub.id,
        )
        row = enqueue(
            session,
            key=f"staff-reply:{line.id}",
            chat_id=sub.chat_id,
            channel=sub.channel,
            text=part,
            kind="reply",
            priority=PRIORITY_REPLY,
            respect_quiet_hours=False,
            patient_mis_id=task.patient_mis_id,
        )
        line.outbox_id = row.id if row is not None else None
        lines.append(line)
    if upload is not None:
        assert config is not None
        lines.append(
            file_line(
                session,
                config,
                conv,
                sub,
                upload,
                caption,
                author,
                task_id=task.id,
                author_user_id=author_user_id,
                patient_mis_id=task.patient_mis_id,
            )
        )
    # The first answer counts once, whoever gave it (a conditional update: two replying at
    # once both go out, the first is the one measured).
    session.execute(
        update(Task)
        .where(Task.id == task.id, Task.first_response_at.is_(None))
        .values(first_response_at=now, first_response_by=author[:100])
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Task)
        .where(Task.id == task.id)
        .values(waiting_since=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(task)
    # The staff group's post shows the answer too; without the config at hand (the panel)
    # the runner's staff_posts job brings it up to date within seconds.
    if config is not None:
        staff_group.refresh(session, config, task, now=now)
    else:
        staff_group.mark_dirty(session, task)
    return lines


def file_line(
    session: Session,
    config: Config,
    conv: Conversation,
    sub: Subscriber,
    upload: Upload,
    caption: str,
    author: str,
    *,
    task_id: int | None = None,
    author_user_id: int | None = None,
    patient_mis_id: str = "",
    keyboard: dict | None = None,
) -> ThreadMessage:
    """A file from the clinic (a staff reply's attachment, a document to sign): kept under
    the data directory like the patient's, a line of the thread, and an outbox row of kind
    "file" at reply priority that the transport reads it back for (files.outgoing_file) —
    the row itself carries only the caption and any buttons."""
    line = add_line(
        session,
        conv,
        direction="out",
        kind="photo" if upload.as_photo else "document",
        text=caption,
        task_id=task_id,
        author=author[:100],
        author_user_id=author_user_id,
        file_name=files.clean_name(upload.file_name),
        mime_type=upload.mime_type[:100],
        file_size=len(upload.data),
        file_state="stored",
        subscriber_id=sub.id,
    )
    line.file_path = files.save_outgoing(config, conv.id, line.id, upload)
    queue_file(session, sub, line, keyboard=keyboard, patient_mis_id=patient_mis_id)
    return line


def queue_file(
    session: Session,
    sub: Subscriber,
    line: ThreadMessage,
    *,
    priority: int = PRIORITY_REPLY,
    due_at: datetime | None = None,
    respect_quiet_hours: bool = False,
    keyboard: dict | None = None,
    patient_mis_id: str = "",
) -> bool:
    """The outbox row that sends a stored file line (its caption, any buttons): keyed by the
    line, which the transport reads the file back by (files.outgoing_file). False when the
    key was queued before (nothing new)."""
    row = enqueue(
        session,
        key=f"staff-reply:{line.id}",
        chat_id=sub.chat_id,
        channel=sub.channel,
        text=line.text,
        kind="file",
        priority=priority,
        due_at=due_at,
        respect_quiet_hours=respect_quiet_hours,
        reply_markup=keyboard,
        patient_mis_id=patient_mis_id,
    )
    line.outbox_id = row.id if row is not None else None
    return row is not None
