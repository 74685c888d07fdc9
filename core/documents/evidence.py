"""The evidence chain: every signature is a row whose hash covers its fields and the hash of
the row before it, and the chain's head (how many rows, the last hash) is kept beside it.

So an altered row no longer hashes to its `record_hash`, a row taken out leaves the next
one pointing at a hash that is not there, and rows cut off the end leave the head naming
more rows than exist: `verify_chain` finds each (`kabinet documents verify`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.documents.models import DocumentSignature
from core.models import KeyValue

HEAD_KEY = "documents.chain_head"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Record:
    """The fields a signature's hash covers, in this order."""

    kind: str
    request_id: int | None
    title: str
    document_sha256: str
    patient_mis_id: str
    patient_name: str
    channel: str
    account_id: str
    chat_id: str
    linked_how: str
    linked_at: str
    phone: str
    signed_at_utc: str
    signed_at_clinic: str
    code_method: str
    code_hash: str
    agreement_version: str


def record_hash(row_id: int, record: Record | DocumentSignature, prev_hash: str) -> str:
    body: dict[str, Any] = {f.name: getattr(record, f.name) for f in fields(Record)}
    body["id"], body["prev_hash"] = row_id, prev_hash
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _head(session: Session) -> dict[str, Any]:
    row = session.get(KeyValue, HEAD_KEY)
    return dict(row.value) if row is not None else {"count": 0, "last_id": 0, "hash": GENESIS}


def append(session: Session, record: Record) -> DocumentSignature:
    """Add a signature at the chain's end; in the caller's transaction, so the row and the
    head commit together. Signatures are made by the runner's handlers, one update at a
    time; were two ever to race, the row id (the primary key, from the head) lets only one
    of them commit, so the chain cannot fork (PostgreSQL also locks the head row)."""
    head = session.get(KeyValue, HEAD_KEY, with_for_update=True)
    state: dict[str, Any] = dict(head.value) if head is not None else dict(_head(session))
    row_id = int(state["last_id"]) + 1
    prev_hash = str(state["hash"])
    digest = record_hash(row_id, record, prev_hash)
    row = DocumentSignature(
        id=row_id,
        prev_hash=prev_hash,
        record_hash=digest,
        **{f.name: getattr(record, f.name) for f in fields(Record)},
    )
    session.add(row)
    new_state = {"count": int(state["count"]) + 1, "last_id": row_id, "hash": digest}
    if head is None:
        session.add(KeyValue(key=HEAD_KEY, value=new_state))
    else:
        head.value = new_state
    session.flush()
    return row


def verify_chain(session: Session) -> list[str]:
    """Problems found, in staff wording; empty when every record is as it was signed."""
    problems: list[str] = []
    prev, expected_id = GENESIS, 1
    rows = session.scalars(select(DocumentSignature).order_by(DocumentSignature.id))
    for row in rows:
        if row.id != expected_id:
            problems.append(
                f"запись № {expected_id}"
                + (f"–{row.id - 1}" if row.id - 1 > expected_id else "")
                + " удалена из журнала"
            )
        if row.prev_hash != prev:
            problems.append(
                f"запись № {row.id}: цепочка прервана (предыдущая запись изменена или удалена)"
            )
        if record_hash(row.id, row, row.prev_hash) != row.record_hash:
            problems.append(f"запись № {row.id} изменена после подписи")
        prev, expected_id = row.record_hash, row.id + 1
    count = session.scalar(select(func.count()).select_from(DocumentSignature)) or 0
    head = _head(session)
    if int(head["last_id"]) > expected_id - 1:
        problems.append(f"из конца журнала удалены записи № {expected_id}–{head['last_id']}")
    elif head["hash"] != prev and not problems:
        problems.append("последняя запись журнала не та, что была подписана последней")
    if int(head["count"]) != count and not problems:
        problems.append(f"в журнале {count} записей, а подписей было {head['count']}")
    return problems


def find(session: Session, record_id: int) -> DocumentSignature | None:
    return session.get(DocumentSignature, record_id)


def intact(row: DocumentSignature) -> bool:
    return record_hash(row.id, row, row.prev_hash) == row.record_hash
