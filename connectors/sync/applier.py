"""Applying one batch of MIS records to the mirror, and the domain events it implies.

Each batch is applied in bulk inside one session (the engine's transaction, with the
batch's cursor): one SELECT for the mirror rows the batch names, one INSERT for the new
ones and one UPDATE for the changed ones. A record whose content digest equals the
mirror's is skipped, which is what keeps re-reads quiet (a timestamp cursor's overlap, a
lost cursor, a window re-read). Events are keyed: an event whose key is stored already
is not stored again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from connectors.base import (
    AppointmentRecord,
    DeletionRecord,
    DoctorRecord,
    PatientRecord,
    PaymentRecord,
    PaymentReversalRecord,
)
from connectors.sync import news as sync_news
from connectors.sync.bulk import chunks, insert_rows, select_in, update_rows
from connectors.sync.mirror import MODELS, PATIENT_FIELDS, SYNC_COLUMNS, content_hash, table_of
from connectors.sync.report import SyncReport
from core.events import EventKind, PatientEvent, Payload, check
from core.models import DomainEvent, PatientPhone

log = logging.getLogger(__name__)


class Applier:
    """Applies the records of one batch inside one session, in bulk."""

    def __init__(
        self,
        session: Session,
        report: SyncReport,
        entity: str,
        *,
        emit_events: bool,
        now: datetime,
    ) -> None:
        self.s = session
        self.report = report
        self.entity = entity
        self.emit_events = emit_events
        self.now = now
        # kind -> mis_id -> the mirror row as it stands (loaded, or created in this batch)
        self._rows: dict[str, dict[str, dict[str, Any] | None]] = {k: {} for k in MODELS}
        self._new: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in MODELS}
        self._dirty: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in MODELS}
        self._phones: dict[str, tuple[str, ...]] = {}
        # key -> (kind, subject, payload, history): a history event is a fact an import
        # read (a refund row), stored as already handled and not reported as news.
        self._events: dict[str, tuple[EventKind, str, Payload, bool]] = {}
        # The connector's digest of the record being applied, if it made one.
        self._given_hash: str | None = None

    # -- mirror rows ----------------------------------------------------------------------

    def load(self, wanted: dict[str, set[str]]) -> None:
        """Fetch the mirror rows named, one SELECT per table and chunk."""
        for kind, ids in wanted.items():
            missing = [i for i in ids if i not in self._rows[kind]]
            if not missing:
                continue
            table = table_of(MODELS[kind])
            names = ("id", "mis_id", *SYNC_COLUMNS[kind])
            for chunk in chunks(missing):
                for row in select_in(self.s, table, names, "mis_id", chunk):
                    self._rows[kind][row["mis_id"]] = row
            for mis_id in missing:
                self._rows[kind].setdefault(mis_id, None)

    def _row(self, kind: str, mis_id: str) -> dict[str, Any] | None:
        if mis_id not in self._rows[kind]:
            self.load({kind: {mis_id}})
        return self._rows[kind][mis_id]

    def _put(self, kind: str, mis_id: str, values: dict[str, Any]) -> None:
        row = self._rows[kind].get(mis_id)
        if row is None:
            row = {"mis_id": mis_id, **values}
            self._rows[kind][mis_id] = row
            self._new[kind][mis_id] = row
            return
        row.update(values)
        if "id" in row:  # else it is still waiting in _new, updated in place
            self._dirty[kind][row["id"]] = row

    def event(self, key: str, kind: EventKind, subject: str, payload: Payload) -> None:
        """Record news, once per key (a key already stored is not stored again)."""
        if self.emit_events and key not in self._events:
            check(kind, payload)
            self._events[key] = (kind, subject, payload, False)

    def fact(self, key: str, kind: EventKind, subject: str, payload: Payload) -> None:
        """An event that is a record as well as news (a refund row: what a payment gave
        back). Read by an import it is stored too, already handled, so nobody is told and
        nothing is taken back, but the next read of the same row (a lost cursor, an
        overlap) finds its key and stays quiet, and money net of refunds counts it."""
        if self.emit_events:
            self.event(key, kind, subject, payload)
        elif key not in self._events:
            check(kind, payload)
            self._events[key] = (kind, subject, payload, True)

    def apply(self, records: Iterable[Any], hashes: list[str] | None = None) -> None:
        records = list(records)
        self.load(wanted(records))
        for i, record in enumerate(records):
            self._given_hash = hashes[i] if hashes else None
            if isinstance(record, AppointmentRecord):
                self.appointment(record)
            elif isinstance(record, PaymentRecord):
                self.payment(record)
            elif isinstance(record, PatientRecord):
                self.patient(record)
            elif isinstance(record, DoctorRecord):
                self.doctor(record)
            elif isinstance(record, PaymentReversalRecord):
                self.payment_reversal(record)
            elif isinstance(record, DeletionRecord):
                self.deletion(record)

    def flush(self) -> None:
        """Write what the batch changed: inserts, updates, phones, events."""
        for kind, model in MODELS.items():
            # Core statements, executemany: the ORM's per-row bookkeeping would cost more
            # than the database work in an initial import.
            table = table_of(model)
            new = list(self._new[kind].values())
            if new:
                cols = ("mis_id", *SYNC_COLUMNS[kind])
                rows = [{c: r[c] for c in cols} for r in new]
                if kind == "patient":
                    returned = self.s.execute(
                        insert(table).returning(table.c.id, table.c.mis_id), rows
                    )
                    for patient_id, mis_id in returned:
                        self._rows["patient"][mis_id]["id"] = patient_id  # type: ignore[index]
                else:
                    insert_rows(self.s, table, rows)
            dirty = list(self._dirty[kind].values())
            if dirty:
                update_rows(self.s, table, SYNC_COLUMNS[kind], dirty)
        if self._phones:
            by_id = {self._rows["patient"][m]["id"]: p for m, p in self._phones.items()}  # type: ignore[index]
            phones = table_of(PatientPhone)
            for chunk in chunks(list(by_id)):
                self.s.execute(delete(phones).where(phones.c.patient_id.in_(chunk)))
            phone_rows = [{"phone": p, "patient_id": i} for i, ps in by_id.items() for p in ps]
            if phone_rows:
                insert_rows(self.s, phones, phone_rows)
        if self._events:
            keys = list(self._events)
            known: set[str] = set()
            events = table_of(DomainEvent)
            for chunk in chunks(keys):
                known.update(r["key"] for r in select_in(self.s, events, ("key",), "key", chunk))
            rows = []
            for key in keys:
                if key not in known:
                    kind, subject, payload, history = self._events[key]
                    rows.append(
                        {
                            "key": key,
                            "kind": str(kind),
                            "subject": subject,
                            "payload": payload.payload(),
                            "created_at": self.now,
                            "processed_at": self.now if history else None,
                        }
                    )
                    if not history:
                        self.report.events.append((str(kind), subject))
            insert_rows(self.s, table_of(DomainEvent), rows)

    # -- entities -------------------------------------------------------------------------

    def doctor(self, rec: DoctorRecord) -> None:
        digest = self._given_hash or content_hash(rec)
        row = self._row("doctor", rec.mis_id)
        if row is not None and row["content_hash"] == digest:
            return
        self._put(
            "doctor",
            rec.mis_id,
            {"full_name": rec.full_name, "specialty": rec.specialty, "content_hash": digest},
        )
        self.report.changed[self.entity] += 1

    def patient(self, rec: PatientRecord) -> None:
        digest = self._given_hash or content_hash(rec)
        row = self._row("patient", rec.mis_id)
        if row is not None and row["content_hash"] == digest:
            return
        values = {
            "last_name": rec.last_name,
            "first_name": rec.first_name,
            "middle_name": rec.middle_name,
            "birth_date": rec.birth_date,
            "phones": list(rec.phones),
            "family_id": rec.family_id,
            "status": rec.status,
            "messaging_allowed": rec.messaging_allowed,
            "content_hash": digest,
            "updated_at": self.now,
        }
        is_new = row is None
        news = is_new or any(row[k] != values[k] for k in PATIENT_FIELDS)  # type: ignore[index]
        if is_new or list(row["phones"] or []) != list(rec.phones):  # type: ignore[index]
            self._phones[rec.mis_id] = rec.phones
        self._put("patient", rec.mis_id, values)
        self.report.changed[self.entity] += 1
        if news and self.emit_events:
            self.event(*sync_news.patient(rec, digest, is_new=is_new))

    def appointment(self, rec: AppointmentRecord) -> None:
        digest = self._given_hash or content_hash(rec)
        row = self._row("appointment", rec.mis_id)
        if row is not None and row["content_hash"] == digest and not row["deleted"]:
            return
        before = (
            None
            if row is None
            else (row["starts_at"], row["doctor_mis_id"], row["status"], row["deleted"])
        )
        self._put(
            "appointment",
            rec.mis_id,
            {
                "patient_mis_id": rec.patient_id,
                "doctor_mis_id": rec.doctor_id,
                "branch_id": rec.branch_id,
                "starts_at": rec.starts_at,
                "ends_at": rec.ends_at,
                "status": rec.status,
                "services": list(rec.services),
                "deleted": False,
                "content_hash": digest,
                "updated_at": self.now,
            },
        )
        self.report.changed[self.entity] += 1
        if not self.emit_events:
            return  # an import: no news to work out

        found = sync_news.appointment(rec, before, digest)
        if found is not None:
            self.event(*found)

    def payment(self, rec: PaymentRecord) -> None:
        digest = self._given_hash or content_hash(rec)
        row = self._row("payment", rec.mis_id)
        if row is not None and row["content_hash"] == digest:
            return
        is_new = row is None
        was_reversed = False if row is None else bool(row["reversed"])
        reversed_now = rec.reversed or was_reversed
        self._put(
            "payment",
            rec.mis_id,
            {
                "patient_mis_id": rec.patient_id,
                "paid_at": rec.paid_at,
                "amount": rec.amount,
                "method": rec.method,
                "reversed": reversed_now,
                "content_hash": digest,
            },
        )
        self.report.changed[self.entity] += 1
        if not self.emit_events:
            return
        for found in sync_news.payment(
            rec, is_new=is_new, newly_reversed=reversed_now and not was_reversed
        ):
            self.event(*found)

    def payment_reversal(self, rec: PaymentReversalRecord) -> None:
        """A refund row: one event per row, with its own id and amount, so the rules can
        take back the share of the payment it refunds. Only a refund of the whole amount
        (or more, or of an unknown amount) marks the mirror's payment reversed."""
        self.report.changed[self.entity] += 1
        row = self._row("payment", rec.payment_id)
        if row is None:
            log.warning(
                "refund %s names payment %s, which Kabinet never saw", rec.mis_id, rec.payment_id
            )
            return
        refunded = abs(rec.amount)
        whole = refunded == 0 or refunded >= abs(row["amount"])
        if whole and not row["reversed"]:
            self._put("payment", rec.payment_id, {"reversed": True})
        # No mirror row and no content hash remember a refund row: its event is the record
        # that it was applied, an import's included (fact()), or reading it again would
        # look like a new refund.
        self.fact(*sync_news.refund(rec, row, refunded if not whole else abs(row["amount"])))

    def _reverse_payment(self, payment_mis_id: str, refund_id: str = "") -> None:
        row = self._row("payment", payment_mis_id)
        if row is None:
            log.warning(
                "refund %s names payment %s, which Kabinet never saw", refund_id, payment_mis_id
            )
            return
        if row["reversed"]:
            return
        self._put("payment", payment_mis_id, {"reversed": True})
        self.event(*sync_news.payment_gone(payment_mis_id, row, refund_id))

    def deletion(self, rec: DeletionRecord) -> None:
        self.report.changed[self.entity] += 1
        if rec.entity == "appointment":
            self._delete_appointment(rec.mis_id)
        elif rec.entity == "payment":
            self._reverse_payment(rec.mis_id, refund_id="deleted")
        elif rec.entity == "patient" and self._row("patient", rec.mis_id) is not None:
            self._put("patient", rec.mis_id, {"status": "deleted", "content_hash": ""})
            # News too: the patient's chats are unlinked (core.rules, on_patient_changed).
            kind = EventKind.PATIENT_CHANGED
            self.event(f"{kind}:{rec.mis_id}:deleted", kind, rec.mis_id, PatientEvent((), False))

    def _delete_appointment(self, mis_id: str) -> None:
        row = self._row("appointment", mis_id)
        if row is None or row["deleted"]:
            return
        self._put("appointment", mis_id, {"deleted": True, "content_hash": ""})
        if row["status"] == "cancelled":
            return  # the patient was told when it was cancelled
        self.event(*sync_news.visit_deleted(mis_id, row))


def wanted(records: list[Any]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {k: set() for k in MODELS}
    for rec in records:
        if isinstance(rec, AppointmentRecord):
            wanted["appointment"].add(rec.mis_id)
        elif isinstance(rec, PaymentRecord):
            wanted["payment"].add(rec.mis_id)
        elif isinstance(rec, PatientRecord):
            wanted["patient"].add(rec.mis_id)
        elif isinstance(rec, DoctorRecord):
            wanted["doctor"].add(rec.mis_id)
        elif isinstance(rec, PaymentReversalRecord):
            wanted["payment"].add(rec.payment_id)
        elif isinstance(rec, DeletionRecord) and rec.entity in wanted:
            wanted[rec.entity].add(rec.mis_id)
    return wanted
