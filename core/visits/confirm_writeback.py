"""A patient's Confirm, written back to the MIS where the profile has a column for it and
the clinic switched it on (mis.write_back_confirmations, over mis.write_dsn).

The bot records the press on the mirror's visit (Appointment.confirmation = "confirmed",
bot_handlers/visits.py) and nothing more: the MIS may be slow or down, and a patient's
button must not wait for it. This job, every minute:

1. queues each confirmed upcoming visit once (a `mis_writebacks` row keyed by the visit and
   its time: a visit moved and confirmed again is written again, the same one never twice);
2. writes the due ones through the connector's optional `confirm_visit` (one column of one
   row, by key, its own short transaction). A failure trying again can help (the MIS
   unreachable, a lock) is tried again later, doubling the wait up to an hour, until the
   visit begins; one it cannot (no permission, the row gone, the value missing), or a
   visit that began before the MIS took it, is a task for the staff, who mark it by hand.
   A row whose visit is no longer confirmed at that time (moved, cancelled) is dropped.

Writing the same value again is harmless, so a write whose bookkeeping was lost (a crash
between the MIS's commit and ours) is simply made once more. The sync reading the row back
makes no event: no profile's visit query reads the column written, so the row's content
hash is unchanged (tests/connectors/contract/test_confirm_writeback.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import ConnectorError, confirm_column
from core.clock import Clock, utcnow
from core.config import Config
from core.db import transaction
from core.models import Appointment, Patient
from core.tasks import create_task
from core.texts import on_date, render
from core.visits.models import MisWriteback

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)
BATCH = 50


@dataclass
class Report:
    queued: int = 0
    written: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


def key_of(appt: Appointment) -> str:
    return f"confirm:{appt.mis_id}:{appt.starts_at.isoformat()}"


def enqueue(session: Session, now: datetime) -> int:
    """Queue every confirmed, still scheduled, upcoming visit not queued for its time yet."""
    queued = exists().where(
        and_(
            MisWriteback.appointment_mis_id == Appointment.mis_id,
            MisWriteback.starts_at == Appointment.starts_at,
        )
    )
    appts = session.scalars(
        select(Appointment).where(
            Appointment.confirmation == "confirmed",
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
            Appointment.starts_at > now,
            ~queued,
        )
    ).all()
    for appt in appts:
        session.add(
            MisWriteback(
                key=key_of(appt),
                appointment_mis_id=appt.mis_id,
                starts_at=appt.starts_at,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(appts)


def run(
    factory: sessionmaker[Session],
    connector: Any,
    config: Config,
    *,
    clock: Clock = utcnow,
) -> Report:
    report = Report()
    column = confirm_column(connector)
    if not config.mis.write_back_confirmations or column is None:
        return report
    now = clock()
    with transaction(factory) as session:
        report.queued = enqueue(session, now)
        due = session.scalars(
            select(MisWriteback.id)
            .where(MisWriteback.state == "pending", MisWriteback.next_attempt_at <= now)
            .order_by(MisWriteback.id)
            .limit(BATCH)
        ).all()
    for row_id in due:
        with transaction(factory) as session:
            _attempt(
                session, session.get(MisWriteback, row_id), connector, config, column, clock, report
            )
    return report


def _attempt(
    session: Session,
    row: MisWriteback | None,
    connector: Any,
    config: Config,
    column: str,
    clock: Clock,
    report: Report,
) -> None:
    if row is None or row.state != "pending":
        return
    now = clock()
    appt = session.scalar(select(Appointment).where(Appointment.mis_id == row.appointment_mis_id))
    if (
        appt is None
        or appt.deleted
        or appt.status != "scheduled"
        or appt.confirmation != "confirmed"
        or appt.starts_at != row.starts_at
    ):
        row.state, row.last_error = "dropped", "the visit is no longer confirmed for this time"
        report.dropped += 1
        return
    if row.starts_at <= now:
        _fail(session, row, appt, config, column, "визит начался раньше, чем МИС приняла запись")
        report.failed += 1
        return
    row.attempts += 1
    try:
        connector.confirm_visit(row.appointment_mis_id)
    except ConnectorError as exc:
        row.last_error = f"{exc.kind}: {exc}"[:2000]
        if exc.retryable:
            wait = min(FIRST_RETRY * 2 ** (row.attempts - 1), LAST_RETRY)
            row.next_attempt_at = now + wait
            log.warning("confirmation of visit %s not written yet: %s", row.appointment_mis_id, exc)
            report.retried += 1
        else:
            _fail(session, row, appt, config, column, str(exc))
            report.failed += 1
        return
    row.state, row.done_at, row.column, row.last_error = "done", now, column, ""
    report.written += 1


def _fail(
    session: Session,
    row: MisWriteback,
    appt: Appointment,
    config: Config,
    column: str,
    error: str,
) -> None:
    row.state = "failed"
    row.last_error = row.last_error or error[:2000]
    patient = session.scalar(select(Patient).where(Patient.mis_id == appt.patient_mis_id))
    lang = config.clinic.language
    create_task(
        session,
        config,
        kind="mis_writeback",
        key=f"mis-writeback:{row.key}",
        text=render(
            "task_mis_writeback",
            lang,
            patient=patient.full_name if patient else appt.patient_mis_id,
            when=on_date(appt.starts_at.astimezone(config.clinic.tz), lang),
            visit=appt.mis_id,
            column=column,
            error=error[:300],
        ),
        patient_mis_id=appt.patient_mis_id,
        appointment_mis_id=appt.mis_id,
    )


def job(appliance: Any) -> Report:
    """The runner's entry (jobs/table.py: mis_confirm_writeback)."""
    return run(appliance.factory, appliance.connector, appliance.config, clock=appliance.clock)
