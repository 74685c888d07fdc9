"""A review or social bonus asked for in the bot with a screenshot (issue 11 part 7).

The patient presses «Получить бонус за отзыв» on «Мои бонусы»; the bot asks for the
screenshot and remembers the ask as an event line of the thread. The next image the patient
sends becomes an approval episode (a task of kind "review_screenshot" or
"social_screenshot") with the image as its line. In the panel's thread view the staff
approve it — the points go through core.loyalty.operations.approve_bonus, once per patient
and platform — or reject it, and the patient is told either way.

Compliance (../shared/reference/reviews-consent-and-peers.md): the bonus is for the fact of
a review; nothing here reads a rating, the review's words or its stars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config, LoyaltyConfig
from core.conversations.lines import add_line, conversation_for, record_event
from core.conversations.models import ThreadMessage
from core.conversations.threads import Incoming, notice, summary
from core.loyalty import operations
from core.loyalty.settings import effective
from core.models import OutboxMessage, Subscriber, Task
from core.patients.linking import linked_patients
from core.tasks import TaskStateError, announce_state, create_task, transition
from core.texts import render

KINDS = ("review", "social")
TASK_KINDS = {"review": "review_screenshot", "social": "social_screenshot"}
ASKED = "screenshot_asked"  # the event line's `event`, with ":review" or ":social"
# An ask older than this is forgotten: a photo a week later is an ordinary message.
ASK_TTL = timedelta(hours=24)


class ScreenshotError(ValueError):
    """A staff decision that cannot be carried out; the message is for the person."""


def points_for(settings: LoyaltyConfig, kind: str) -> int:
    return settings.review_bonus if kind == "review" else settings.social_bonus


def offered(session: Session, config: Config) -> list[tuple[str, int]]:
    """The bonuses a patient may ask for with a screenshot now: (kind, points)."""
    settings = effective(session, config)
    if not (settings.enabled and settings.bonus_screenshots):
        return []
    return [(kind, points_for(settings, kind)) for kind in KINDS if points_for(settings, kind)]


def ask(session: Session, config: Config, sub: Subscriber, kind: str, key: str) -> bool:
    """Ask for the screenshot; False when that bonus is not on offer (a stale button)."""
    points = dict(offered(session, config)).get(kind)
    if not points:
        return False
    record_event(session, sub, f"{ASKED}:{kind}", render(f"screenshot_asked_{kind}", "ru"))
    notice(session, sub, key, render(f"screenshot_ask_{kind}", sub.language, points=points))
    return True


def awaited(session: Session, config: Config, sub: Subscriber) -> str:
    """The bonus kind whose screenshot this chat was asked for and has not sent, or "" (also
    when the clinic has turned that bonus off since: the picture is then a plain message)."""
    conv = conversation_for(session, sub)
    last = session.scalar(
        select(ThreadMessage)
        .where(
            ThreadMessage.conversation_id == conv.id,
            ThreadMessage.event.in_([f"{ASKED}:{k}" for k in KINDS] + list(TASK_KINDS.values())),
        )
        .order_by(ThreadMessage.id.desc())
        .limit(1)
    )
    if last is None or not last.event.startswith(ASKED) or last.created_at < utcnow() - ASK_TTL:
        return ""
    kind = last.event.split(":", 1)[1]
    return kind if kind in dict(offered(session, config)) else ""


def file_screenshot(
    session: Session, config: Config, sub: Subscriber, kind: str, incoming: Incoming
) -> Task:
    """The screenshot as an approval episode of the thread: its own task, the image its line."""
    patients = linked_patients(session, sub)
    patient = patients[0] if patients else None
    lang = config.clinic.language
    chat = str(sub.chat_id) if sub.channel == "telegram" else f"{sub.channel}:{sub.chat_id}"
    task = create_task(
        session,
        config,
        kind=TASK_KINDS[kind],
        key=f"{TASK_KINDS[kind]}:{chat}:{incoming.telegram_message_id}",
        text=render(
            "task_screenshot",
            lang,
            what=render(f"screenshot_what_{kind}", lang),
            patient=patient.full_name if patient else f"id {sub.id}",
            phone=sub.phone or "—",
            text=summary(incoming, lang, config.conversations.max_file_mb),
        ),
        subscriber_id=sub.id,
        patient_mis_id=patient.mis_id if patient else "",
        acknowledged=True,
    )
    add_line(
        session,
        conversation_for(session, sub),
        direction="in",
        kind=incoming.kind,
        text=incoming.text,
        telegram_message_id=incoming.telegram_message_id,
        file_id=incoming.file_id,
        file_name=incoming.file_name[:255],
        mime_type=incoming.mime_type[:100],
        file_size=incoming.file_size,
        file_state="pending" if incoming.file_id else "",
        task_id=task.id,
        subscriber_id=sub.id,
    )
    task.message_count = (task.message_count or 0) + 1
    notice(
        session,
        sub,
        f"screenshot-received:{task.id}",
        render("screenshot_received", sub.language),
    )
    return task


@dataclass
class Decision:
    points: int  # credited now; 0 when rejected or already credited for that platform
    repeated: bool


def _kind_of(task: Task) -> str:
    for kind, task_kind in TASK_KINDS.items():
        if task.kind == task_kind:
            return kind
    raise ScreenshotError(f"Задача #{task.id} — не скриншот отзыва.")


def _close(session: Session, config: Config, task: Task, action: str, who: str) -> None:
    """Close the episode first, by a conditional update: of two approvals (two tabs, a
    double click) only one gets past here, so a screenshot is credited at most once."""
    try:
        transition(session, task, action, who)
    except TaskStateError:
        raise ScreenshotError(
            f"Скриншот уже рассмотрен ({task.taken_by or 'другой сотрудник'}): "
            "бонусы второй раз не начисляются."
        ) from None


def approve(session: Session, config: Config, task: Task, platform: str, who: str) -> Decision:
    """Credit the bonus for the platform staff read off the screenshot and tell the patient.
    Raises ScreenshotError (nothing changed) or operations.OperationError."""
    kind = _kind_of(task)
    if not task.patient_mis_id:
        raise ScreenshotError("Чат не связан с картой пациента: начислить некому.")
    _close(session, config, task, "done", who)
    outcome = operations.approve_bonus(
        session, config, task.patient_mis_id, kind=kind, platform=platform, user=who, now=utcnow()
    )
    sub = session.get(Subscriber, task.subscriber_id) if task.subscriber_id else None
    if sub is not None:
        record_event(
            session, sub, "screenshot_approved", f"Одобрено: {who}, {platform}", task_id=task.id
        )
        # approve_bonus tells the account's chats unless they muted bonus notices; the
        # patient who asked is answered in any case.
        told = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.key == f"bonus-{kind}:{task.patient_mis_id}:{platform}:{sub.id}"
            )
        )
        if told is None:
            text = (
                render("screenshot_already", sub.language)
                if outcome.repeated
                else render(
                    "screenshot_approved", sub.language, points=outcome.posting.entry.amount
                )
            )
            notice(session, sub, f"screenshot-approved:{task.id}", text)
    announce_state(session, config, task, who)
    points = 0 if outcome.repeated else outcome.posting.entry.amount
    return Decision(points=points, repeated=outcome.repeated)


def reject(session: Session, config: Config, task: Task, who: str) -> None:
    """Close the episode without points and tell the patient politely."""
    _kind_of(task)
    _close(session, config, task, "dismiss", who)
    sub = session.get(Subscriber, task.subscriber_id) if task.subscriber_id else None
    if sub is not None:
        record_event(session, sub, "screenshot_rejected", f"Отклонено: {who}", task_id=task.id)
        notice(
            session,
            sub,
            f"screenshot-rejected:{task.id}",
            render("screenshot_rejected", sub.language),
        )
    announce_state(session, config, task, who)
