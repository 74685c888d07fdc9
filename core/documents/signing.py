"""A patient signs: «Подписать» asks for a one-time code, the code signs.

The code goes by SMS to the phone in the patient's MIS card (never one the person typed),
or — where the clinic allows it and there is no SMS — is shown in the bot's own message to
type back, which proves only that the linked chat answered (README says so). It is kept as
an HMAC under the instance's secret, valid 10 minutes; five wrong codes lock that document
for 15 minutes and open a task for the staff.

Nothing is signed unless every check holds at the moment the code arrives: the request is
this chat's, still waiting, not expired, not locked, the chat still linked to the patient.
The signature is a record of the evidence chain (core.documents.evidence); the signed copy
(original + signature page + the clinic's PAdES signature) goes to the chat and is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.config import Config
from core.documents import agreement, evidence, render
from core.documents.models import DocumentRequest, DocumentSignature
from core.documents.requests import (
    OPEN_STATES,
    code_method,
    expire_due,
    pdf_name,
    pdf_path,
    send_file_line,
)
from core.models import Patient, PatientLink, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.tasks import create_task
from core.texts import render as text

CODE = re.compile(r"^\s*(\d{6})\s*$")
CODE_TTL = timedelta(minutes=10)
ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)


@dataclass
class Answer:
    """What the bot says back: messages (text, buttons) and a short notice on the press."""

    replies: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    notice: str = ""
    signed: DocumentRequest | None = None
    # Files to send after the replies (the signed copy below «подписан»).
    then: list[Callable[[], None]] = field(default_factory=list)

    def say(self, message: str, markup: dict[str, Any] | None = None) -> Answer:
        self.replies.append((message, markup))
        return self


def _digest(config: Config, request_id: int, code: str) -> str:
    key = (config.web.secret_key or "kabinet").encode()
    return hmac.new(key, f"document:{request_id}:{code}".encode(), hashlib.sha256).hexdigest()


def when(config: Config, moment: datetime) -> str:
    return moment.astimezone(config.clinic.tz).strftime("%d.%m.%Y %H:%M")


def _link(session: Session, sub: Subscriber, patient_mis_id: str) -> PatientLink | None:
    return session.scalar(
        select(PatientLink).where(
            PatientLink.subscriber_id == sub.id, PatientLink.patient_mis_id == patient_mis_id
        )
    )


def refusal(
    session: Session,
    config: Config,
    sub: Subscriber,
    request: DocumentRequest | None,
    now: datetime,
) -> str:
    """Why this chat cannot sign `request` now, as the patient reads it; "" if it can."""
    lang = sub.language
    if request is None or request.subscriber_id != sub.id:
        return text("doc_not_yours", lang)
    expire_due(session, now)
    session.refresh(request)
    if request.state != "waiting":
        closed = request.closed_at or request.expires_at
        return text(f"doc_state_{request.state}", lang, when=when(config, closed))
    if _link(session, sub, request.patient_mis_id) is None:
        return text("doc_unlinked", lang)
    if request.locked_until is not None and request.locked_until > now:
        return text(
            "doc_still_locked", lang, title=request.title, until=when(config, request.locked_until)
        )
    return ""


def press_sign(
    session: Session, config: Config, sub: Subscriber, request_id: int, now: datetime
) -> Answer:
    request = session.get(DocumentRequest, request_id)
    why = refusal(session, config, sub, request, now)
    if why:
        return Answer(notice=why[:200]).say(why)
    assert request is not None
    lang = sub.language
    method = code_method(config)
    if not method:
        create_task(
            session,
            config,
            kind="document_unavailable",
            key=f"document-unavailable:{request.id}",
            text=f"Пациент хочет подписать «{request.title}», но код отправить нечем "
            "(нет SMS, код в чате не разрешён).",
            subscriber_id=sub.id,
            patient_mis_id=request.patient_mis_id,
            acknowledged=True,
        )
        return Answer().say(text("doc_unavailable", lang))
    # One code at a time per chat: pressing «Подписать» on another document ends this one's.
    for other in session.scalars(
        select(DocumentRequest).where(
            DocumentRequest.subscriber_id == sub.id,
            DocumentRequest.id != request.id,
            DocumentRequest.code_expires_at > now,
        )
    ):
        other.code_expires_at = now
    code = f"{secrets.randbelow(1_000_000):06d}"
    request.code_method, request.code_hash = method, _digest(config, request.id, code)
    request.code_expires_at = now + CODE_TTL
    answer = Answer()
    terms = agreement.current(session, config.clinic.name)
    if not agreement.accepted(
        session, request.patient_mis_id, sub.channel, sub.telegram_user_id, terms.version
    ):
        answer.say(
            text("doc_agreement", lang, version=terms.version, text=terms.text, title=request.title)
        )
    if method == "sms":
        patient = session.scalar(select(Patient).where(Patient.mis_id == request.patient_mis_id))
        phone = _phone(session, sub, request)
        if not phone:
            return Answer().say(text("doc_unavailable", lang))
        enqueue(
            session,
            key=f"document-code:{request.id}:{int(now.timestamp())}",
            chat_id=0,
            channel="sms",
            phone=phone,
            kind="document_code",
            text=text("doc_sms_text", lang, title=request.title, code=code),
            priority=PRIORITY_REPLY,
            respect_quiet_hours=False,
            patient_mis_id=patient.mis_id if patient else "",
        )
        return answer.say(text("doc_code_sms", lang, title=request.title, tail=phone[-4:]))
    return answer.say(text("doc_code_chat", lang, title=request.title, code=code))


def _phone(session: Session, sub: Subscriber, request: DocumentRequest) -> str:
    """The number the code goes to: the MIS card's (the link's own when it is on the card)."""
    patient = session.scalar(select(Patient).where(Patient.mis_id == request.patient_mis_id))
    link = _link(session, sub, request.patient_mis_id)
    phones = list(patient.phones or []) if patient else []
    if link is not None and link.phone in phones:
        return link.phone
    return phones[0] if phones else ""


def awaiting_code(session: Session, sub: Subscriber, now: datetime) -> DocumentRequest | None:
    """The request this chat was last given a code for, still waiting (or locked)."""
    return session.scalar(
        select(DocumentRequest)
        .where(
            DocumentRequest.subscriber_id == sub.id,
            DocumentRequest.state.in_(OPEN_STATES),
            # A locked one too: its code is gone, but a code typed now must hear why.
            or_(DocumentRequest.code_hash != "", DocumentRequest.locked_until > now),
        )
        .order_by(DocumentRequest.code_expires_at.desc())
        .limit(1)
    )


def enter_code(
    session: Session, config: Config, sub: Subscriber, typed: str, now: datetime
) -> Answer:
    lang = sub.language
    request = awaiting_code(session, sub, now)
    if request is None:
        return Answer().say(text("doc_no_code", lang))
    why = refusal(session, config, sub, request, now)
    if why:
        return Answer().say(why)
    if request.code_expires_at is None or request.code_expires_at <= now:
        return Answer().say(text("doc_code_expired", lang))
    match = CODE.match(typed)
    digits = match.group(1) if match else ""
    if not hmac.compare_digest(request.code_hash, _digest(config, request.id, digits)):
        return _wrong(session, config, sub, request, digits, now)
    return _sign(session, config, sub, request, now)


def _wrong(
    session: Session,
    config: Config,
    sub: Subscriber,
    request: DocumentRequest,
    digits: str,
    now: datetime,
) -> Answer:
    lang = sub.language
    request.wrong_codes += 1
    if request.wrong_codes >= ATTEMPTS:
        request.wrong_codes, request.code_hash = 0, ""
        request.locked_until = now + LOCKOUT
        create_task(
            session,
            config,
            kind="document_locked",
            key=f"document-locked:{request.id}:{int(now.timestamp())}",
            text=f"Пять неверных кодов для «{request.title}»: подпись заблокирована до "
            f"{when(config, request.locked_until)}. Если это не пациент — позвоните ему.",
            subscriber_id=sub.id,
            patient_mis_id=request.patient_mis_id,
            acknowledged=True,
        )
        return Answer().say(
            text("doc_locked", lang, title=request.title, until=when(config, request.locked_until))
        )
    left = ATTEMPTS - request.wrong_codes
    for other in session.scalars(
        select(DocumentRequest).where(
            DocumentRequest.subscriber_id == sub.id, DocumentRequest.id != request.id
        )
    ):
        if other.code_hash and hmac.compare_digest(
            other.code_hash, _digest(config, other.id, digits)
        ):
            return Answer().say(text("doc_code_other", lang, other=other.title, left=left))
    return Answer().say(text("doc_code_wrong", lang, left=left))


def _record(
    session: Session,
    config: Config,
    sub: Subscriber,
    request: DocumentRequest,
    *,
    kind: str,
    title: str,
    sha256: str,
    version: str,
    now: datetime,
) -> DocumentSignature:
    patient = session.scalar(select(Patient).where(Patient.mis_id == request.patient_mis_id))
    link = _link(session, sub, request.patient_mis_id)
    how = {
        "telegram": "свой контакт в Telegram: номер подтверждён Telegram и совпал с картой в МИС",
        "max": "карточка MAX и код из SMS на номер из карты в МИС",
    }.get(sub.channel, sub.channel)
    local = now.astimezone(config.clinic.tz)
    return evidence.append(
        session,
        evidence.Record(
            kind=kind,
            request_id=request.id,
            title=title[:200],
            document_sha256=sha256,
            patient_mis_id=request.patient_mis_id,
            patient_name=patient.full_name if patient else "",
            channel=sub.channel,
            account_id=str(sub.telegram_user_id),
            chat_id=str(sub.chat_id),
            linked_how=how,
            linked_at=link.linked_at.isoformat() if link else "",
            phone=_phone(session, sub, request),
            signed_at_utc=now.isoformat(),
            signed_at_clinic=f"{local:%d.%m.%Y %H:%M:%S} {config.clinic.timezone} (UTC{local:%z})",
            code_method=request.code_method,
            code_hash=request.code_hash,
            agreement_version=version,
        ),
    )


def reference(config: Config, row: DocumentSignature) -> str:
    base = config.web.public_url.rstrip("/")
    if base:
        return f"{base}/documents/verify?record={row.id}&hash={row.record_hash}"
    return f"kabinet documents verify: запись {row.id}, {row.record_hash}"


def _sign(
    session: Session, config: Config, sub: Subscriber, request: DocumentRequest, now: datetime
) -> Answer:
    lang = sub.language
    terms = agreement.current(session, config.clinic.name)
    if not agreement.accepted(
        session, request.patient_mis_id, sub.channel, sub.telegram_user_id, terms.version
    ):
        _record(
            session,
            config,
            sub,
            request,
            kind="agreement",
            title=f"Соглашение об использовании ПЭП, версия {terms.version}",
            sha256=terms.sha256,
            version=terms.version,
            now=now,
        )
    original = pdf_path(config, request.pdf_path).read_bytes()
    sha256 = hashlib.sha256(original).hexdigest()
    if sha256 != request.pdf_sha256:  # the kept file is not what was sent: never sign it
        return Answer().say(text("doc_state_void", lang))
    row = _record(
        session,
        config,
        sub,
        request,
        kind="document",
        title=request.title,
        sha256=sha256,
        version=terms.version,
        now=now,
    )
    patient = session.scalar(select(Patient).where(Patient.mis_id == request.patient_mis_id))
    facts = render.SignatureFacts(
        record_id=row.id,
        record_hash=row.record_hash,
        title=request.title,
        patient_name=row.patient_name,
        patient_mis_id=row.patient_mis_id,
        birth_date=patient.birth_date.strftime("%d.%m.%Y")
        if patient and patient.birth_date
        else "",
        phone=row.phone,
        account=f"{sub.channel}, аккаунт {row.account_id}"
        + (f" (@{sub.username})" if sub.username else ""),
        linked=f"{row.linked_how}; {when(config, datetime.fromisoformat(row.linked_at))}"
        if row.linked_at
        else row.linked_how,
        signed_at_clinic=row.signed_at_clinic,
        signed_at_utc=row.signed_at_utc,
        document_sha256=sha256,
        code_method=row.code_method,
        agreement_version=row.agreement_version,
        reference=reference(config, row),
    )
    signed = render.signed_copy(config, original, facts)
    request.state, request.closed_at, request.signature_id = "signed", now, row.id
    request.code_hash, request.code_expires_at = "", None
    request.signed_pdf_path = f"{request.id}/signed.pdf"
    request.signed_pdf_sha256 = hashlib.sha256(signed).hexdigest()
    target = pdf_path(config, request.signed_pdf_path)
    target.write_bytes(signed)
    answer = Answer(signed=request)
    answer.say(text("doc_signed", lang, title=request.title, when=when(config, now)))
    answer.then.append(
        lambda: send_file_line(
            session,
            config,
            sub,
            data=signed,
            file_name=pdf_name(request.title, "подписан"),
            caption=text("doc_signed_caption", lang, title=request.title),
            author="",
            keyboard=None,
            patient_mis_id=request.patient_mis_id,
        )
    )
    return answer
