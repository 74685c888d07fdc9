"""Campaigns: a broadcast to a segment of connected patients, and who may receive one.

Marketing goes only to a chat that (a) shared its own contact (consent recorded), (b) did
not opt out in the bot, (c) is not unreachable, and (d) is linked to at least one patient
whose MIS record allows messages (IDENT ConformToSending / SMSRejection, ...) and who is
not archived or deleted. Never by SMS.

Who a campaign goes to is a typed `Segment` (core.campaigns.segments), evaluated in SQL;
a campaign's own segment is kept beside it in the kv table (`campaign:<id>:segment`) with
its preset, if any (core.campaigns.presets); older campaigns and the holidays job name one
of the fixed SEGMENTS instead. Results (delivered, unreachable, replies, visits booked
within 30 days) are in core.campaigns.results.

A campaign is a row first; the campaigns job expands it into outbox rows a chunk at a time,
each chunk committed with the campaign's cursor (the last subscriber id done), and keyed
campaign:<id>:<subscriber>, so a restart in the middle neither skips nor doubles anyone.
The dispatcher sends them at the lowest priority: a reminder never waits behind them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, exists, func, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from core.campaigns.segments import Segment, SegmentError, condition
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.messengers import chosen_ids
from core.models import (
    Appointment,
    Campaign,
    KeyValue,
    OutboxMessage,
    Patient,
    PatientLink,
    Subscriber,
)
from core.outbox import (
    PRIORITY_CAMPAIGN,
    PRIORITY_GREETING,
    cancel_campaign_messages,
    enqueue_many,
    inline_keyboard,
)
from core.texts import render

CHUNK = 500
UNSUBSCRIBE = "u"  # callback data of the unsubscribe button
BOOK = "cb"  # «Записаться» on a recall campaign: "cb:<campaign id>" (bot_handlers/delivery.py)
TEXT_LIMIT = 4000
# What a campaign's text may contain, filled in per recipient.
PLACEHOLDERS: dict[str, str] = {
    "name": "имя и отчество пациента",
    "balance": "баллы на счёте пациента",
    "clinic": "название клиники",
}
_FIELD = re.compile(r"\{(\w*)\}")

# Segment -> (Russian label for the panel). The conditions are in _segment_condition.
SEGMENTS: dict[str, str] = {
    "all": "все подключённые пациенты",
    "visited_year": "были на приёме за последние 12 месяцев",
    "lapsed": "не были на приёме больше 12 месяцев",
}


def unsubscribe_keyboard(lang: str) -> dict[str, Any]:
    return inline_keyboard([[(render("btn_unsubscribe", lang), UNSUBSCRIBE)]])


def check_template(text: str) -> str:
    """The text as it will be kept, or SegmentError with the reason it cannot be sent."""
    text = text.strip()
    if not text:
        raise SegmentError("У рассылки нет текста.")
    if "\x00" in text:
        raise SegmentError("В тексте недопустимый символ.")
    if len(text) > TEXT_LIMIT:
        raise SegmentError(f"Текст длиннее {TEXT_LIMIT} символов (предел сообщения в мессенджере).")
    unknown = sorted({f for f in _FIELD.findall(text) if f not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{" + key + "}" for key in PLACEHOLDERS)
        raise SegmentError(
            f"Неизвестная подстановка {', '.join('{' + f + '}' for f in unknown)}; можно: {allowed}."
        )
    return text


def personalise(text: str, name: str, **values: str) -> str:
    # Only the named placeholders: staff write these texts, and other braces are just braces.
    values = {"name": name, **values}
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _eligible_patient() -> Any:
    return and_(Patient.messaging_allowed.is_(True), Patient.status == "active")


def _segment_condition(segment: str | Segment, now: datetime, tz: tzinfo = UTC) -> Any:
    if isinstance(segment, Segment):
        return condition(segment, now, tz)
    year_ago = now - timedelta(days=365)
    visited = exists().where(
        Appointment.patient_mis_id == Patient.mis_id,
        Appointment.status == "completed",
        Appointment.starts_at >= year_ago,
    )
    if segment == "all":
        return true()
    if segment == "visited_year":
        return visited
    if segment == "lapsed":
        return ~visited
    raise ValueError(f"unknown segment {segment!r}; expected one of {', '.join(SEGMENTS)}")


def closed_to_mailings(config: Config) -> tuple[str, ...]:
    """The messengers no mailing goes by: MAX until the clinic switches `[max] mailings` on,
    having checked MAX's platform rules (a person with both gets it in Telegram)."""
    return () if config.max.mailings else ("max",)


def marketing_chats(
    session: Session,
    segment: str | Segment,
    now: datetime,
    *,
    after: int = 0,
    limit: int | None = None,
    closed: tuple[str, ...] = (),
    tz: tzinfo = UTC,
) -> list[tuple[Subscriber, Patient]]:
    """Chats that may receive a mailing, by subscriber id, each with the patient to
    address: the oldest eligible patient linked to it (a parent, for a family phone);
    none in the messengers `closed` (closed_to_mailings)."""
    ids_stmt = (
        _eligible(segment, now, closed, tz).where(Subscriber.id > after).order_by(Subscriber.id)
    )
    if limit is not None:
        ids_stmt = ids_stmt.limit(limit)
    ids = list(session.scalars(ids_stmt))
    if not ids:
        return []
    rows = session.execute(
        select(Subscriber, Patient)
        .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .join(Patient, Patient.mis_id == PatientLink.patient_mis_id)
        .where(Subscriber.id.in_(ids), _eligible_patient(), _segment_condition(segment, now, tz))
        .order_by(Subscriber.id, Patient.birth_date.is_(None), Patient.birth_date, Patient.id)
    )
    chosen: dict[int, tuple[Subscriber, Patient]] = {}
    for sub, patient in rows:
        chosen.setdefault(sub.id, (sub, patient))
    return list(chosen.values())


def _eligible(
    segment: str | Segment, now: datetime, closed: tuple[str, ...] = (), tz: tzinfo = UTC
) -> Any:
    """Distinct ids of subscribers a mailing may go to."""
    return (
        select(Subscriber.id)
        .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .join(Patient, Patient.mis_id == PatientLink.patient_mis_id)
        .where(
            Subscriber.consent_at.is_not(None),
            Subscriber.marketing_opt_out_at.is_(None),
            Subscriber.unreachable_at.is_(None),
            _eligible_patient(),
            _segment_condition(segment, now, tz),
        )
        .where(Subscriber.channel.not_in(closed))
        .group_by(Subscriber.id)
    )


def audience_size(
    session: Session,
    segment: str | Segment,
    now: datetime,
    closed: tuple[str, ...] = (),
    tz: tzinfo = UTC,
) -> int:
    """How many chats a mailing to the segment reaches now (a person in two messengers,
    as two chats: each is counted until one is chosen at expansion)."""
    eligible = _eligible(segment, now, closed, tz).subquery()
    return int(session.scalar(select(func.count()).select_from(eligible)) or 0)


def _meta_key(campaign_id: int) -> str:
    return f"campaign:{campaign_id}:segment"


def segment_of(session: Session, campaign: Campaign) -> str | Segment:
    """The campaign's audience: its own Segment, or one of the fixed SEGMENTS' names."""
    row = session.get(KeyValue, _meta_key(campaign.id))
    if row is None or not isinstance(row.value, dict):
        return campaign.segment
    return Segment.from_json(dict(row.value.get("segment") or {}))


def meta_of(session: Session, campaign: Campaign) -> dict[str, Any]:
    """What the builder kept about the campaign: its preset and whether it offers booking."""
    row = session.get(KeyValue, _meta_key(campaign.id))
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def create_campaign(
    session: Session,
    *,
    title: str,
    text: str,
    segment: str | Segment,
    created_by: str,
    send_at: datetime | None = None,
    kind: str = "campaign",
    key: str | None = None,
    preset: str = "",
    booking: bool = False,
) -> Campaign:
    """A campaign to send at `send_at` (now when None). A Segment is kept beside the row;
    `preset` names the preset it came from, `booking` adds «Записаться» to each message."""
    if isinstance(segment, str) and segment not in SEGMENTS:
        raise SegmentError(f"Неизвестный сегмент {segment!r}.")
    body = check_template(text)
    campaign = Campaign(
        key=key or f"campaign:{uuid.uuid4().hex}",
        kind=kind,
        title=title.replace("\x00", "").strip()[:200] or body[:60],
        text=body,
        segment=segment if isinstance(segment, str) else (preset or "custom")[:32],
        state="scheduled",
        send_at=send_at or utcnow(),
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    if isinstance(segment, Segment):
        meta = {"segment": segment.to_json(), "preset": preset, "booking": booking}
        session.add(KeyValue(key=_meta_key(campaign.id), value=meta))
        session.flush()
    return campaign


def cancel(session: Session, campaign: Campaign) -> int:
    """Stop a campaign: what it has not sent yet is cancelled."""
    if campaign.state in ("done", "cancelled"):
        return 0
    campaign.state = "cancelled"
    campaign.finished_at = utcnow()
    return cancel_campaign_messages(session, campaign.id)


def progress(session: Session, campaign_id: int) -> dict[str, int]:
    counts = dict(
        session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.campaign_id == campaign_id)
            .group_by(OutboxMessage.state)
        ).all()
    )
    return {str(k): int(v) for k, v in counts.items()}


@dataclass
class AdvanceReport:
    queued: int = 0
    finished: int = 0


def advance(
    factory: sessionmaker[Session],
    config: Config,
    clock: Callable[[], datetime] = utcnow,
    *,
    chunk: int = CHUNK,
) -> AdvanceReport:
    """The campaigns job: expand due campaigns, chunk by chunk; close the finished ones."""
    report = AdvanceReport()
    now = clock()
    with factory() as session:
        due = list(
            session.scalars(
                select(Campaign.id)
                .where(Campaign.state.in_(("scheduled", "expanding")), Campaign.send_at <= now)
                .order_by(Campaign.send_at, Campaign.id)
            )
        )
        sending = list(session.scalars(select(Campaign.id).where(Campaign.state == "sending")))
    for campaign_id in due:
        while True:
            with transaction(factory) as session:
                added, more = _expand_chunk(session, config, campaign_id, clock(), chunk)
            report.queued += added
            if not more:
                break
    for campaign_id in sending:
        with transaction(factory) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.state != "sending":
                continue
            waiting = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.campaign_id == campaign_id,
                    OutboxMessage.state.in_(("pending", "claimed", "sending")),
                )
            )
            if not waiting:
                campaign.state = "done"
                campaign.finished_at = clock()
                report.finished += 1
    return report


def _expand_chunk(
    session: Session, config: Config, campaign_id: int, now: datetime, chunk: int
) -> tuple[int, bool]:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.state not in ("scheduled", "expanding"):
        return 0, False
    campaign.state = "expanding"
    meta = meta_of(session, campaign)
    chats = marketing_chats(
        session,
        segment_of(session, campaign),
        now,
        after=campaign.cursor,
        limit=chunk,
        closed=closed_to_mailings(config),
        tz=config.clinic.tz,
    )
    kind = "holiday" if campaign.kind == "holiday" else "campaign"
    # A person in Telegram and MAX gets a mailing once, in the messenger they chose or
    # used last (core.messengers); the cursor still moves past their other chat.
    mine = chosen_ids(session, [sub for sub, _ in chats], closed_to_mailings(config))
    balances = (
        _balances(session, [p.mis_id for _, p in chats]) if "{balance}" in campaign.text else {}
    )
    rows = [
        {
            "key": f"campaign:{campaign.id}:{sub.id}",
            "chat_id": sub.chat_id,
            "channel": sub.channel,
            "patient_mis_id": patient.mis_id,
            "campaign_id": campaign.id,
            "text": personalise(
                campaign.text,
                patient.address_name,
                balance=points(balances.get(patient.mis_id, 0)),
                clinic=config.clinic.name,
            ),
            "kind": kind,
            "priority": PRIORITY_CAMPAIGN,
            "reply_markup": campaign_keyboard(
                sub.language, campaign.id if meta.get("booking") else None
            ),
            "due_at": max(campaign.send_at, now),
        }
        for sub, patient in chats
        if sub.id in mine
    ]
    added = enqueue_many(session, rows)
    campaign.recipients += added
    if len(chats) < chunk:
        campaign.state = "sending"
        return added, False
    campaign.cursor = chats[-1][0].id
    return added, True


def points(value: int) -> str:
    """12500 -> '12 500' (a non-breaking space between thousands), as the bot writes points."""
    return f"{value:,}".replace(",", "\u00a0")


def _balances(session: Session, patient_ids: list[str]) -> dict[str, int]:
    from core.loyalty.accounts import read_account  # the ledger imports more than we need here

    out: dict[str, int] = {}
    for mis_id in dict.fromkeys(patient_ids):
        account = read_account(session, mis_id)
        out[mis_id] = account.balance if account is not None else 0
    return out


def campaign_keyboard(lang: str, booking_for: int | None = None) -> dict[str, Any]:
    """Unsubscribe under every mailing; a recall's «Записаться» above it."""
    rows = [[(render("btn_unsubscribe", lang), UNSUBSCRIBE)]]
    if booking_for is not None:
        rows.insert(0, [(render("btn_campaign_book", lang), f"{BOOK}:{booking_for}")])
    return inline_keyboard(rows)


def opt_out(session: Session, sub: Subscriber, now: datetime) -> int:
    """The patient's own "no mailings": recorded, and mailings already queued are dropped."""
    if sub.marketing_opt_out_at is None:
        sub.marketing_opt_out_at = now
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.chat_id == sub.chat_id,
            OutboxMessage.channel == "telegram",
            OutboxMessage.priority >= PRIORITY_GREETING,
            OutboxMessage.state.in_(("pending", "claimed")),
        )
        .values(state="cancelled", last_error="the patient unsubscribed")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def opt_in(session: Session, sub: Subscriber) -> None:
    sub.marketing_opt_out_at = None
