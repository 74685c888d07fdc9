"""What a campaign achieved: delivered, unreachable, replies, visits booked within 30 days.

Delivered and unreachable are the states of its outbox rows. A reply is a chat the campaign
reached that wrote to the clinic afterwards, within WINDOW_DAYS of the campaign's start.
A visit booked is a booking the MIS sync noticed (an `appointment.created` event) for a
patient the campaign addressed, within WINDOW_DAYS of the start: the MIS does not say why a
visit was booked, so this counts every booking in the window, the campaign's or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.conversations.models import ThreadMessage
from core.events import EventKind
from core.models import Appointment, Campaign, DomainEvent, OutboxMessage, Subscriber, Task

WINDOW_DAYS = 30
WAITING = ("pending", "claimed", "sending")


@dataclass
class Results:
    recipients: int = 0
    waiting: int = 0
    delivered: int = 0
    unreachable: int = 0
    failed: int = 0
    cancelled: int = 0
    replies: int = 0
    bookings_asked: int = 0
    visits_booked: int = 0

    @property
    def done(self) -> int:
        return self.recipients - self.waiting

    @property
    def percent(self) -> int:
        return 100 if not self.recipients else round(100 * self.done / self.recipients)


def results(session: Session, campaign: Campaign) -> Results:
    out = Results(recipients=campaign.recipients)
    for state, count in session.execute(
        select(OutboxMessage.state, func.count())
        .where(OutboxMessage.campaign_id == campaign.id)
        .group_by(OutboxMessage.state)
    ):
        if state in WAITING:
            out.waiting += int(count)
        elif state == "sent":
            out.delivered = int(count)
        elif state == "unreachable":
            out.unreachable = int(count)
        elif state == "cancelled":
            out.cancelled = int(count)
        else:  # failed, unknown
            out.failed += int(count)
    out.recipients = max(
        out.recipients, out.waiting + out.delivered + out.unreachable + out.failed + out.cancelled
    )
    until = campaign.send_at + timedelta(days=WINDOW_DAYS)
    sent = and_(OutboxMessage.campaign_id == campaign.id, OutboxMessage.state == "sent")
    out.replies = int(
        session.scalar(
            select(func.count(func.distinct(OutboxMessage.id)))
            .select_from(OutboxMessage)
            .join(
                Subscriber,
                and_(
                    Subscriber.chat_id == OutboxMessage.chat_id,
                    Subscriber.channel == OutboxMessage.channel,
                ),
            )
            .join(ThreadMessage, ThreadMessage.subscriber_id == Subscriber.id)
            .where(
                sent,
                ThreadMessage.direction == "in",
                ThreadMessage.created_at >= OutboxMessage.sent_at,
                ThreadMessage.created_at < until,
            )
        )
        or 0
    )
    out.bookings_asked = int(
        session.scalar(select(func.count()).where(Task.key.like(f"booking:{campaign.id}:%"))) or 0
    )
    addressed = select(OutboxMessage.patient_mis_id).where(sent).scalar_subquery()
    out.visits_booked = int(
        session.scalar(
            select(func.count(func.distinct(Appointment.id)))
            .select_from(DomainEvent)
            .join(Appointment, Appointment.mis_id == DomainEvent.subject)
            .where(
                DomainEvent.kind == str(EventKind.APPOINTMENT_CREATED),
                DomainEvent.created_at >= campaign.send_at,
                DomainEvent.created_at < until,
                Appointment.patient_mis_id.in_(addressed),
            )
        )
        or 0
    )
    return out
