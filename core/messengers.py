"""One patient, several messengers: which of a person's chats a message goes by.

A person (one proven number) may be linked in Telegram and in MAX. Everything for them goes
to one chat, never to both: the messenger they chose in the bot's settings, else the one
they used last (core.patients.linking.reachable_subscribers and one_chat_per_person). A chat that
turns out blocked or deleted (a 403) hands what it could not deliver to the person's other
chat, and the thread says so for the staff. A staff reply goes back by the messenger of the
patient's message it answers (core.conversations.threads.reply, through reply_chat).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.conversations.lines import add_line, conversation_for
from core.conversations.models import Conversation, ThreadMessage
from core.models import OutboxMessage, PatientLink, Subscriber, Task
from core.outbox import enqueue
from core.patients.linking import chat_rank, one_chat_per_person
from core.patients.persons import person_chats
from core.texts import render

CHANNEL_NAMES = {"telegram": "Telegram", "max": "MAX"}
# What a blocked chat's queue does not hand to the person's other messenger: edits belong
# to a message in the blocked chat; mailings are not pushed through a second messenger
# (a patient who blocked one may want fewer, and MAX's rules on mailings are the clinic's
# to check); a one-time code goes by SMS anyway.
NOT_REROUTED = frozenset({"edit_markup", "edit_text", "campaign", "holiday", "birthday"})


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


def best_chat(chats: Sequence[Subscriber]) -> Subscriber | None:
    """Of one person's chats, the one that gets their messages (reachable ones only)."""
    reachable = [c for c in chats if c.unreachable_at is None]
    if not reachable:
        return None
    ranked = max(reachable, key=lambda c: (chat_rank(c.preferred_at, c.last_seen_at), -c.id))
    return ranked


def current_chat(session: Session, sub: Subscriber) -> Subscriber | None:
    """The chat of this person that gets their messages now."""
    return best_chat(person_chats(session, sub))


@dataclass
class Choice:
    chats: list[Subscriber]  # the person's chats, one per messenger shown
    current: Subscriber | None  # where messages go now
    chosen: bool  # by the person's choice, rather than by the one used last


def choice(session: Session, sub: Subscriber) -> Choice:
    chats = person_chats(session, sub)
    current = best_chat(chats)
    chosen = current is not None and current.preferred_at is not None
    return Choice(chats, current, chosen)


def set_preferred_channel(session: Session, sub: Subscriber, channel: str | None) -> Subscriber:
    """The person of ``sub`` chooses where the clinic writes: ``channel`` ("telegram",
    "max"), or None for "the one I used last". Returns the chat that gets messages now.

    Raises ValueError if the person has no reachable chat in that messenger.
    """
    chats = person_chats(session, sub)
    now = utcnow()
    if channel is None:
        for chat in chats:
            chat.preferred_at = None
    else:
        wanted = [c for c in chats if c.channel == channel and c.unreachable_at is None]
        if not wanted:
            raise ValueError(f"no reachable {channel} chat of this person")
        # The chat the choice was made in, if it is in that messenger; else its newest.
        target = sub if sub in wanted else max(wanted, key=lambda c: c.id)
        for chat in chats:
            chat.preferred_at = now if chat is target else None
    session.flush()
    found = best_chat(chats)
    return found if found is not None else sub


def chosen_ids(
    session: Session, subs: Iterable[Subscriber], closed: tuple[str, ...] = ()
) -> set[int]:
    """Of many chats (a mailing's chunk), the ids of those that are their person's chosen
    chat among the messengers not `closed` to it: in one query per 500 numbers, not one
    per chat. (A person who chose MAX, with MAX closed to mailings, gets them by Telegram.)"""
    subs = list(subs)
    keep = {s.id for s in subs if not s.phone}
    phones = sorted({s.phone for s in subs if s.phone})
    for start in range(0, len(phones), 500):
        rows = session.execute(
            select(
                Subscriber.phone, Subscriber.preferred_at, Subscriber.last_seen_at, Subscriber.id
            )
            .where(
                Subscriber.phone.in_(phones[start : start + 500]),
                Subscriber.unreachable_at.is_(None),
                Subscriber.channel.not_in(closed),
                exists().where(PatientLink.subscriber_id == Subscriber.id),
            )
            .order_by(Subscriber.id)
        ).all()
        keep.update(
            one_chat_per_person(
                [(phone, chat_rank(pref, seen), sid, sid) for phone, pref, seen, sid in rows]
            )
        )
    return keep


# --- a chat that turned out blocked or deleted ---------------------------------------------


def reroute_blocked(
    session: Session,
    *,
    channel: str,
    chat_id: int,
    failed_id: int,
    reason: str,
    lang: str = "ru",
) -> list[OutboxMessage]:
    """A 403 in ``channel``'s ``chat_id``: what its queue still holds for the person (the
    message that failed and the pending ones), each once more by the person's other
    messenger. Call it before outbox.mark_unreachable drops that queue. The thread gets a
    line saying so; a line that carried a message now names the new row, so its delivery
    state is the one that counts. Returns the new rows (none: no other chat)."""
    blocked = session.scalar(
        select(Subscriber).where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
    )
    if blocked is None or chat_id < 0:
        return []
    target = best_chat([c for c in person_chats(session, blocked) if c.id != blocked.id])
    if target is None:
        return []
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            or_(
                OutboxMessage.id == failed_id,
                (OutboxMessage.channel == channel)
                & (OutboxMessage.chat_id == chat_id)
                & OutboxMessage.state.in_(("pending", "claimed")),
            )
        )
        .order_by(OutboxMessage.id)
    ).all()
    moved: dict[int, OutboxMessage] = {}
    for row in rows:
        if row.kind in NOT_REROUTED or row.edit_message_id:
            continue
        copy = enqueue(
            session,
            key=f"{row.key}:via:{target.channel}"[:200],
            chat_id=target.chat_id,
            channel=target.channel,
            text=row.text,
            kind=row.kind,
            priority=row.priority,
            reply_markup=row.reply_markup,
            respect_quiet_hours=row.respect_quiet_hours,
            parse_mode=row.parse_mode,
            patient_mis_id=row.patient_mis_id,
            campaign_id=row.campaign_id,
        )
        if copy is not None:
            moved[row.id] = copy
    if not moved:
        return []
    conv = conversation_for(session, target)
    for line in session.scalars(
        select(ThreadMessage).where(
            ThreadMessage.conversation_id == conv.id, ThreadMessage.outbox_id.in_(list(moved))
        )
    ):
        assert line.outbox_id is not None
        line.outbox_id = moved[line.outbox_id].id
        line.subscriber_id = target.id
    add_line(
        session,
        conv,
        direction="event",
        kind="event",
        event="rerouted",
        text=render(
            "rerouted_note",
            lang,
            blocked=channel_name(channel),
            reason=reason[:120],
            target=channel_name(target.channel),
            count=len(moved),
        ),
        subscriber_id=target.id,
    )
    return list(moved.values())


# --- staff replies -----------------------------------------------------------------------


@dataclass
class ReplyRoute:
    chat: Subscriber | None  # where the reply goes; None: nowhere reachable
    answered: Subscriber | None  # the chat of the message it answers
    note: str = ""  # for the thread, when the reply goes elsewhere than it was asked


def reply_chat(session: Session, task: Task, conv: Conversation, lang: str = "ru") -> ReplyRoute:
    """Where a staff reply to ``task`` goes: by the messenger of the episode's last patient
    message (else the chat that opened it, else the thread's own); if that chat is blocked
    or deleted, by the person's other messenger, and the thread is told."""
    sub_id = session.scalar(
        select(ThreadMessage.subscriber_id)
        .where(
            ThreadMessage.task_id == task.id,
            ThreadMessage.direction == "in",
            ThreadMessage.subscriber_id.is_not(None),
        )
        .order_by(ThreadMessage.id.desc())
        .limit(1)
    )
    answered = session.get(Subscriber, sub_id or task.subscriber_id or conv.subscriber_id)
    if answered is None:
        return ReplyRoute(None, None)
    if answered.unreachable_at is None:
        return ReplyRoute(answered, answered)
    other = best_chat([c for c in person_chats(session, answered) if c.id != answered.id])
    if other is None:
        return ReplyRoute(None, answered)
    note = render(
        "reply_rerouted_note",
        lang,
        blocked=channel_name(answered.channel),
        target=channel_name(other.channel),
    )
    return ReplyRoute(other, answered, note)


def thread_chats(session: Session, conv: Conversation) -> dict[int, Subscriber]:
    """The chats whose lines a thread holds, by id: its own and the person's others."""
    own = session.get(Subscriber, conv.subscriber_id)
    chats = person_chats(session, own) if own is not None else []
    ids = {
        sid
        for sid in session.scalars(
            select(ThreadMessage.subscriber_id)
            .where(ThreadMessage.conversation_id == conv.id)
            .distinct()
        )
        if sid is not None
    }
    found = {c.id: c for c in chats}
    for sid in ids - set(found):
        sub = session.get(Subscriber, sid)
        if sub is not None:
            found[sid] = sub
    return found
