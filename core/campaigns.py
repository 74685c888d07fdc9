"""Campaigns: a broadcast to a segment of connected patients, and who may receive one.

Marketing goes only to a chat that (a) shared its own contact (consent recorded), (b) did
not opt out in the bot, (c) is not unreachable, and (d) is linked to at least one patient
whose MIS record allows messages (IDENT ConformToSending / SMSRejection, ...) and who is
not archived or deleted. Never by SMS.

A campaign is a row first; the campaigns job expands it into outbox rows a chunk at a time,
each chunk committed with the campaign's cursor (the last subscriber id done), and keyed
campaign:<id>:<subscriber>, so a restart in the middle neither skips nor doubles anyone.
The dispatcher sends them at the lowest priority: a reminder never waits behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.messengers import chosen_ids
from core.models import Appointment, Campaign, OutboxMessage, Patient, PatientLink, Subscriber
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

# Segment -> (Russian label for the panel). The conditions are in _segment_condition.
SEGMENTS: dict[str, str] = {
    "all": "все подключённые пациенты",
    "visited_year": "были на приёме за последние 12 месяцев",
    "lapsed": "не были на приёме больше 12 месяцев",
}


def unsubscribe_keyboard(lang: str) -> dict[str, Any]:
    return inline_keyboard([[(render("btn_unsubscribe", lang), UNSUBSCRIBE)]])


def personalise(text: str, name: str) -> str:
    # Only {name}: staff write these texts, and other braces are just braces.
    return text.replace("{name}", name)


def _eligible_patient() -> Any:
    return and_(Patient.messaging_allowed.is_(True), Patient.status == "active")


def _segment_condition(segment: str, now: datetime) -> Any:
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
    segment: str,
    now: datetime,
    *,
    after: int = 0,
    limit: int | None = None,
    closed: tuple[str, ...] = (),
) -> list[tuple[Subscriber, Patient]]:
    """Chats that may receive a mailing, by subscriber id, each with the patient to
    address: the oldest eligible patient linked to it (a parent, for a family phone);
    none in the messengers `closed` (closed_to_mailings)."""
    ids_stmt = _eligible(segment, now, closed).where(Subscriber.id > after).order_by(Subscriber.id)
    if limit is not None:
        ids_stmt = ids_stmt.limit(limit)
    ids = list(session.scalars(ids_stmt))
    if not ids:
        return []
    rows = session.execute(
        select(Subscriber, Patient)
        .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .join(Patient, Patient.mis_id == PatientLink.patient_mis_id)
        .where(Subscriber.id.in_(ids), _eligible_patient(), _segment_condition(segment, now))
        .order_by(Subscriber.id, Patient.birth_date.is_(None), Patient.birth_date, Patient.id)
    )
    chosen: dict[int, tuple[Subscriber, Patient]] = {}
    for sub, patient in rows:
        chosen.setdefault(sub.id, (sub, patient))
    return list(chosen.values())


def _eligible(segment: str, now: datetime, closed: tuple[str, ...] = ()) -> Any:
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
            _segment_condition(segment, now),
        )
        .where(Subscriber.channel.not_in(closed))
        .group_by(Subscriber.id)
    )


def audience_size(
    session: Session, segment: str, now: datetime, closed: tuple[str, ...] = ()
) -> int:
    return int(
        session.scalar(select(func.count()).select_from(_eligible(segment, now, closed).subquery()))
        or 0
    )


def create_campaign(
    session: Session,
    *,
    title: str,
    text: str,
    segment: str,
    created_by: str,
    send_at: datetime | None = None,
    kind: str = "campaign",
    key: str | None = None,
) -> Campaign:
    if segment not in SEGMENTS:
        raise ValueError(f"unknown segment {segment!r}")
    if not text.strip():
        raise ValueError("a campaign needs a text")
    if len(text) > 4000:
        raise ValueError("Telegram takes at most 4096 characters in a message")
    campaign = Campaign(
        key=key or f"campaign:{uuid.uuid4().hex}",
        kind=kind,
        title=title.strip()[:200] or text.strip()[:60],
        text=text.strip(),
        segment=segment,
        state="scheduled",
        send_at=send_at or utcnow(),
        created_by=created_by,
    )
    session.add(campaign)
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
    chats = marketing_chats(
        session,
        campaign.segment,
        now,
        after=campaign.cursor,
        limit=chunk,
        closed=closed_to_mailings(config),
    )
    kind = "holiday" if campaign.kind == "holiday" else "campaign"
    # A person in Telegram and MAX gets a mailing once, in the messenger they chose or
    # used last (core.messengers); the cursor still moves past their other chat.
    mine = chosen_ids(session, [sub for sub, _ in chats], closed_to_mailings(config))
    rows = [
        {
            "key": f"campaign:{campaign.id}:{sub.id}",
            "chat_id": sub.chat_id,
            "channel": sub.channel,
            "patient_mis_id": patient.mis_id,
            "campaign_id": campaign.id,
            "text": personalise(campaign.text, patient.address_name),
            "kind": kind,
            "priority": PRIORITY_CAMPAIGN,
            "reply_markup": unsubscribe_keyboard(sub.language),
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
