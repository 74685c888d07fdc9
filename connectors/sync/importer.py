"""The initial import of an entity into a mirror table that was empty when it began."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.base import Batch
from connectors.sync.bulk import insert_columns
from connectors.sync.mirror import MODELS, RECORDS, SYNC_COLUMNS, table_of
from core.models import PatientPhone


def mirror_columns(kind: str, records: list[Any], hashes: list[str], now: datetime) -> list[Any]:
    """The values of ("mis_id", *SYNC_COLUMNS[kind]) for new mirror rows, column by column:
    what Applier would put in a new row, without a dict per row. A sync column missing
    here is a KeyError, not a silently different import."""
    n = len(records)
    if kind == "appointment":
        columns: dict[str, list[Any]] = {
            "patient_mis_id": [r.patient_id for r in records],
            "doctor_mis_id": [r.doctor_id for r in records],
            "branch_id": [r.branch_id for r in records],
            "starts_at": [r.starts_at for r in records],
            "ends_at": [r.ends_at for r in records],
            "status": [r.status for r in records],
            "services": [list(r.services) for r in records],
            "deleted": [False] * n,
            "updated_at": [now] * n,
        }
    elif kind == "payment":
        columns = {
            "patient_mis_id": [r.patient_id for r in records],
            "paid_at": [r.paid_at for r in records],
            "amount": [r.amount for r in records],
            "method": [r.method for r in records],
            "reversed": [r.reversed for r in records],
        }
    elif kind == "patient":
        columns = {
            "last_name": [r.last_name for r in records],
            "first_name": [r.first_name for r in records],
            "middle_name": [r.middle_name for r in records],
            "birth_date": [r.birth_date for r in records],
            "phones": [list(r.phones) for r in records],
            "family_id": [r.family_id for r in records],
            "status": [r.status for r in records],
            "messaging_allowed": [r.messaging_allowed for r in records],
            "updated_at": [now] * n,
        }
    else:
        columns = {
            "full_name": [r.full_name for r in records],
            "specialty": [r.specialty for r in records],
        }
    columns["mis_id"] = [r.mis_id for r in records]
    columns["content_hash"] = hashes
    return [columns[name] for name in ("mis_id", *SYNC_COLUMNS[kind])]


class BulkImport:
    """The initial import of one entity into a mirror table that was empty when it began.

    Nothing can be in the mirror to compare with, so a batch is written as it is: no
    SELECT of the rows it names, no per-row bookkeeping, one executemany per table, in the
    batch's own transaction with its cursor (a crash keeps a batch or loses it, as
    always). A batch naming a row this import already wrote (the MIS changed it while the
    import ran) goes the ordinary way, which compares and updates. Imports produce no
    events, so there are none to work out.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.written: set[str] = set()

    def takes(self, batch: Batch) -> bool:
        records = batch.records
        if not records or batch.hashes is None or len(batch.hashes) != len(records):
            return False
        cls = RECORDS[self.kind]
        if any(type(r) is not cls for r in records):
            return False
        ids = {r.mis_id for r in records}
        return len(ids) == len(records) and self.written.isdisjoint(ids)

    def write(self, session: Session, batch: Batch, now: datetime) -> None:
        kind = self.kind
        records = batch.records
        assert batch.hashes is not None
        table = table_of(MODELS[kind])
        names = ["mis_id", *SYNC_COLUMNS[kind]]
        columns = mirror_columns(kind, records, batch.hashes, now)
        if kind == "patient":
            # Ids given here, not by SQLite, so the phones can name them without a read.
            first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
            ids = list(range(first, first + len(records)))
            insert_columns(session, table, ["id", *names], [ids, *columns])
            phones = [(p, i) for i, r in zip(ids, records, strict=True) for p in r.phones]
            if phones:
                insert_columns(
                    session,
                    table_of(PatientPhone),
                    ["phone", "patient_id"],
                    [[p for p, _ in phones], [i for _, i in phones]],
                )
        else:
            insert_columns(session, table, names, columns)
        self.written.update(r.mis_id for r in records)
