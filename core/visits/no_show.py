"""No-shows: a task for the front desk at once, and one polite offer to book again.

The sync reports ``appointment.no_show`` when the MIS marks a visit missed (Open Dental's
Broken) or when a scheduled visit ended ``mis.no_show_grace_minutes`` ago with no arrival
(IDENT and Infodent have no such status; the sync's sweep decides).

* The staff get a task «не пришёл(ла) на приём» with the patient's phones and the visit
  (doctor, date and time in the clinic's zone) at once: calling back is their work, and a
  staff task never waits for quiet hours.
* The patient gets one message offering to book again (``messaging.no_show_message_*``),
  whose button names the visit; pressing it opens a reschedule task (``request_rebook``,
  from bot_handlers/visits.py). The message is not queued with the event: front desks often
  record an arrival or a completion late, and a patient who came must never read that they
  did not. It is queued only when due (``no_show_message_delay_minutes`` after the no-show
  was noticed, outside quiet hours), after checking the mirror as a read of the MIS made
  since then left it, only while its task is open (a person who closed it has dealt with
  the patient) and only for a patient who may be messaged. A message queued and not yet
  sent is cancelled if any of that stops being so.
* A task for a visit the MIS later shows arrived, completed, cancelled, deleted or moved is
  closed (done, by "system") with the reason added to its text and to its message in the
  staff group. Closed rather than only annotated: an open task is a person's to-do, and
  this one asked them to chase a visit that turned out fine; leaving it open would make
  them close each such task by hand. The text keeps what happened and why it closed.

``run`` (the runner's ``no_show`` job, every minute) does what is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.events import AppointmentEvent, EventKind
from core.health import mis_health
from core.models import Appointment, Doctor, DomainEvent, OutboxMessage, Patient, Subscriber, Task
from core.outbox import PRIORITY_NOTICE, QuietHours, enqueue, inline_keyboard
from core.patients.linking import reachable_subscribers
from core.settings import store as settings
from core.tasks import OPEN_STATES, close_by_system, create_task
from core.texts import on_date, render, when

TASK_KIND = "no_show"
MESSAGE_KIND = "no_show"
# Callback data of the message's button: "nr:<appointment id>".
REBOOK_PREFIX = "nr"
# A message that could not go within a day of being due (quiet hours, an MIS outage) is not
# sent at all: "we missed you" days later reads as a reproach, not as an offer.
SEND_WITHIN = timedelta(days=1)
# What the visit became, when it is no longer a no-show; status values of the mirror.
_RESOLVED = ("arrived", "completed", "cancelled")
# Patients the clinic does not write to whatever their messaging flag says.
_SILENT_STATUSES = ("deleted", "archived")


def _key(appointment_mis_id: str, starts_at: datetime) -> str:
    """The no-show of one visit at one time (a row moved and missed again is another)."""
    return f"no_show:{appointment_mis_id}:{starts_at.astimezone(UTC).isoformat()}"


def _instant(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _missed_start(payload: dict[str, Any]) -> datetime | None:
    """The start of the visit missed, as the event recorded it (None if it cannot be read)."""
    try:
        starts_at = AppointmentEvent.from_payload(payload).starts_at
    except (KeyError, ValueError):
        return None
    return starts_at.astimezone(UTC) if starts_at.tzinfo is not None else None


def resolution(appt: Appointment | None, starts_at: datetime) -> str:
    """'' while the visit still stands as missed at ``starts_at``; otherwise what it became:
    arrived, completed, cancelled, deleted or rescheduled."""
    if appt is None or appt.deleted:
        return "deleted"
    if appt.status in _RESOLVED:
        return appt.status
    if appt.starts_at != starts_at:
        return "rescheduled"
    # 'no_show', or 'scheduled' at the same past time: IDENT has no no-show status, and a
    # later edit of the row (a comment) reads it back from the MIS as scheduled.
    return ""


def _may_be_messaged(patient: Patient) -> bool:
    return patient.messaging_allowed and patient.status not in _SILENT_STATUSES


def _patient(session: Session, mis_id: str) -> Patient | None:
    return session.scalar(select(Patient).where(Patient.mis_id == mis_id))


def _appointment(session: Session, mis_id: str) -> Appointment | None:
    return session.scalar(select(Appointment).where(Appointment.mis_id == mis_id))


def _doctor(session: Session, mis_id: str) -> str:
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == mis_id))
    if doctor is None:
        return ""
    return f"{doctor.specialty} {doctor.full_name}".strip()


def _phones(patient: Patient) -> str:
    """The MIS's numbers as a person dials them: '+7 912 345-67-89'."""
    shown = []
    for e164 in patient.phones or []:
        try:
            number = phonenumbers.parse(e164)
        except phonenumbers.NumberParseException:
            shown.append(e164)
            continue
        shown.append(
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        )
    return ", ".join(shown) or "—"


def rebook_keyboard(appointment_id: int, lang: str) -> dict[str, Any]:
    return inline_keyboard([[(render("btn_rebook", lang), f"{REBOOK_PREFIX}:{appointment_id}")]])


# -- the event --------------------------------------------------------------------------------


def on_no_show(
    session: Session,
    config: Config,
    appointment_mis_id: str,
    payload: dict[str, Any],
    now: datetime,
    noticed_at: datetime | None = None,
) -> Task | None:
    """Open the staff's task for a visit just reported missed (once: keyed by the visit and
    its start), and queue the patient's message if it is already due (a delay of 0).
    ``noticed_at`` is when the sync reported it (the event's time); the delay counts from it."""
    starts_at = _missed_start(payload)
    if starts_at is None:
        raise ValueError(
            f"appointment.no_show for visit {appointment_mis_id!r} has no valid aware "
            f"starts_at: {payload.get('starts_at')!r}"
        )
    appt = _appointment(session, appointment_mis_id)
    if appt is None or resolution(appt, starts_at):
        return None  # the MIS already says otherwise: nobody needs to chase it
    patient = _patient(session, appt.patient_mis_id)
    if patient is None or patient.status == "deleted":
        return None
    lang, tz = config.clinic.language, config.clinic.tz
    task = create_task(
        session,
        config,
        kind=TASK_KIND,
        key=_key(appt.mis_id, starts_at),
        text=render(
            "task_no_show",
            lang,
            patient=patient.full_name or patient.mis_id,
            phone=_phones(patient),
            when=on_date(appt.starts_at.astimezone(tz), lang),
            doctor=_doctor(session, appt.doctor_mis_id) or "—",
        ),
        patient_mis_id=patient.mis_id,
        appointment_mis_id=appt.mis_id,
    )
    delay = timedelta(minutes=config.messaging.no_show_message_delay_minutes)
    mirror_read_at = _send_gate(session, config, now)
    if mirror_read_at is not None:
        _offer(session, config, appt, patient, (noticed_at or now) + delay, now, mirror_read_at)
    return task


# -- the job ----------------------------------------------------------------------------------


def run(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    """Close the tasks of visits that turned out otherwise, cancel their unsent messages,
    and queue the messages now due. Returns how many outbox rows it added or cancelled."""
    now = clock()
    with transaction(factory) as session:
        changed = settle(session, config)
        return changed + plan_due(session, config, now)


def _send_gate(session: Session, config: Config, now: datetime) -> datetime | None:
    """When the MIS was last read, if messages may be queued now at all; else None."""
    m = settings.effective(session, config).messaging  # quiet hours set on «Настройки»
    if not m.no_show_message_enabled:
        return None
    # Queued in quiet hours, the message would wait in the outbox for the morning, after
    # the last look at the mirror; so it is not queued until they end.
    if QuietHours(m.quiet_start, m.quiet_end, config.clinic.tz).next_allowed(now) is not None:
        return None
    last_ok = mis_health(session).get("last_ok")
    return _instant(last_ok) if last_ok else None


def plan_due(session: Session, config: Config, now: datetime) -> int:
    """Queue the messages of no-shows whose delay has passed; returns how many."""
    mirror_read_at = _send_gate(session, config, now)
    if mirror_read_at is None:
        return 0
    delay = timedelta(minutes=config.messaging.no_show_message_delay_minutes)
    noticed = session.execute(
        select(DomainEvent.subject, DomainEvent.payload, DomainEvent.created_at)
        .where(
            DomainEvent.kind == EventKind.APPOINTMENT_NO_SHOW,
            # Handled without an error: its task is open (or it was found moot).
            DomainEvent.processed_at.is_not(None),
            DomainEvent.error == "",
            DomainEvent.created_at >= now - delay - SEND_WITHIN,
            DomainEvent.created_at <= now - delay,
        )
        .order_by(DomainEvent.id)
    ).all()
    queued = 0
    for subject, payload, noticed_at in noticed:
        starts_at = _missed_start(payload)
        appt = _appointment(session, subject)
        if starts_at is None or appt is None or resolution(appt, starts_at):
            continue
        patient = _patient(session, appt.patient_mis_id)
        if patient is not None:
            queued += _offer(
                session, config, appt, patient, noticed_at + delay, now, mirror_read_at
            )
    return queued


def _offer(
    session: Session,
    config: Config,
    appt: Appointment,
    patient: Patient,
    due: datetime,
    now: datetime,
    mirror_read_at: datetime,
) -> int:
    """The message to each reachable chat of the patient, if due and still right."""
    if due > now or now > due + SEND_WITHIN or appt.ends_at < now - SEND_WITHIN:
        return 0
    # The mirror says what the MIS said at its last good read: a read from before the
    # message was due cannot tell whether the desk has since recorded the patient as come.
    if mirror_read_at < due or not _may_be_messaged(patient):
        return 0
    # A no-show whose task a person has closed meanwhile was dealt with (they called, or
    # booked a new visit): an automatic "book again?" on top of that would be noise.
    task_state = session.scalar(
        select(Task.state).where(Task.key == _key(appt.mis_id, appt.starts_at))
    )
    if task_state not in OPEN_STATES:
        return 0
    tz = config.clinic.tz
    doctor = _doctor(session, appt.doctor_mis_id) or config.clinic.name
    queued = 0
    for sub in reachable_subscribers(session, patient.mis_id):
        if enqueue(
            session,
            key=f"{_key(appt.mis_id, appt.starts_at)}:{sub.id}",
            chat_id=sub.chat_id,
            channel=sub.channel,
            patient_mis_id=patient.mis_id,
            text=render(
                "no_show_message",
                sub.language,
                name=patient.address_name,
                when=when(appt.starts_at.astimezone(tz), now.astimezone(tz).date(), sub.language),
                doctor=doctor,
                clinic=config.clinic.name,
            ),
            kind=MESSAGE_KIND,
            priority=PRIORITY_NOTICE,
            reply_markup=rebook_keyboard(appt.id, sub.language),
        ):
            queued += 1
    return queued


def settle(session: Session, config: Config) -> int:
    """Close the open no-show tasks of visits the mirror no longer shows as missed, and
    cancel the unsent messages that are no longer right (``_stale``)."""
    changed = 0
    open_tasks = session.execute(
        select(Task, Appointment)
        .outerjoin(Appointment, Appointment.mis_id == Task.appointment_mis_id)
        .where(Task.kind == TASK_KIND, Task.state.in_(OPEN_STATES))
        .order_by(Task.id)
    ).all()
    for task, appt in open_tasks:
        starts_at = _instant(task.key.split(":", 2)[-1])
        reason = resolution(appt, starts_at) if starts_at is not None else ""
        if reason:
            close_by_system(session, config, task, _reason(config, reason, appt))
            changed += 1
    unsent = session.execute(
        select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.patient_mis_id).where(
            OutboxMessage.kind == MESSAGE_KIND, OutboxMessage.state.in_(("pending", "claimed"))
        )
    ).all()
    for message_id, key, patient_mis_id in unsent:
        why = _stale(session, key, patient_mis_id)
        if not why:
            continue
        # Claimed rows too: the dispatcher then drops them (core.outbox.begin_send). A row
        # already on the wire ('sending') is past stopping.
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state.in_(("pending", "claimed")))
            .values(state="cancelled", last_error=f"no longer due: {why}")
        )
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


def _stale(session: Session, key: str, patient_mis_id: str) -> str:
    """Why a queued message ("no_show:<visit>:<start>:<chat>") must not go, or ''."""
    task_key = key.rpartition(":")[0]  # the start has colons of its own
    _, appointment_mis_id, start = task_key.split(":", 2)
    starts_at = _instant(start)
    if starts_at is None:
        return "unreadable key"
    reason = resolution(_appointment(session, appointment_mis_id), starts_at)
    if reason:
        return reason
    if session.scalar(select(Task.state).where(Task.key == task_key)) not in OPEN_STATES:
        return "task closed"
    patient = _patient(session, patient_mis_id)
    if patient is None or not _may_be_messaged(patient):
        return "no messages"
    return ""


def _reason(config: Config, reason: str, appt: Appointment | None) -> str:
    lang = config.clinic.language
    moved_to = on_date(appt.starts_at.astimezone(config.clinic.tz), lang) if appt else ""
    return render("task_auto_closed", lang, reason=render(f"no_show_{reason}", lang, when=moved_to))


# -- the patient's button ---------------------------------------------------------------------


def request_rebook(
    session: Session, config: Config, sub: Subscriber, appt: Appointment
) -> Task | None:
    """The patient pressed «Записаться снова»: a reschedule task for the staff, once per
    missed visit (None if this visit's was already opened). The no-show task of the visit is
    the same call to make, so it is closed into the new one."""
    key = f"reschedule:{appt.mis_id}:{appt.starts_at.astimezone(UTC).isoformat()}:no_show"
    if session.scalar(select(Task.id).where(Task.key == key)) is not None:
        return None
    lang, tz = config.clinic.language, config.clinic.tz
    patient = _patient(session, appt.patient_mis_id)
    task = create_task(
        session,
        config,
        kind="reschedule",
        key=key,
        text=render(
            "task_rebook",
            lang,
            patient=patient.full_name if patient else appt.patient_mis_id,
            phone=sub.phone or (_phones(patient) if patient else "—"),
            when=on_date(appt.starts_at.astimezone(tz), lang),
            doctor=_doctor(session, appt.doctor_mis_id) or "—",
        ),
        subscriber_id=sub.id,
        patient_mis_id=appt.patient_mis_id,
        appointment_mis_id=appt.mis_id,
    )
    missed = session.scalar(
        select(Task).where(
            Task.key == _key(appt.mis_id, appt.starts_at), Task.state.in_(OPEN_STATES)
        )
    )
    if missed is not None:
        reason = render("no_show_rebook", lang, id=task.id)
        close_by_system(session, config, missed, render("task_auto_closed", lang, reason=reason))
    return task
