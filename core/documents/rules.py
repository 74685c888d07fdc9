"""A rule that sends a document by itself: the template the clinic chose goes to every
patient before their first visit (the contract for paid services, typically), once.

«First visit»: the patient has a scheduled visit within `documents.request_days` and no
visit the MIS marked arrived or completed. Once per patient and template, whatever became
of the earlier request (signed, declined, expired): staff send it again by hand if needed.
The choice is kept in the kv table (no template chosen: the rule is off).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.config import Config
from core.documents import requests
from core.documents.models import DocumentRequest, DocumentTemplate
from core.models import Appointment, KeyValue

log = logging.getLogger(__name__)

FIRST_VISIT_KEY = "documents.first_visit_template"
WHO = "правило: перед первым визитом"


def first_visit_template(session: Session) -> DocumentTemplate | None:
    row = session.get(KeyValue, FIRST_VISIT_KEY)
    if row is None or not row.value:
        return None
    template = session.get(DocumentTemplate, int(row.value))
    if template is None or template.archived or not template.pep_allowed:
        return None
    return template


def choose_first_visit_template(session: Session, template_id: int | None) -> None:
    row = session.get(KeyValue, FIRST_VISIT_KEY)
    if row is None:
        session.add(KeyValue(key=FIRST_VISIT_KEY, value=template_id or 0))
    else:
        row.value = template_id or 0


def send_before_first_visit(session: Session, config: Config, now: datetime) -> int:
    """Send the chosen template to each patient due a first visit; returns how many went."""
    template = first_visit_template(session)
    if template is None or not config.documents.enabled or not requests.code_method(config):
        return 0
    earlier = Appointment.__table__.alias("earlier")
    due = session.execute(
        select(Appointment.patient_mis_id, Appointment.mis_id)
        .where(
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
            Appointment.starts_at > now,
            Appointment.starts_at <= now + timedelta(days=config.documents.request_days),
            ~exists().where(
                earlier.c.patient_mis_id == Appointment.patient_mis_id,
                earlier.c.status.in_(("arrived", "completed")),
            ),
            ~exists().where(
                DocumentRequest.patient_mis_id == Appointment.patient_mis_id,
                DocumentRequest.template_id == template.id,
            ),
        )
        .order_by(Appointment.starts_at)
    ).all()
    sent: set[str] = set()
    for patient_mis_id, visit in due:
        if patient_mis_id in sent or requests.chat_for(session, patient_mis_id) is None:
            continue
        try:
            requests.send_template(
                session,
                config,
                template.id,
                patient_mis_id,
                who=WHO,
                now=now,
                appointment_mis_id=visit,
            )
        except requests.SendError as exc:  # the patient's data, not the rule: the next one
            log.warning("first-visit document for %s not sent: %s", patient_mis_id, exc)
            continue
        sent.add(patient_mis_id)
    return len(sent)
