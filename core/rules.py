"""What Kabinet does about each domain event: notices, accruals, reversals.

Each event is handled in its own transaction together with marking it processed, and
everything a handler writes is keyed (outbox keys, ledger causes), so a crash between two
events, or a handler run twice, changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import care, loyalty
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.events import AppointmentCancelled, EventKind, PaymentReversed
from core.models import Appointment, Doctor, DomainEvent, Patient, PatientPhone, Task
from core.outbox import PRIORITY_NOTICE, enqueue
from core.patients import gone as patient_gone
from core.patients.linking import link_by_phone, reachable_subscribers, waiting_subscribers
from core.reminders import cancel_queued
from core.tasks import transition
from core.texts import menu_keyboard, render, when
from core.visits import arrival, no_show

log = logging.getLogger(__name__)

Handler = Callable[["Rules", Session, DomainEvent], None]

# Kinds the sync records that the rules deliberately do nothing about.
# (None now: an arrival brings the welcome with the clinic's offer, core/visits/arrival.py.)
IGNORED: frozenset[EventKind] = frozenset()


def doctor_label(session: Session, doctor_mis_id: str) -> str:
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == doctor_mis_id))
    if doctor is None:
        return ""
    if doctor.specialty:
        return f"{doctor.specialty} {doctor.full_name}".strip()
    return doctor.full_name


class Rules:
    def __init__(self, config: Config, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.tz = config.clinic.tz

    # -- helpers --------------------------------------------------------------------------

    def _patient(self, session: Session, mis_id: str) -> Patient | None:
        return session.scalar(select(Patient).where(Patient.mis_id == mis_id))

    def notify_patient(
        self,
        session: Session,
        patient: Patient,
        key: str,
        template: str,
        *,
        kind: str,
        reply_markup: dict[str, Any] | None = None,
        **fields: Any,
    ) -> int:
        """Queue a message to every reachable chat of the patient, unless they opted out."""
        if not patient.messaging_allowed or patient.status == "deleted":
            return 0
        sent = 0
        for sub in reachable_subscribers(session, patient.mis_id):
            text = render(
                template,
                sub.language,
                name=patient.address_name,
                clinic=self.config.clinic.name,
                **fields,
            )
            if enqueue(
                session,
                key=f"{key}:{sub.id}",
                chat_id=sub.chat_id,
                channel=sub.channel,
                text=text,
                kind=kind,
                priority=PRIORITY_NOTICE,
                reply_markup=reply_markup,
            ):
                sent += 1
        return sent

    def when(self, dt: datetime) -> str:
        local = dt.astimezone(self.tz)
        return when(local, self.clock().astimezone(self.tz).date(), self.config.clinic.language)

    # -- event handlers -------------------------------------------------------------------

    def on_appointment_created(self, session: Session, event: DomainEvent) -> None:
        appt = session.scalar(select(Appointment).where(Appointment.mis_id == event.subject))
        if (
            appt is None
            or appt.status != "scheduled"
            or appt.deleted
            or appt.starts_at <= self.clock()
        ):
            return
        patient = self._patient(session, appt.patient_mis_id)
        if patient is None:
            return
        self.notify_patient(
            session,
            patient,
            f"booked:{appt.mis_id}:{appt.starts_at.isoformat()}",
            "booked",
            kind="booked",
            when=self.when(appt.starts_at),
            doctor=doctor_label(session, appt.doctor_mis_id),
        )

    def on_appointment_moved(self, session: Session, event: DomainEvent) -> None:
        appt = session.scalar(select(Appointment).where(Appointment.mis_id == event.subject))
        if appt is None or appt.status != "scheduled" or appt.starts_at <= self.clock():
            return
        patient = self._patient(session, appt.patient_mis_id)
        if patient is None:
            return
        # The patient confirmed the old time, not the new one; the reminders start again
        # for the new time (their keys name it) and those for the old one go.
        appt.confirmation, appt.confirmed_at = "", None
        cancel_queued(session, appt.mis_id, keep_starts_at=appt.starts_at.isoformat())
        self.notify_patient(
            session,
            patient,
            f"moved:{appt.mis_id}:{appt.starts_at.isoformat()}:{appt.doctor_mis_id}",
            "moved",
            kind="moved",
            when=self.when(appt.starts_at),
            doctor=doctor_label(session, appt.doctor_mis_id),
        )

    def on_appointment_cancelled(self, session: Session, event: DomainEvent) -> None:
        cancelled = AppointmentCancelled.from_payload(event.payload)
        starts = cancelled.starts_at
        cancel_queued(session, event.subject)
        if starts <= self.clock():
            return
        patient = self._patient(session, cancelled.patient_mis_id)
        if patient is None:
            return
        self.notify_patient(
            session,
            patient,
            f"cancelled:{event.subject}:{starts.isoformat()}",
            "cancelled",
            kind="cancelled",
            when=self.when(starts),
        )

    def on_payment_received(self, session: Session, event: DomainEvent) -> None:
        loyalty.on_payment_received(
            session, self.config, event.payload, event.subject, self.clock()
        )
        # Paid after the visit was completed (the usual order at a desk): the payment is
        # what makes it the paying patient's first paid visit (see on_appointment_completed).
        patient_id = event.payload.get("patient_mis_id", "")
        if patient_id and event.payload.get("method") == "money":
            loyalty.check_first_paid_visit(session, self.config, patient_id, self.clock())

    def on_payment_reversed(self, session: Session, event: DomainEvent) -> None:
        payload = dict(event.payload)
        if payload.get("refund_amount") is not None:
            # What earlier refund rows of this payment gave back: a partial refund takes
            # back the share all of them amount to (core.loyalty.earning).
            earlier = session.scalars(
                select(DomainEvent.payload).where(
                    DomainEvent.kind == EventKind.PAYMENT_REVERSED,
                    DomainEvent.subject == event.subject,
                    DomainEvent.id < event.id,
                )
            )
            refunds = (PaymentReversed.from_payload(p).refund_amount for p in earlier)
            payload["refunded_before"] = str(sum((r for r in refunds if r), Decimal(0)))
        loyalty.on_payment_reversed(session, self.config, payload, event.subject, self.clock())

    def on_appointment_arrived(self, session: Session, event: DomainEvent) -> None:
        arrival.on_arrived(session, self.config, event, self.clock())

    def on_appointment_completed(self, session: Session, event: DomainEvent) -> None:
        # Completed before it began: an MIS mistake, kept for «Доставка»; nothing is sent.
        if arrival.not_believed(session, event):
            return
        # A referral is rewarded when the referred patient's first paid visit completes,
        # whichever of the payment and the completion the MIS records last.
        patient_id = event.payload.get("patient_mis_id", "")
        if patient_id:
            loyalty.check_first_paid_visit(session, self.config, patient_id, self.clock())
        # The clinic's care instructions for what was done, after their delay (core.care).
        care.on_completed(session, self.config, event.subject, self.clock(), event.created_at)

    def on_appointment_no_show(self, session: Session, event: DomainEvent) -> None:
        # The staff's task now; the patient's offer to book again when due (core.visits.no_show).
        no_show.on_no_show(
            session, self.config, event.subject, event.payload, self.clock(), event.created_at
        )

    def on_patient_created(self, session: Session, event: DomainEvent) -> None:
        self.link_waiting(session, event.subject)

    def on_patient_changed(self, session: Session, event: DomainEvent) -> None:
        patient = self._patient(session, event.subject)
        if patient is not None and patient.status in patient_gone.GONE:
            # Archived or deleted in the MIS: unlinked, told once, nothing more sent.
            goodbye = patient.status == "archived"  # never to a deleted (or deceased) one
            patient_gone.unlink(session, self.config, patient.mis_id, goodbye=goodbye)
            return
        # The MIS may have put the patient in a family, or taken them out of one.
        loyalty.accounts.reconcile(session, event.subject, self.clock())
        # ... or given them the number of someone who is waiting in the bot.
        self.link_waiting(session, event.subject)

    def link_waiting(self, session: Session, patient_mis_id: str) -> int:
        """Chats that shared this patient's number before the MIS had it are linked now,
        told so, and get what their /start link carried (welcome bonus, the referral or
        the staff connection) as if they had shared the contact today. Their "unknown
        patient" task is closed. Returns how many chats were linked."""
        patient = self._patient(session, patient_mis_id)
        if patient is None or patient.status == "deleted":
            return 0
        phones = list(
            session.scalars(select(PatientPhone.phone).where(PatientPhone.patient_id == patient.id))
        )
        linked = 0
        for sub in waiting_subscribers(session, phones):
            patients = link_by_phone(session, sub, sub.phone)
            if not patients:
                continue
            linked += 1
            main = patients[0]
            if sub.unreachable_at is None:
                enqueue(
                    session,
                    key=f"linked-later:{sub.id}:{main.mis_id}",
                    chat_id=sub.chat_id,
                    channel=sub.channel,
                    text=render(
                        "linked_later",
                        sub.language,
                        name=main.address_name,
                        clinic=self.config.clinic.name,
                    ),
                    kind="linked",
                    priority=PRIORITY_NOTICE,
                    reply_markup=menu_keyboard(sub.language),
                )
            loyalty.on_linked(session, self.config, sub, patients, self.clock())
            for task in session.scalars(
                select(Task).where(
                    Task.kind == "unknown_patient",
                    Task.subscriber_id == sub.id,
                    Task.state.in_(("open", "taken")),
                )
            ):
                transition(session, task, "done", "system")
                task.patient_mis_id = main.mis_id
        return linked

    # Every kind of core.events is here or in IGNORED (tests/core/test_events.py).
    HANDLERS: dict[EventKind, Handler] = {
        EventKind.APPOINTMENT_CREATED: on_appointment_created,
        EventKind.APPOINTMENT_MOVED: on_appointment_moved,
        EventKind.APPOINTMENT_CANCELLED: on_appointment_cancelled,
        EventKind.APPOINTMENT_ARRIVED: on_appointment_arrived,
        EventKind.APPOINTMENT_COMPLETED: on_appointment_completed,
        EventKind.APPOINTMENT_NO_SHOW: on_appointment_no_show,
        EventKind.PATIENT_CHANGED: on_patient_changed,
        EventKind.PATIENT_CREATED: on_patient_created,
        EventKind.PAYMENT_RECEIVED: on_payment_received,
        EventKind.PAYMENT_REVERSED: on_payment_reversed,
    }

    # -- the loop -------------------------------------------------------------------------

    def process_pending(self, factory: sessionmaker[Session], limit: int = 500) -> int:
        """Handle unprocessed events in order; returns how many were handled."""
        with factory() as session:
            ids = list(
                session.scalars(
                    select(DomainEvent.id)
                    .where(DomainEvent.processed_at.is_(None))
                    .order_by(DomainEvent.id)
                    .limit(limit)
                )
            )
        for event_id in ids:
            try:
                with transaction(factory) as session:
                    event = session.get(DomainEvent, event_id)
                    if event is None or event.processed_at is not None:
                        continue
                    # The stored kind is text; a StrEnum key is found by its text.
                    handler = self.HANDLERS.get(event.kind)  # type: ignore[call-overload]
                    if handler is not None:
                        handler(self, session, event)
                    elif event.kind not in IGNORED:
                        log.warning("event %s: no rule handles %r", event_id, event.kind)
                    event.processed_at = self.clock()
            except Exception as exc:
                # A bad event must not block every later one; it is kept with its error.
                log.exception("event %s failed", event_id)
                with transaction(factory) as session:
                    event = session.get(DomainEvent, event_id)
                    if event is not None:
                        event.error = repr(exc)[:2000]
                        event.processed_at = self.clock()
        return len(ids)
