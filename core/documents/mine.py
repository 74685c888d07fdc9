"""The patient's side around signing: «Есть вопросы» (an episode of the thread) and «Мои
документы» (what this chat signed and what waits, a copy of each signed one on request)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.documents.models import DocumentRequest
from core.documents.requests import (
    COPY_PREFIX,
    close,
    expire_due,
    pdf_name,
    pdf_path,
    send_file_line,
)
from core.documents.signing import Answer, refusal, when
from core.models import Subscriber
from core.tasks import create_task
from core.texts import render as text


def question(
    session: Session, config: Config, sub: Subscriber, request_id: int, now: datetime
) -> Answer:
    request = session.get(DocumentRequest, request_id)
    if request is None or request.subscriber_id != sub.id:
        return Answer().say(text("doc_not_yours", sub.language))
    create_task(
        session,
        config,
        kind="document_question",
        key=f"document-question:{request.id}:{int(now.timestamp()) // 3600}",
        text=f"Вопрос по документу «{request.title}» (отправлен {when(config, request.created_at)}).",
        subscriber_id=sub.id,
        patient_mis_id=request.patient_mis_id,
        acknowledged=True,
    )
    return Answer().say(text("doc_question_opened", sub.language, title=request.title))


def decline(
    session: Session, config: Config, sub: Subscriber, request_id: int, now: datetime
) -> Answer:
    """«Не подписывать»: the request ends as declined (a locked one may be declined too)."""
    request = session.get(DocumentRequest, request_id)
    why = refusal(session, config, sub, request, now)
    locked = request is not None and request.state == "waiting" and request.locked_until
    if why and not locked:
        return Answer(notice=why[:200]).say(why)
    assert request is not None
    close(session, request, "declined", "пациент отказался в боте", now)
    return Answer().say(text("doc_declined", sub.language, title=request.title))


def listing(session: Session, config: Config, sub: Subscriber, now: datetime) -> Answer:
    """«Мои документы»: what this chat signed, and what waits; a button for each copy."""
    expire_due(session, now)
    rows = session.scalars(
        select(DocumentRequest)
        .where(
            DocumentRequest.subscriber_id == sub.id,
            DocumentRequest.state.in_(("signed", "waiting")),
        )
        .order_by(DocumentRequest.id.desc())
        .limit(20)
    ).all()
    lang = sub.language
    if not rows:
        return Answer().say(text("doc_mine_none", lang))
    lines = [text("doc_mine_head", lang)]
    buttons = []
    for row in rows:
        if row.state == "signed":
            lines.append(
                text(
                    "doc_mine_signed",
                    lang,
                    title=row.title,
                    when=when(config, row.closed_at or now),
                )
            )
            label = text("btn_doc_copy", lang, title=row.title[:40])
            buttons.append([{"text": label, "callback_data": f"{COPY_PREFIX}:{row.id}"}])
        else:
            lines.append(
                text("doc_mine_waiting", lang, title=row.title, when=when(config, row.expires_at))
            )
    return Answer().say("\n".join(lines), {"inline_keyboard": buttons} if buttons else None)


def copy(session: Session, config: Config, sub: Subscriber, request_id: int) -> Answer:
    request = session.get(DocumentRequest, request_id)
    if request is None or request.subscriber_id != sub.id or request.state != "signed":
        return Answer().say(text("doc_not_yours", sub.language))
    data = pdf_path(config, request.signed_pdf_path).read_bytes()
    send_file_line(
        session,
        config,
        sub,
        data=data,
        file_name=pdf_name(request.title, "подписан"),
        caption=text("doc_copy_caption", sub.language, title=request.title),
        author="",
        keyboard=None,
        patient_mis_id=request.patient_mis_id,
    )
    return Answer()
