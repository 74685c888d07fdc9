"""The agreement on using a simple electronic signature (63-ФЗ «Об электронной подписи»,
art. 9 part 2: how the signer is identified from the signature, and the signer's duty to
keep the key — here the one-time code — confidential).

Versioned in the panel like the consent text; until the clinic writes its own, the default
below is version "1". A patient accepts it before their first signature, with the same
code as that document; the acceptance is a record of the evidence chain of its own (kind
"agreement", the SHA-256 of the agreement's text), so it is proven the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.documents.models import DocumentSignature, PepAgreement
from core.versioned_text import VersionedText

DEFAULT_VERSION = "1"
MAX_TEXT = 3000  # one message with its frame, within Telegram's 4,096

DEFAULT_TEXT = (
    "Соглашение об использовании простой электронной подписи с клиникой «{clinic}».\n"
    "1. Документы, которые клиника присылает мне в чат бота клиники, я могу подписывать "
    "простой электронной подписью (ПЭП) по Федеральному закону № 63-ФЗ «Об электронной "
    "подписи».\n"
    "2. Ключ ПЭП — одноразовый код, который приходит SMS на номер телефона из моей карты "
    "в клинике (или, если клиника так решила, показывается ботом в этом чате). Подписант "
    "определяется по этому чату, связанному с моей картой по номеру телефона, и по "
    "введённому коду.\n"
    "3. Документ, подписанный ПЭП, равнозначен документу на бумаге, подписанному мной "
    "собственноручно.\n"
    "4. Я обязуюсь никому не сообщать код и не передавать доступ к этому чату и телефону; "
    "если доступ утрачен, я сразу сообщу в клинику.\n"
    "5. Клиника хранит подписанный документ, его хеш SHA-256, время подписи и сведения о "
    "подписанте и выдаёт мне копию по запросу."
)


@dataclass(frozen=True)
class Current:
    version: str
    text: str
    custom: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


_TEXTS = VersionedText(PepAgreement, "соглашения", first_custom=2, max_text=MAX_TEXT)


def current(session: Session, clinic: str) -> Current:
    row = _TEXTS.latest(session)
    if row is None:
        return Current(DEFAULT_VERSION, DEFAULT_TEXT.format(clinic=clinic), False)
    return Current(row.version, row.text, True)


def history(session: Session) -> list[PepAgreement]:
    return _TEXTS.history(session)


check_text = _TEXTS.check


def new_version(session: Session, text: str, who: str, now: datetime) -> PepAgreement:
    """A new version: "2", "3", … (the default text is "1")."""
    return _TEXTS.add(session, text, who, now)


def accepted(
    session: Session, patient_mis_id: str, channel: str, account_id: int, version: str
) -> bool:
    """Has this patient accepted this version from this messenger account?"""
    return (
        session.scalar(
            select(DocumentSignature.id).where(
                DocumentSignature.kind == "agreement",
                DocumentSignature.patient_mis_id == patient_mis_id,
                DocumentSignature.channel == channel,
                DocumentSignature.account_id == str(account_id),
                DocumentSignature.agreement_version == version,
            )
        )
        is not None
    )
