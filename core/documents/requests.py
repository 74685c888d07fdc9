"""Sending a document to a patient's chat to sign, and what ends a request other than a
signature: withdrawn from the panel, void (its template edited after sending), expired.

A document goes as a line of the patient's thread (so the inbox shows what was sent, and
the transport reads the file back like any file the clinic sends: core.conversations.files)
with «Подписать» and «Есть вопросы» under it. The PDF the patient signs is kept under
<data_dir>/documents/<request>/original.pdf; its SHA-256 is fixed when it is sent.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.config import Config
from core.conversations import files
from core.conversations.lines import add_line, conversation_for
from core.conversations.threads import file_line
from core.documents import render, templates
from core.documents.models import DocumentRequest, DocumentTemplate
from core.documents.pades import documents_dir
from core.models import Patient, PatientLink, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.texts import render as text

SIGN_PREFIX = "ds"  # ds:<request>: «Подписать»
QUESTION_PREFIX = "dq"  # dq:<request>: «Есть вопросы»
DECLINE_PREFIX = "dn"  # dn:<request>: «Не подписывать»
COPY_PREFIX = "dc"  # dc:<request>: a copy of the signed document («Мои документы»)
OPEN_STATES = ("waiting",)
STATE_LABELS = {
    "waiting": "ждёт подписи",
    "signed": "подписан",
    "declined": "отклонён",
    "expired": "срок истёк",
    "withdrawn": "отозван",
    "void": "недействителен (шаблон изменён)",
}


class SendError(ValueError):
    """Why a document cannot be sent, in staff wording."""


def code_method(config: Config) -> str:
    """How the one-time code reaches the patient: "sms", "chat" (weaker), or "" (cannot)."""
    if config.messaging.sms_enabled:
        return "sms"
    return "chat" if config.documents.code_in_chat else ""


def chat_for(session: Session, patient_mis_id: str) -> Subscriber | None:
    """The patient's reachable chat, the one they used last (as reminders choose)."""
    subs = session.scalars(
        select(Subscriber)
        .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .where(PatientLink.patient_mis_id == patient_mis_id, Subscriber.unreachable_at.is_(None))
    ).all()
    if not subs:
        return None
    return max(
        subs, key=lambda s: (s.last_seen_at is not None, s.last_seen_at or s.created_at, s.id)
    )


def pdf_path(config: Config, relative: str) -> Path:
    return documents_dir(config) / relative


def _keep(config: Config, relative: str, data: bytes) -> None:
    target = pdf_path(config, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)


def pdf_name(title: str, suffix: str = "") -> str:
    """The file name a patient sees: the title's words joined by "_"."""
    words = re.findall(r"[\w-]+", f"{title} {suffix}".strip())
    return ("_".join(words)[:90] or "document") + ".pdf"


def send_file_line(
    session: Session,
    config: Config,
    sub: Subscriber,
    *,
    data: bytes,
    file_name: str,
    caption: str,
    author: str,
    keyboard: dict | None,
    patient_mis_id: str,
) -> None:
    """A PDF into the patient's chat as a line of their thread, at reply priority."""
    file_line(
        session,
        config,
        conversation_for(session, sub),
        sub,
        files.Upload(data, file_name, "application/pdf"),
        caption,
        author,
        patient_mis_id=patient_mis_id,
        keyboard=keyboard,
    )


def send(
    session: Session,
    config: Config,
    *,
    patient_mis_id: str,
    title: str,
    pdf: bytes,
    who: str,
    now: datetime,
    template: DocumentTemplate | None = None,
) -> DocumentRequest:
    if not config.documents.enabled:
        raise SendError("Подпись документов выключена (documents.enabled = false).")
    method = code_method(config)
    if not method:
        raise SendError(
            "Подписать нечем: SMS не настроены (messaging.sms_enabled), а код в чате не "
            "разрешён (documents.code_in_chat). Включите одно из двух."
        )
    patient = session.scalar(select(Patient).where(Patient.mis_id == patient_mis_id))
    if patient is None:
        raise SendError("Пациента нет в МИС.")
    sub = chat_for(session, patient_mis_id)
    if sub is None:
        raise SendError("У пациента нет чата с ботом (или он заблокировал бота): отправить некуда.")
    problem = render.readable_pdf(pdf)
    if problem:
        raise SendError(problem)
    request = DocumentRequest(
        title=title.strip()[:200],
        source="template" if template is not None else "upload",
        template_id=template.id if template is not None else None,
        template_version=template.version if template is not None else 0,
        patient_mis_id=patient_mis_id,
        subscriber_id=sub.id,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        state="waiting",
        created_by=who[:100],
        created_at=now,
        expires_at=now + timedelta(days=config.documents.request_days),
    )
    session.add(request)
    session.flush()
    request.pdf_path = f"{request.id}/original.pdf"
    _keep(config, request.pdf_path, pdf)
    lang = sub.language
    until = request.expires_at.astimezone(config.clinic.tz).strftime("%d.%m.%Y")
    caption = text(
        "doc_offer", lang, title=request.title, how=text(f"doc_how_{method}", lang), until=until
    )
    keyboard = {
        "inline_keyboard": [
            [
                {
                    "text": text("btn_doc_sign", lang),
                    "callback_data": f"{SIGN_PREFIX}:{request.id}",
                },
                {
                    "text": text("btn_doc_question", lang),
                    "callback_data": f"{QUESTION_PREFIX}:{request.id}",
                },
            ],
            [
                {
                    "text": text("btn_doc_decline", lang),
                    "callback_data": f"{DECLINE_PREFIX}:{request.id}",
                }
            ],
        ]
    }
    send_file_line(
        session,
        config,
        sub,
        data=pdf,
        file_name=pdf_name(request.title),
        caption=caption[:1024],
        author=who,
        keyboard=keyboard,
        patient_mis_id=patient_mis_id,
    )
    return request


def send_template(
    session: Session,
    config: Config,
    template_id: int,
    patient_mis_id: str,
    *,
    who: str,
    now: datetime,
    appointment_mis_id: str = "",
) -> DocumentRequest:
    template = session.get(DocumentTemplate, template_id)
    if template is None or template.archived:
        raise SendError("Такого шаблона нет.")
    if not template.pep_allowed:
        raise SendError(
            f"Для «{template.title}» клиника не отметила, что простой электронной подписи "
            "достаточно: такой документ подписывают в клинике."
        )
    patient = session.scalar(select(Patient).where(Patient.mis_id == patient_mis_id))
    if patient is None:
        raise SendError("Пациента нет в МИС.")
    visit = templates.visit_for(session, patient_mis_id, now, appointment_mis_id)
    try:
        body = templates.fill(template.body_html, templates.values(config, patient, visit, now))
    except templates.TemplateError as exc:
        raise SendError(str(exc)) from None
    pdf = render.html_to_pdf(body, template.title)
    return send(
        session,
        config,
        patient_mis_id=patient_mis_id,
        title=template.title,
        pdf=pdf,
        who=who,
        now=now,
        template=template,
    )


def close(session: Session, request: DocumentRequest, state: str, note: str, now: datetime) -> bool:
    """Move a waiting request to `state`; False if it was no longer waiting (a conditional
    update, so a signature and a withdrawal at the same moment cannot both win)."""
    done = session.execute(
        update(DocumentRequest)
        .where(DocumentRequest.id == request.id, DocumentRequest.state.in_(OPEN_STATES))
        .values(state=state, state_note=note[:300], closed_at=now, code_hash="")
        .execution_options(synchronize_session=False)
    )
    session.refresh(request)
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _tell(session: Session, request: DocumentRequest, key: str, message: str) -> None:
    sub = session.get(Subscriber, request.subscriber_id)
    if sub is None or sub.unreachable_at is not None:
        return
    conv = conversation_for(session, sub)
    row = enqueue(
        session,
        key=f"{key}:{request.id}",
        chat_id=sub.chat_id,
        channel=sub.channel,
        text=text(message, sub.language, title=request.title),
        kind="reply",
        priority=PRIORITY_REPLY,
        respect_quiet_hours=False,
        patient_mis_id=request.patient_mis_id,
    )
    add_line(
        session,
        conv,
        direction="out",
        kind="notice",
        text=text(message, sub.language, title=request.title),
        outbox_id=row.id if row is not None else None,
    )


def withdraw(session: Session, request: DocumentRequest, who: str, now: datetime) -> bool:
    if not close(session, request, "withdrawn", f"отозван: {who}", now):
        return False
    _tell(session, request, "document-withdrawn", "doc_withdrawn_notice")
    return True


def void_stale(session: Session, template: DocumentTemplate, now: datetime) -> int:
    """Requests from an older version of `template` stop being signable; patients are told."""
    stale = session.scalars(
        select(DocumentRequest).where(
            DocumentRequest.template_id == template.id,
            DocumentRequest.template_version < template.version,
            DocumentRequest.state.in_(OPEN_STATES),
        )
    ).all()
    count = 0
    for request in stale:
        if close(session, request, "void", f"шаблон изменён (версия {template.version})", now):
            _tell(session, request, "document-void", "doc_voided_notice")
            count += 1
    return count


def expire_due(session: Session, now: datetime) -> int:
    done = session.execute(
        update(DocumentRequest)
        .where(DocumentRequest.state.in_(OPEN_STATES), DocumentRequest.expires_at <= now)
        .values(state="expired", closed_at=DocumentRequest.expires_at, code_hash="")
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def of_patient(session: Session, patient_mis_id: str) -> list[DocumentRequest]:
    return list(
        session.scalars(
            select(DocumentRequest)
            .where(DocumentRequest.patient_mis_id == patient_mis_id)
            .order_by(DocumentRequest.id.desc())
        )
    )
