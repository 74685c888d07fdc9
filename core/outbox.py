"""The durable outbox: every outgoing message is a row before it is a request.

Handlers and rules only enqueue; the dispatcher (jobs/dispatcher.py) sends. The key makes
enqueueing idempotent ("reminder:<appointment>:<starts_at>"), so a rule that runs twice, or
a restart in the middle of one, cannot send a patient the same message twice.

A row's life: pending -> claimed (a dispatcher holds it in memory, nothing sent yet) ->
sending (the request is on the wire) -> sent. Failures end in unreachable (403: the patient
blocked the bot), failed (gave up, or Telegram refused the message itself) or cancelled.
A row found 'sending' after a crash is 'unknown': Telegram may or may not have it, and the
Bot API offers no way to ask, so it is never resent by itself (README, "Delivery").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import UTCDateTime
from core.models import OutboxMessage, Subscriber, TelegramUpdate

# Lower goes first. Within a level, earlier due_at, then enqueue order.
PRIORITY_REPLY = 0  # an answer to something the patient just did
PRIORITY_STAFF = 5  # tasks and alerts to the staff group
# A backlog's edits to the staff group (the posts of tasks escalated in one sweep): after
# the group's new posts, ahead of anything a patient waits for less.
PRIORITY_STAFF_BACKLOG = 7
PRIORITY_NOTICE = 10  # "you are booked / moved / cancelled", bonus notices: news, now
PRIORITY_REMINDER = 20  # day-before reminders, ratings: planned in bulk, due within hours
PRIORITY_GREETING = 30  # birthdays
PRIORITY_CAMPAIGN = 50  # broadcasts and holidays: never ahead of anything else

# Kinds that may go by SMS: transactional only. Mailings never do (no consent for them).
# phone_code: the one-time code that proves a phone for a messenger that cannot (MAX);
# document_code: the one-time code that signs a document (core/documents/signing.py).
SMS_KINDS = frozenset({"reminder", "phone_code", "document_code"})
# Edits are idempotent on Telegram's side (the same edit twice is "message is not modified"),
# so an edit whose outcome is unknown may simply be tried again.
IDEMPOTENT_KINDS = frozenset({"edit_markup", "edit_text"})

FINAL_STATES = ("sent", "unreachable", "failed", "cancelled", "unknown")


def enqueue(
    session: Session,
    *,
    key: str,
    chat_id: int,
    text: str,
    kind: str,
    priority: int = PRIORITY_NOTICE,
    reply_markup: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    respect_quiet_hours: bool = True,
    edit_message_id: int | None = None,
    parse_mode: str = "",
    channel: str = "telegram",
    phone: str = "",
    patient_mis_id: str = "",
    campaign_id: int | None = None,
) -> OutboxMessage | None:
    """Add a message unless one with this key exists; returns the new row or None."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return None
    if channel == "sms" and kind not in SMS_KINDS:
        raise ValueError(f"{kind!r} messages never go by SMS (only {sorted(SMS_KINDS)})")
    message = OutboxMessage(
        key=key,
        channel=channel,
        chat_id=chat_id,
        phone=phone,
        patient_mis_id=patient_mis_id,
        campaign_id=campaign_id,
        text=text,
        kind=kind,
        priority=priority,
        reply_markup=reply_markup,
        due_at=due_at or utcnow(),
        respect_quiet_hours=respect_quiet_hours,
        edit_message_id=edit_message_id,
        parse_mode=parse_mode,
        state="pending",
    )
    session.add(message)
    session.flush()
    return message


def enqueue_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Bulk enqueue for fan-outs (reminders, campaigns): keys already present are skipped.

    One existence query and one multi-row INSERT per call instead of two statements per
    message, which matters at 30,000 recipients. Returns how many rows were added.
    """
    if not rows:
        return 0
    keys = [r["key"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        existing.update(
            session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk)))
        )
    now = utcnow()
    fresh: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if row["key"] in existing or row["key"] in seen:
            continue
        if row.get("channel", "telegram") == "sms" and row["kind"] not in SMS_KINDS:
            raise ValueError(f"{row['kind']!r} messages never go by SMS")
        seen.add(row["key"])
        fresh.append(
            {
                "channel": "telegram",
                "chat_id": 0,
                "phone": "",
                "patient_mis_id": "",
                "campaign_id": None,
                "priority": PRIORITY_NOTICE,
                "reply_markup": None,
                "parse_mode": "",
                "edit_message_id": None,
                "respect_quiet_hours": True,
                "due_at": now,
                "state": "pending",
                "claim_token": "",
                "attempts": 0,
                "last_error": "",
                "created_at": now,
                **row,
            }
        )
    if fresh:
        session.execute(insert(OutboxMessage), fresh)
    return len(fresh)


def inline_keyboard(rows: list[list[tuple[str, str]]]) -> dict[str, Any]:
    """[[(text, callback_data), ...], ...] -> Telegram InlineKeyboardMarkup as a dict."""
    for row in rows:
        for _, data in row:
            if len(data.encode()) > 64:
                raise ValueError(f"callback data {data!r} exceeds Telegram's 64 bytes")
    return {
        "inline_keyboard": [
            [{"text": text, "callback_data": data} for text, data in row] for row in rows
        ]
    }


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    def next_allowed(self, now: datetime) -> datetime | None:
        """None if ``now`` is outside quiet hours, else when they end (aware, UTC-comparable)."""
        local = now.astimezone(self.tz)
        t = local.time()
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= t < self.end
        else:  # spans midnight, e.g. 21:00 -> 09:00
            inside = t >= self.start or t < self.end
        if not inside:
            return None
        end_day = local.date()
        if self.start > self.end and t >= self.start:
            end_day += timedelta(days=1)
        return datetime.combine(end_day, self.end, tzinfo=self.tz)


# --- the dispatcher's side -----------------------------------------------------------------


def defer_for_quiet_hours(session: Session, now: datetime, resume: datetime) -> int:
    """Move every due message that respects quiet hours to when they end, in one statement.

    Replies to a patient (priority 0) never wait: they answer something just done.
    """
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.state == "pending",
            OutboxMessage.due_at <= now,
            OutboxMessage.respect_quiet_hours.is_(True),
            OutboxMessage.priority > PRIORITY_REPLY,
        )
        .values(due_at=resume, last_error="quiet hours")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def claim(
    session: Session,
    now: datetime,
    limit: int,
    token: str,
    *,
    skip_chats: Iterable[int] = (),
    skip_lanes: Iterable[tuple[str, int]] = (),
    more_urgent_than: int | None = None,
) -> list[OutboxMessage]:
    """Atomically take up to `limit` due messages, most urgent first: pending -> claimed.

    One UPDATE marks them with `token`, unique to this claim ("<dispatcher>:<batch>"); only
    rows still pending are taken, so two claimers can never hold the same row, and the rows
    returned are exactly this claim's. `skip_chats` are chats the caller already
    holds enough of (a chat takes one message a second; more would only sit in memory);
    Telegram's by chat id, other messengers' as (channel, chat id) in `skip_lanes` (a chat
    id means nothing outside its messenger).
    `more_urgent_than` limits the claim to priorities below it: with its lookahead full of
    a campaign, the dispatcher still takes a patient's reply, and nothing else.
    """
    candidates = (
        select(OutboxMessage.id)
        .where(OutboxMessage.state == "pending", OutboxMessage.due_at <= now)
        .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if more_urgent_than is not None:
        candidates = candidates.where(OutboxMessage.priority < more_urgent_than)
    skip = sorted(set(skip_chats))
    if skip:
        candidates = candidates.where(
            or_(OutboxMessage.channel != "telegram", OutboxMessage.chat_id.not_in(skip))
        )
    by_channel: dict[str, set[int]] = {}
    for channel, chat_id in skip_lanes:
        by_channel.setdefault(channel, set()).add(chat_id)
    for channel, chats in sorted(by_channel.items()):
        candidates = candidates.where(
            or_(OutboxMessage.channel != channel, OutboxMessage.chat_id.not_in(sorted(chats)))
        )
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(candidates.scalar_subquery()),
            # Written so that no index serves it: the rows are found by id (a handful),
            # not by walking every pending row (30,000 during a campaign) to match them.
            OutboxMessage.state.concat("") == "pending",
        )
        .values(state="claimed", claim_token=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "claimed", OutboxMessage.claim_token == token)
            .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
        )
    )


# The two statements run for every message sent, built once: at 30 a second, building
# them anew through the ORM cost more CPU than the rest of the send.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_BEGIN_SEND = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("mid"),
        _OUTBOX.c.state == "claimed",
        _OUTBOX.c.claim_token == bindparam("token"),
    )
    .values(state="sending", attempts=_OUTBOX.c.attempts + 1)
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("mid"))
    .values(
        state="sent",
        sent_at=bindparam("sent_at", type_=UTCDateTime()),
        telegram_message_id=bindparam("telegram_id"),
        last_error="",
        claim_token="",
    )
)


def begin_send(db: Session | Connection, message_id: int, token: str) -> bool:
    """claimed -> sending just before the request; False if it was cancelled meanwhile
    (a 403 for the same chat, a campaign stopped by the owner). `token` is the claim's."""
    result = db.execute(_BEGIN_SEND, {"mid": message_id, "token": token})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_sent(
    db: Session | Connection, message_id: int, telegram_id: int | None, now: datetime
) -> None:
    db.execute(_MARK_SENT, {"mid": message_id, "telegram_id": telegram_id, "sent_at": now})


def release(session: Session, dispatcher: str, ids: Sequence[int] | None = None) -> int:
    """claimed -> pending for every claim of this dispatcher (tokens "<dispatcher>:..."):
    nothing was sent, so handing them back is always safe."""
    stmt = update(OutboxMessage).where(
        OutboxMessage.state == "claimed",
        OutboxMessage.claim_token.startswith(dispatcher + ":", autoescape=True),
    )
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    result = session.execute(
        stmt.values(state="pending", claim_token="").execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def recover_after_restart(session: Session) -> tuple[int, int]:
    """Settle what a dead dispatcher left behind; returns (back to pending, unknown).

    Only the runner holding the single-runner lock calls this, before it claims anything,
    so every claimed or sending row belongs to a process that is gone. Claimed rows were
    never sent and go back. A row left 'sending' may have reached Telegram (most likely it
    did: the request leaves within a millisecond of the mark, the kill lands later), and
    sending it again could greet a patient twice; it becomes 'unknown' for a person to
    look at, except edits, which are safe to repeat.
    """
    back = session.execute(
        update(OutboxMessage)
        .where(
            or_(
                OutboxMessage.state == "claimed",
                and_(
                    OutboxMessage.state == "sending",
                    OutboxMessage.kind.in_(sorted(IDEMPOTENT_KINDS)),
                ),
            )
        )
        .values(state="pending", claim_token="")
    )
    unknown = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "sending")
        .values(
            state="unknown",
            claim_token="",
            last_error="outcome unknown: the process stopped while this request was on the "
            "wire; not resent automatically",
        )
    )
    return int(back.rowcount), int(unknown.rowcount)  # type: ignore[attr-defined]


def mark_unreachable(
    session: Session, chat_id: int, reason: str, now: datetime, channel: str = "telegram"
) -> None:
    """A 403 is final: the patient blocked the bot. Stop everything queued for them (in
    that messenger: chat ids are only unique within one)."""
    session.execute(
        update(Subscriber)
        .where(
            Subscriber.channel == channel,
            Subscriber.chat_id == chat_id,
            Subscriber.unreachable_at.is_(None),
        )
        .values(unreachable_at=now, unreachable_reason=reason[:200])
    )
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.state.in_(("pending", "claimed")),
        )
        .values(state="unreachable", last_error=reason)
    )


# --- the panel's side ----------------------------------------------------------------------


def resend(session: Session, message_id: int, who: str) -> bool:
    """A person decided: send an 'unknown' or 'failed' message (again)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state.in_(("unknown", "failed")))
        .values(
            state="pending",
            due_at=utcnow(),
            attempts=0,
            last_error=f"sent again by {who}"[:200],
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_campaign_messages(session: Session, campaign_id: int) -> int:
    """Stop what a campaign has not sent yet; claimed rows are dropped by the dispatcher."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign_id,
            OutboxMessage.state.in_(("pending", "claimed")),
        )
        .values(state="cancelled", last_error="campaign cancelled")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, older_than: datetime) -> int:
    """Forget settled messages and handled updates past the retention period.

    Keys of pruned rows could in principle be enqueued again, but every key names a
    moment (a visit's start, a year, a campaign) that is long past by then.
    """
    gone = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.state.in_(FINAL_STATES), OutboxMessage.created_at < older_than
        )
    )
    session.execute(
        delete(TelegramUpdate).where(
            TelegramUpdate.processed_at.is_not(None), TelegramUpdate.received_at < older_than
        )
    )
    return int(gone.rowcount)  # type: ignore[attr-defined]
