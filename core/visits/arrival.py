"""Arrival, and visits that cannot be.

When the MIS marks a patient arrived, their chats get a welcome with the clinic's offer
(messaging.arrival_offer, e.g. tea, coffee, water); a choice becomes a task for the front
desk (bot_handlers/visits.py). Reminders still queued for the visit are cancelled.

An arrival long before the visit's start, or a completion before it, is a mistake in the
MIS (a visit ticked on the wrong row, a test click): it is not believed. The event is kept
with `NOT_BELIEVED` in its error (shown on «Доставка») and nothing is sent for it, so a
patient is never thanked for a visit they have not had.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.events import AppointmentEvent
from core.models import Appointment, DomainEvent, Patient
from core.outbox import PRIORITY_NOTICE, enqueue, inline_keyboard
from core.patients.linking import reachable_subscribers
from core.reminders import cancel_queued
from core.settings import store as settings
from core.texts import render

log = logging.getLogger(__name__)

NOT_BELIEVED = "not believed: "
OFFER_PREFIX = "o"
# People come early; an arrival marked more than this before the start is not believed.
EARLY_ARRIVAL = timedelta(hours=2)
# A completion a little before the start is the MIS's clock running ahead of ours.
CLOCK_SKEW = timedelta(minutes=10)
# A welcome is for someone in the waiting room now, not for an arrival read hours late.
WELCOME_WITHIN = timedelta(hours=1)


def not_believed(session: Session, event: DomainEvent) -> bool:
    """True (and the event marked, and logged) when the visit's start is still too far in
    the future, as of when the sync noticed the event, for it to have begun or ended."""
    starts_at = starts_at_of(session, event)
    noticed = event.created_at
    if starts_at is None:
        return False  # nothing to judge by: believed, as before this check
    allowed = EARLY_ARRIVAL if event.kind == "appointment.arrived" else CLOCK_SKEW
    if starts_at - noticed <= allowed:
        return False
    kind = "arrival" if event.kind == "appointment.arrived" else "completion"
    event.error = (
        f"{NOT_BELIEVED}{kind} of visit {event.subject} noticed at "
        f"{noticed.isoformat(timespec='minutes')}, its start is {starts_at.isoformat()}"
    )
    log.warning("%s", event.error)
    return True


def starts_at_of(session: Session, event: DomainEvent) -> datetime | None:
    """The start the event carries, else (an event stored without one) the mirror's."""
    if event.payload.get("starts_at"):
        try:
            return AppointmentEvent.from_payload(event.payload).starts_at
        except ValueError:
            pass
    return session.scalar(select(Appointment.starts_at).where(Appointment.mis_id == event.subject))


def offer_keyboard(config: Config, appointment_id: int) -> dict[str, Any] | None:
    offer = config.messaging.arrival_offer
    if not offer:
        return None
    row = [(label, f"{OFFER_PREFIX}:{appointment_id}:{i}") for i, label in enumerate(offer)]
    return inline_keyboard([row])


def on_arrived(session: Session, config: Config, event: DomainEvent, now: datetime) -> int:
    """The welcome to each reachable chat of the patient; returns how many were queued."""
    config = settings.effective(session, config)  # the welcome and offer set on «Настройки»
    if not_believed(session, event):
        return 0
    appt = session.scalar(select(Appointment).where(Appointment.mis_id == event.subject))
    if appt is None or appt.deleted or appt.status != "arrived":
        return 0
    cancel_queued(session, appt.mis_id)
    if not config.messaging.arrival_welcome_enabled or now - event.created_at > WELCOME_WITHIN:
        return 0
    patient = session.scalar(select(Patient).where(Patient.mis_id == appt.patient_mis_id))
    if patient is None or not patient.messaging_allowed or patient.status == "deleted":
        return 0
    markup = offer_keyboard(config, appt.id)
    template = "arrival_offer" if markup else "arrival_welcome"
    queued = 0
    for sub in reachable_subscribers(session, patient.mis_id):
        text = render(template, sub.language, name=patient.address_name, clinic=config.clinic.name)
        if enqueue(
            session,
            key=f"arrival:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}",
            chat_id=sub.chat_id,
            channel=sub.channel,
            text=text,
            kind="arrival",
            priority=PRIORITY_NOTICE,
            reply_markup=markup,
            patient_mis_id=patient.mis_id,
            # The patient is in the waiting room now: the quiet hours are not for this.
            respect_quiet_hours=False,
        ):
            queued += 1
    return queued
