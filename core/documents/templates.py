"""Document templates: HTML written in the panel with placeholders such as ``{{ФИО}}``,
filled from the patient card and a visit in the mirror of the MIS.

A placeholder not in `FIELDS` is refused when the template is saved, with its name and the
list of those that exist, so a typo never reaches a patient as «{{ФИО}» or an empty line.
Values are HTML-escaped. Links and pictures from outside are refused too: the PDF is made
from what the template holds alone (core.documents.render fetches nothing).

Prices: the MIS's canonical visit carries its services' names or codes only
(connectors/, `services`), so ``{{услуги}}`` lists them and a price list is typed into the
template or the plan is exported from the MIS as a PDF and uploaded for the patient.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.documents.models import DocumentTemplate
from core.models import Appointment, Doctor, Patient

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# An address outside the document itself: src=, href=, CSS url(), @import (data: is fine).
OUTSIDE = re.compile(
    r"""(?:\b(?:src|href|srcset)\s*=\s*["']?\s*(?!data:|#)[a-z][a-z0-9+.-]*:|url\(\s*["']?\s*(?!data:)|@import)""",
    re.IGNORECASE,
)
MAX_HTML = 200_000

FIELDS: dict[str, str] = {
    "ФИО": "фамилия, имя, отчество пациента",
    "фамилия": "фамилия",
    "имя": "имя",
    "отчество": "отчество",
    "дата_рождения": "дата рождения (ДД.ММ.ГГГГ)",
    "телефон": "первый телефон из карты",
    "номер_карты": "номер пациента в МИС",
    "сегодня": "дата отправки (ДД.ММ.ГГГГ)",
    "клиника": "название клиники",
    "адрес_клиники": "адрес клиники",
    "дата_визита": "дата визита (ближайшего, или выбранного)",
    "время_визита": "время визита",
    "врач": "врач визита",
    "специальность": "специальность врача",
    "услуги": "услуги визита из МИС, списком",
}


class TemplateError(ValueError):
    """Why a template cannot be saved or filled, in staff wording."""


def check(title: str, body: str) -> list[str]:
    errors: list[str] = []
    if not title.strip():
        errors.append("Укажите название документа.")
    if len(title) > 200:
        errors.append("Название длиннее 200 символов.")
    if not body.strip():
        errors.append("Текст документа пустой.")
    if len(body) > MAX_HTML:
        errors.append(f"Текст длиннее {MAX_HTML} символов.")
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(body)} - set(FIELDS))
    if unknown:
        names = ", ".join("{{" + u + "}}" for u in unknown)
        errors.append(
            f"Неизвестные поля: {names}. Доступны: "
            + ", ".join("{{" + f + "}}" for f in FIELDS)
            + "."
        )
    if OUTSIDE.search(body):
        errors.append(
            "В документе ссылка на внешний файл или картинку (src=, href=, url(), @import): "
            "документ должен содержать всё сам — вставьте картинку как data: или уберите её."
        )
    return errors


@dataclass(frozen=True)
class Visit:
    starts_at: datetime
    doctor: str
    specialty: str
    services: list[str]


def visit_for(
    session: Session, patient_mis_id: str, now: datetime, appointment_mis_id: str = ""
) -> Visit | None:
    """The visit chosen, else the patient's next one, else the latest one."""
    query = select(Appointment).where(
        Appointment.patient_mis_id == patient_mis_id, Appointment.deleted.is_(False)
    )
    if appointment_mis_id:
        row = session.scalar(query.where(Appointment.mis_id == appointment_mis_id))
    else:
        row = session.scalar(
            query.where(Appointment.starts_at >= now, Appointment.status != "cancelled")
            .order_by(Appointment.starts_at)
            .limit(1)
        ) or session.scalar(query.order_by(Appointment.starts_at.desc()).limit(1))
    if row is None:
        return None
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == row.doctor_mis_id))
    return Visit(
        row.starts_at,
        doctor.full_name if doctor else "",
        doctor.specialty if doctor else "",
        list(row.services or []),
    )


def values(config: Config, patient: Patient, visit: Visit | None, now: datetime) -> dict[str, str]:
    tz = config.clinic.tz
    local = visit.starts_at.astimezone(tz) if visit else None
    return {
        "ФИО": patient.full_name,
        "фамилия": patient.last_name,
        "имя": patient.first_name,
        "отчество": patient.middle_name,
        "дата_рождения": patient.birth_date.strftime("%d.%m.%Y") if patient.birth_date else "",
        "телефон": (patient.phones or [""])[0],
        "номер_карты": patient.mis_id,
        "сегодня": now.astimezone(tz).strftime("%d.%m.%Y"),
        "клиника": config.clinic.name,
        "адрес_клиники": config.clinic.address,
        "дата_визита": local.strftime("%d.%m.%Y") if local else "",
        "время_визита": local.strftime("%H:%M") if local else "",
        "врач": visit.doctor if visit else "",
        "специальность": visit.specialty if visit else "",
        "услуги": "\n".join(visit.services) if visit else "",
    }


def fill(body: str, filled: dict[str, str]) -> str:
    """The template's HTML with every placeholder replaced by its escaped value."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in filled:
            raise TemplateError(f"Неизвестное поле {{{{{name}}}}} в шаблоне.")
        value = html.escape(filled[name])
        if name == "услуги" and value:
            return "<ul>" + "".join(f"<li>{s}</li>" for s in value.split("\n")) + "</ul>"
        return value

    return PLACEHOLDER.sub(one, body)


def templates(session: Session, archived: bool = False) -> list[DocumentTemplate]:
    return list(
        session.scalars(
            select(DocumentTemplate)
            .where(DocumentTemplate.archived.is_(archived))
            .order_by(DocumentTemplate.title)
        )
    )


def save(
    session: Session,
    template: DocumentTemplate | None,
    *,
    title: str,
    body: str,
    pep_allowed: bool,
    who: str,
    now: datetime,
) -> tuple[DocumentTemplate, bool]:
    """Create or edit; returns the template and whether its text changed (a new version,
    which voids the requests made from the old one: core.documents.requests.void_stale)."""
    errors = check(title, body)
    if errors:
        raise TemplateError(" ".join(errors))
    if template is None:
        template = DocumentTemplate(
            title=title.strip(),
            body_html=body,
            pep_allowed=pep_allowed,
            version=1,
            updated_by=who,
            created_at=now,
            updated_at=now,
        )
        session.add(template)
        session.flush()
        return template, False
    changed = template.body_html != body or template.title != title.strip()
    if changed:
        template.version += 1
    template.title, template.body_html, template.pep_allowed = title.strip(), body, pep_allowed
    template.updated_by, template.updated_at = who, now
    session.flush()
    return template, changed
