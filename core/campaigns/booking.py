"""A reply to a recall campaign that asks for a visit: «Записаться» pressed, or «+» written.

Either opens a booking episode (a "booking" task) in the patient's thread, once per chat and
campaign; the staff take it from the inbox like any episode and book the visit in the MIS.
A «+» counts only in a chat the campaign reached within REPLY_DAYS, so a «+» written
for another reason months later is an ordinary message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.campaigns import meta_of
from core.config import Config
from core.models import Campaign, OutboxMessage, Subscriber, Task
from core.tasks import create_task
from core.texts import render

REPLY_DAYS = 30
PLUS = frozenset({"+", "+1", "➕"})


def is_plus(text: str) -> bool:
    return text.strip() in PLUS


def _received(session: Session, sub: Subscriber, campaign_id: int) -> OutboxMessage | None:
    return session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.campaign_id == campaign_id,
            OutboxMessage.chat_id == sub.chat_id,
            OutboxMessage.channel == sub.channel,
            OutboxMessage.state == "sent",
        )
    )


def open_booking(
    session: Session, config: Config, sub: Subscriber, campaign_id: int
) -> Task | None:
    """The booking episode for this chat and campaign (opened now, or the one already
    open); None when the campaign offers no booking or never reached this chat."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not meta_of(session, campaign).get("booking"):
        return None
    received = _received(session, sub, campaign_id)
    if received is None:
        return None
    return create_task(
        session,
        config,
        kind="booking",
        key=f"booking:{campaign.id}:{sub.id}",
        text=render("campaign_booking_task", "ru", title=campaign.title),
        subscriber_id=sub.id,
        patient_mis_id=received.patient_mis_id,
        acknowledged=True,
    )


def recall_answered(session: Session, sub: Subscriber, now: datetime) -> int | None:
    """The booking campaign a «+» in this chat answers: the newest one sent here within
    REPLY_DAYS, or None."""
    since = now - timedelta(days=REPLY_DAYS)
    for campaign_id in session.scalars(
        select(OutboxMessage.campaign_id)
        .where(
            OutboxMessage.chat_id == sub.chat_id,
            OutboxMessage.channel == sub.channel,
            OutboxMessage.campaign_id.is_not(None),
            OutboxMessage.state == "sent",
            OutboxMessage.sent_at >= since,
        )
        .order_by(OutboxMessage.sent_at.desc())
        .limit(5)
    ):
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and meta_of(session, campaign).get("booking"):
            return campaign.id
    return None
