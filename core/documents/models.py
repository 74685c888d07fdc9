"""The documents' tables: templates, the ПЭП agreement's versions, requests to sign, and the
evidence chain of signatures.

`document_signatures` is append-only: the ORM refuses an update or a delete of a row (see
`_append_only`), and each row carries the hash of the one before it, so a row altered or
removed behind the ORM's back (SQL, a restored old file) is found by
`kabinet documents verify` (core.documents.evidence).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class DocumentTemplate(Base):
    """HTML with placeholders from the patient card and the visit (core.documents.templates).
    `version` goes up on every edit: a request made from an older version is void."""

    __tablename__ = "document_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body_html: Mapped[str] = mapped_column(Text)
    # The clinic's decision, per kind of document, that a simple electronic signature is
    # enough for it (README: what the lawyer checks). Off: it cannot be sent to sign.
    pep_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PepAgreement(Base):
    """A version of the agreement on using a simple electronic signature (63-ФЗ art. 9 p. 2)
    written in the panel; until one is, the catalogue's default text is version "1"."""

    __tablename__ = "pep_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(20), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentRequest(Base):
    """One document sent to one patient's chat to sign.

    state: waiting (sent, not signed) -> signed | declined | expired | withdrawn | void
    (the template was edited after sending). The PDF is kept under
    <data_dir>/documents/<id>/; its SHA-256 is what the patient signs.
    """

    __tablename__ = "document_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # template | upload
    template_id: Mapped[int | None] = mapped_column(ForeignKey("document_templates.id"))
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    pdf_path: Mapped[str] = mapped_column(String(300), default="")
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    state_note: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The one-time code: how it went (sms | chat), its HMAC (never the code), until when.
    code_method: Mapped[str] = mapped_column(String(8), default="")
    code_hash: Mapped[str] = mapped_column(String(64), default="")
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signature_id: Mapped[int | None] = mapped_column(Integer)
    signed_pdf_path: Mapped[str] = mapped_column(String(300), default="")
    signed_pdf_sha256: Mapped[str] = mapped_column(String(64), default="", index=True)


class DocumentSignature(Base):
    """One signature: what (the exact bytes' SHA-256), by whom, when, with which code's
    hash and under which agreement version; `prev_hash` chains it to the row before.

    kind: document | agreement (the acceptance of the ПЭП agreement is a signature too).
    """

    __tablename__ = "document_signatures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[int | None] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(200))
    document_sha256: Mapped[str] = mapped_column(String(64))
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_name: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(40))
    chat_id: Mapped[str] = mapped_column(String(40))
    linked_how: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(20))
    signed_at_utc: Mapped[str] = mapped_column(String(40))
    signed_at_clinic: Mapped[str] = mapped_column(String(60))
    code_method: Mapped[str] = mapped_column(String(8))
    code_hash: Mapped[str] = mapped_column(String(64))
    agreement_version: Mapped[str] = mapped_column(String(20))
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AppendOnly(Exception):
    pass


def _append_only(mapper: Mapper[DocumentSignature], connection: object, target: object) -> None:
    raise AppendOnly("document signatures are append-only: a signed record is never changed")


event.listen(DocumentSignature, "before_update", _append_only)
event.listen(DocumentSignature, "before_delete", _append_only)
