"""Re-checking a PDF someone brings: is it exactly a copy the clinic signed, by whom, when —
or changed since. Used by `kabinet documents verify FILE` and the panel's check page.

The answer rests on three things that must agree: the file's SHA-256 is a signed copy's
the store knows; the clinic's PAdES signature in it is intact, by the clinic's certificate,
and covers the whole file; and the evidence record it names is intact in the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.documents import evidence, pades
from core.documents.models import DocumentRequest, DocumentSignature

_RECORD = re.compile(r"№ (\d+) ([0-9a-f]{64})")


@dataclass
class Verdict:
    ok: bool
    lines: list[str] = field(default_factory=list)
    record: DocumentSignature | None = None


def _who(row: DocumentSignature) -> str:
    return (
        f"«{row.title}» подписал(а) {row.patient_name} (пациент {row.patient_mis_id} в МИС, "
        f"{row.channel} {row.account_id}, телефон {row.phone or '—'}) "
        f"{row.signed_at_clinic}; UTC {row.signed_at_utc}; запись журнала № {row.id}"
    )


def check_file(session: Session, config: Config, data: bytes) -> Verdict:
    digest = hashlib.sha256(data).hexdigest()
    lines = [f"SHA-256 файла: {digest}"]
    signature = pades.check(config, data)
    named = _RECORD.search(signature.reason)
    record = session.get(DocumentSignature, int(named.group(1))) if named else None
    request = session.scalar(
        select(DocumentRequest).where(DocumentRequest.signed_pdf_sha256 == digest)
    )
    if request is None:
        original = session.scalar(
            select(DocumentRequest).where(DocumentRequest.pdf_sha256 == digest)
        )
        if original is not None and original.signature_id:
            row = session.get(DocumentSignature, original.signature_id)
            lines.append(
                "Это исходный документ без листа подписи; он подписан: "
                + (_who(row) if row else f"запись № {original.signature_id}")
            )
            return Verdict(row is not None and evidence.intact(row), lines, row)
    if not signature.found:
        lines.append("✗ В файле нет подписи клиники: это не подписанная копия из Kabinet.")
        return Verdict(False, lines)
    if not signature.intact:
        lines.append("✗ Подпись клиники не сходится с содержимым: файл изменён после подписи.")
    elif not signature.whole_file:
        lines.append("✗ После подписи в файл что-то добавлено: файл изменён после подписи.")
    if not signature.trusted:
        lines.append("✗ Файл подписан не сертификатом этой клиники.")
    if record is None:
        lines.append("✗ Подпись не называет запись журнала этой клиники.")
        return Verdict(False, lines)
    if named and named.group(2) != record.record_hash:
        lines.append(f"✗ Запись журнала № {record.id} не та, что названа в файле.")
    if not evidence.intact(record):
        lines.append(f"✗ Запись журнала № {record.id} изменена после подписи.")
    if request is None or request.signature_id != record.id:
        lines.append("✗ Такой подписанной копии клиника не выдавала (хеш файла другой).")
    ok = (
        signature.ok
        and request is not None
        and request.signature_id == record.id
        and evidence.intact(record)
        and named is not None
        and named.group(2) == record.record_hash
    )
    if ok:
        lines.append("✓ Это в точности подписанная копия: " + _who(record))
        lines.append(f"✓ SHA-256 подписанного документа: {record.document_sha256}")
    else:
        lines.append("Подпись в файле относится к: " + _who(record))
    return Verdict(ok, lines, record)


def check_record(session: Session, record_id: int, record_hash: str) -> Verdict:
    """The record a signed copy's QR code names: found, intact, and the one it names."""
    row = session.get(DocumentSignature, record_id)
    if row is None:
        return Verdict(False, [f"✗ Записи № {record_id} в журнале нет."])
    if not evidence.intact(row):
        return Verdict(False, [f"✗ Запись журнала № {row.id} изменена после подписи."], row)
    if not hmac.compare_digest(row.record_hash, record_hash.strip().lower()):
        return Verdict(
            False, [f"✗ У записи № {row.id} другой хеш: ссылка не от этой подписи."], row
        )
    return Verdict(True, ["✓ Запись журнала цела: " + _who(row)], row)
