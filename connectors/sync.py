"""Incremental sync: MIS -> local mirror tables -> domain events.

Each profile query ("entity") has a persisted cursor. One batch is applied in one local
transaction together with its new cursor and the events it produced, so a crash either
keeps all of a batch or none of it, and the next run re-reads exactly what was not kept.
Events carry a unique key, so re-reading rows never produces an event twice.

The first read of an entity (no cursor yet) is the initial import: it fills the mirror but
produces no events, because a clinic's history is not news — nobody should get bonus
points for a payment from last year or a "you are booked" for a visit booked in spring.
Events of a record type start once every query of that type has read everything once.

Batches are applied in bulk: one SELECT for the mirror rows a batch names, one INSERT for
the new ones and one UPDATE for the changed ones, so an initial import of a million rows
takes seconds, not a million round trips. A record whose content hash equals the mirror's
is skipped, which is what makes re-reads (a timestamp cursor's overlap, a lost cursor, a
window re-read) quiet.

After the entities, a sweep turns scheduled visits whose end passed `no_show_grace` ago
without an arrival into `appointment.no_show`, once per visit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import (
    ENTITIES,
    AppointmentRecord,
    Batch,
    Connector,
    DeletionRecord,
    DoctorRecord,
    PatientRecord,
    PaymentRecord,
    PaymentReversalRecord,
    Sweep,
)
from core.db import Base, UTCDateTime, transaction, utcnow
from core.models import (
    Appointment,
    Doctor,
    DomainEvent,
    Patient,
    PatientPhone,
    Payment,
    SyncCursor,
)

log = logging.getLogger(__name__)

NO_SHOW_CURSOR = "_no_show_sweep"
# How often the no-show sweep stores its time when it has nothing to record.
NO_SHOW_CHECKPOINT = timedelta(minutes=5)

# A window read's deletions count only for mirror rows this far inside the window: a visit
# moved from the window's edge to before it between two reads must not look deleted.
SWEEP_MARGIN = timedelta(days=1)
# Fewer missing rows than this are never "too many" for the mass-deletion guard.
SWEEP_GUARD_MIN = 20

_MODELS: dict[str, type[Base]] = {
    "doctor": Doctor,
    "patient": Patient,
    "appointment": Appointment,
    "payment": Payment,
}
# The mirror columns the sync owns and writes; everything else on those tables (a visit's
# confirmation, say) belongs to Kabinet and is never touched by a sync.
SYNC_COLUMNS: dict[str, tuple[str, ...]] = {
    "doctor": ("full_name", "specialty", "content_hash"),
    "patient": (
        "last_name",
        "first_name",
        "middle_name",
        "birth_date",
        "phones",
        "family_id",
        "status",
        "messaging_allowed",
        "content_hash",
        "updated_at",
    ),
    "appointment": (
        "patient_mis_id",
        "doctor_mis_id",
        "branch_id",
        "starts_at",
        "ends_at",
        "status",
        "services",
        "deleted",
        "content_hash",
        "updated_at",
    ),
    "payment": ("patient_mis_id", "paid_at", "amount", "method", "reversed", "content_hash"),
}
# Patient fields whose change is news (a phone, the "no messages" flag...).
_PATIENT_FIELDS = SYNC_COLUMNS["patient"][:-2]
_IN_CHUNK = 500
# A batch this big is an import (or a large catch-up): give SQLite a bigger page cache.
IMPORT_BATCH = 1000
IMPORT_BATCH_SIZE = 20000
IMPORT_CACHE_KIB = 65536


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def content_hash(record: Any) -> str:
    """A digest of a record's content: equal digests mean nothing changed.

    Each field as text, joined by a separator no MIS value contains: str() of datetimes,
    Decimals and tuples is done in C, which an initial import of a million rows notices.
    """
    text = "\x1f".join([str(getattr(record, name)) for name in _field_names(type(record))])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class SyncReport:
    read: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, str]] = field(default_factory=list)  # (kind, subject)
    # Things a person should look at (a window read refused as a mass deletion).
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{e}: {self.read[e]} read, {self.changed[e]} changed" for e in self.read]
        kinds = Counter(kind for kind, _ in self.events)
        if kinds:
            parts.append("events: " + ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items())))
        parts.extend(f"problem: {p}" for p in self.problems)
        return "; ".join(parts) or "nothing to read"


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _constant(value: Any) -> Any:
    return value


def _utc_text(value: datetime | None) -> str | None:
    """UTCDateTime as SQLAlchemy's SQLite dialect stores it ('YYYY-MM-DD HH:MM:SS.ffffff'),
    made with isoformat(), several times faster than the dialect's own formatting."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given where an aware one is required")
    text = value.astimezone(UTC).isoformat(" ")[:-6]  # without its "+00:00"
    return text if len(text) > 19 else text + ".000000"


def _binder(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _utc_text
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    if processor is not None and isinstance(column.type, JSON):
        return lambda value: "[]" if value == [] else processor(value)
    return processor


def _utc_datetime(value: str) -> datetime:
    """UTCDateTime's stored text ('YYYY-MM-DD HH:MM:SS[.ffffff]', naive UTC) -> aware
    datetime, parsed in C: what the dialect's regex and the type's result processor return."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _reader(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime) and dialect.name == "sqlite":
        return _utc_datetime
    return cast(Callable[[Any], Any] | None, column.type._cached_result_processor(dialect, None))


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT of rows that all name the same columns.

    On SQLite the rows go straight to the driver's executemany, bound by SQLAlchemy's own
    type processors, with the columns' own defaults: the values Core would write, without
    Core's per-row bookkeeping, which costs more than SQLite's work in an initial import.
    """
    if not rows:
        return
    if session.connection().dialect.name != "sqlite":
        session.execute(insert(table), rows)
        return
    given = list(rows[0])
    _insert_columns(session, table, given, [[row[name] for row in rows] for name in given])


def _dicts(names: list[str], values: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _insert_columns(
    session: Session, table: Table, given: list[str], values: list[list[Any]]
) -> None:
    """Bulk INSERT of rows given column by column: `values[i]` holds column `given[i]`."""
    connection = session.connection()
    dialect = connection.dialect
    count = len(values[0]) if values else 0
    if not count:
        return
    if dialect.name != "sqlite":
        session.execute(insert(table), _dicts(given, values))
        return
    defaults: list[tuple[str, Callable[[], Any]]] = []
    for column in table.columns:
        if column.name in given or table.autoincrement_column is column:
            continue
        default: Any = column.default
        if default is not None and default.is_scalar:
            defaults.append((column.name, partial(_constant, default.arg)))
        elif default is not None and default.is_callable:
            # SQLAlchemy wraps a column's default function to take an execution context.
            defaults.append((column.name, partial(default.arg, None)))
        elif not (column.nullable or column.server_default is not None):
            # A default only Core knows how to make.
            session.execute(insert(table), _dicts(given, values))
            return
    names = given + [name for name, _ in defaults]
    processors = [_binder(table.c[name], dialect) for name in names]
    # Column by column: map() over a column is cheaper than a generator per row.
    columns: list[list[Any]] = []
    for column_values, processor in zip(values, processors, strict=False):
        columns.append(column_values if processor is None else list(map(processor, column_values)))
    for (_, make), processor in zip(defaults, processors[len(given) :], strict=True):
        value = make()
        columns.append([value if processor is None else processor(value)] * count)
    params = list(zip(*columns, strict=True))
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join('?' * len(names))})"
    )
    connection.exec_driver_sql(sql, params)


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_RESULT_PROCESSORS: dict[tuple[str, tuple[str, ...]], list[Callable[[Any], Any] | None]] = {}


def _select_in(
    session: Session, table: Table, names: tuple[str, ...], key: str, values: list[str]
) -> list[dict[str, Any]]:
    """SELECT `names` FROM `table` WHERE `key` IN `values`, as dicts.

    On SQLite straight through the driver, each value converted by its column's own result
    processor: the values Core would return, without Core's statement and row machinery,
    which costs more than SQLite's work for the hundred rows of a poll.
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        columns = [table.c[n] for n in names]
        return [
            dict(row._mapping)
            for row in session.execute(select(*columns).where(table.c[key].in_(values)))
        ]
    processors = _RESULT_PROCESSORS.get((table.name, names))
    if processors is None:
        processors = _RESULT_PROCESSORS[(table.name, names)] = [
            _reader(table.c[n], dialect) for n in names
        ]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"SELECT {', '.join(quote(n) for n in names)} "
        f"FROM {dialect.identifier_preparer.format_table(table)} "
        f"WHERE {quote(key)} IN ({', '.join('?' * len(values))})"
    )
    rows = connection.exec_driver_sql(sql, tuple(values)).cursor.fetchall()
    converted = [
        [row[i] if p is None or row[i] is None else p(row[i]) for row in rows]
        for i, p in enumerate(processors)
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*converted, strict=True)]


def _update_rows(session: Session, table: Table, names: tuple[str, ...], rows: list[Any]) -> None:
    """UPDATE `table` SET `names` WHERE id = row["id"], for each row, in one executemany
    (on SQLite through the driver, bound by the columns' own processors, as inserts are)."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({c: bindparam(c) for c in names})
        )
        session.execute(statement, [{"row_id": r["id"], **{c: r[c] for c in names}} for r in rows])
        return
    columns: list[list[Any]] = []
    for name in names:
        processor = _binder(table.c[name], dialect)
        values = [r[name] for r in rows]
        columns.append(values if processor is None else list(map(processor, values)))
    columns.append([r["id"] for r in rows])
    quote = dialect.identifier_preparer.quote
    sql = (
        f"UPDATE {dialect.identifier_preparer.format_table(table)} "
        f"SET {', '.join(f'{quote(n)} = ?' for n in names)} WHERE id = ?"
    )
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


# The record class each mirror table is filled from.
_RECORDS: dict[str, type] = {
    "doctor": DoctorRecord,
    "patient": PatientRecord,
    "appointment": AppointmentRecord,
    "payment": PaymentRecord,
}


def _mirror_columns(kind: str, records: list[Any], hashes: list[str], now: datetime) -> list[Any]:
    """The values of ("mis_id", *SYNC_COLUMNS[kind]) for new mirror rows, column by column:
    what _Applier would put in a new row, without a dict per row. A sync column missing
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


class _BulkImport:
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
        cls = _RECORDS[self.kind]
        if any(type(r) is not cls for r in records):
            return False
        ids = {r.mis_id for r in records}
        return len(ids) == len(records) and self.written.isdisjoint(ids)

    def write(self, session: Session, batch: Batch, now: datetime) -> None:
        kind = self.kind
        records = batch.records
        assert batch.hashes is not None
        table = _table(_MODELS[kind])
        names = ["mis_id", *SYNC_COLUMNS[kind]]
        columns = _mirror_columns(kind, records, batch.hashes, now)
        if kind == "patient":
            # Ids given here, not by SQLite, so the phones can name them without a read.
            first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
            ids = list(range(first, first + len(records)))
            _insert_columns(session, table, ["id", *names], [ids, *columns])
            phones = [(p, i) for i, r in zip(ids, records, strict=True) for p in r.phones]
            if phones:
                _insert_columns(
                    session,
                    _table(PatientPhone),
                    ["phone", "patient_id"],
                    [[p for p, _ in phones], [i for _, i in phones]],
                )
        else:
            _insert_columns(session, table, names, columns)
        self.written.update(r.mis_id for r in records)


class _Applier:
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
        self._rows: dict[str, dict[str, dict[str, Any] | None]] = {k: {} for k in _MODELS}
        self._new: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in _MODELS}
        self._dirty: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in _MODELS}
        self._phones: dict[str, tuple[str, ...]] = {}
        # key -> (kind, subject, payload, history): a history event is a fact an import
        # read (a refund row), stored as already handled and not reported as news.
        self._events: dict[str, tuple[str, str, dict[str, Any], bool]] = {}
        # The connector's digest of the record being applied, if it made one.
        self._given_hash: str | None = None

    # -- mirror rows ----------------------------------------------------------------------

    def load(self, wanted: dict[str, set[str]]) -> None:
        """Fetch the mirror rows named, one SELECT per table and chunk."""
        for kind, ids in wanted.items():
            missing = [i for i in ids if i not in self._rows[kind]]
            if not missing:
                continue
            table = _table(_MODELS[kind])
            names = ("id", "mis_id", *SYNC_COLUMNS[kind])
            for chunk in _chunks(missing):
                for row in _select_in(self.s, table, names, "mis_id", chunk):
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

    def event(self, key: str, kind: str, subject: str, payload: dict[str, Any]) -> None:
        if self.emit_events and key not in self._events:
            self._events[key] = (kind, subject, payload, False)

    def fact(self, key: str, kind: str, subject: str, payload: dict[str, Any]) -> None:
        """An event that is a record as well as news (a refund row: what a payment gave
        back). Read by an import it is stored too, already handled, so nobody is told and
        nothing is taken back, but the next read of the same row (a lost cursor, an
        overlap) finds its key and stays quiet, and money net of refunds counts it."""
        if self.emit_events:
            self.event(key, kind, subject, payload)
        elif key not in self._events:
            self._events[key] = (kind, subject, payload, True)

    def apply(self, records: Iterable[Any], hashes: list[str] | None = None) -> None:
        records = list(records)
        self.load(_wanted(records))
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
        for kind, model in _MODELS.items():
            # Core statements, executemany: the ORM's per-row bookkeeping would cost more
            # than the database work in an initial import.
            table = _table(model)
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
                    _insert_rows(self.s, table, rows)
            dirty = list(self._dirty[kind].values())
            if dirty:
                _update_rows(self.s, table, SYNC_COLUMNS[kind], dirty)
        if self._phones:
            by_id = {self._rows["patient"][m]["id"]: p for m, p in self._phones.items()}  # type: ignore[index]
            phones = _table(PatientPhone)
            for chunk in _chunks(list(by_id)):
                self.s.execute(delete(phones).where(phones.c.patient_id.in_(chunk)))
            phone_rows = [{"phone": p, "patient_id": i} for i, ps in by_id.items() for p in ps]
            if phone_rows:
                _insert_rows(self.s, phones, phone_rows)
        if self._events:
            keys = list(self._events)
            known: set[str] = set()
            events = _table(DomainEvent)
            for chunk in _chunks(keys):
                known.update(r["key"] for r in _select_in(self.s, events, ("key",), "key", chunk))
            rows = []
            for key in keys:
                if key not in known:
                    kind, subject, payload, history = self._events[key]
                    rows.append(
                        {
                            "key": key,
                            "kind": kind,
                            "subject": subject,
                            "payload": payload,
                            "created_at": self.now,
                            "processed_at": self.now if history else None,
                        }
                    )
                    if not history:
                        self.report.events.append((kind, subject))
            _insert_rows(self.s, _table(DomainEvent), rows)

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
        news = is_new or any(row[k] != values[k] for k in _PATIENT_FIELDS)  # type: ignore[index]
        if is_new or list(row["phones"] or []) != list(rec.phones):  # type: ignore[index]
            self._phones[rec.mis_id] = rec.phones
        self._put("patient", rec.mis_id, values)
        self.report.changed[self.entity] += 1
        if is_new:
            # A new patient may be someone who already wrote to the bot (a pending link).
            self.event(
                f"patient.created:{rec.mis_id}",
                "patient.created",
                rec.mis_id,
                {"phones": list(rec.phones), "messaging_allowed": rec.messaging_allowed},
            )
        elif news:
            self.event(
                f"patient.changed:{rec.mis_id}:{digest[:16]}",
                "patient.changed",
                rec.mis_id,
                {"phones": list(rec.phones), "messaging_allowed": rec.messaging_allowed},
            )

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

        payload = {
            "patient_mis_id": rec.patient_id,
            "doctor_mis_id": rec.doctor_id,
            "starts_at": rec.starts_at.isoformat(),
            "status": rec.status,
        }
        if before is None:
            if rec.status == "scheduled":
                self.event(
                    f"appointment.created:{rec.mis_id}", "appointment.created", rec.mis_id, payload
                )
            else:
                self._status_event(rec, payload, digest)
            return
        old_starts, old_doctor, old_status, was_deleted = before
        if rec.status == "scheduled" and (old_status == "cancelled" or was_deleted):
            # Cancelled, then booked again in the same row: a fresh booking for the patient.
            self.event(
                f"appointment.created:{rec.mis_id}:{digest[:16]}",
                "appointment.created",
                rec.mis_id,
                payload,
            )
        elif rec.status != old_status:
            self._status_event(rec, payload, digest)
        elif rec.status == "scheduled" and (
            old_starts != rec.starts_at or old_doctor != rec.doctor_id
        ):
            payload["previous_starts_at"] = old_starts.isoformat()
            payload["previous_doctor_mis_id"] = old_doctor
            self.event(
                f"appointment.moved:{rec.mis_id}:{rec.starts_at.isoformat()}:{rec.doctor_id}",
                "appointment.moved",
                rec.mis_id,
                payload,
            )

    def _status_event(self, rec: AppointmentRecord, payload: dict[str, Any], digest: str) -> None:
        kinds = {
            "arrived": "appointment.arrived",
            "completed": "appointment.completed",
            "cancelled": "appointment.cancelled",
            "no_show": "appointment.no_show",
        }
        kind = kinds.get(rec.status)
        if kind:
            self.event(f"{kind}:{rec.mis_id}:{digest[:16]}", kind, rec.mis_id, payload)

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
        payload = {
            "patient_mis_id": rec.patient_id,
            "amount": str(rec.amount),
            "method": rec.method,
            "paid_at": rec.paid_at.isoformat(),
            "appointment_mis_id": rec.appointment_id,
        }
        if is_new and rec.amount > 0:
            self.event(f"payment.received:{rec.mis_id}", "payment.received", rec.mis_id, payload)
        if reversed_now and not was_reversed:
            self.event(f"payment.reversed:{rec.mis_id}", "payment.reversed", rec.mis_id, payload)

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
        self.fact(
            f"payment.reversed:{rec.payment_id}:refund:{rec.mis_id}",
            "payment.reversed",
            rec.payment_id,
            {
                "patient_mis_id": row["patient_mis_id"],
                "amount": str(row["amount"]),
                "refund_id": rec.mis_id,
                "refund_amount": str(refunded if not whole else abs(row["amount"])),
            },
        )

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
        self.event(
            f"payment.reversed:{payment_mis_id}",
            "payment.reversed",
            payment_mis_id,
            {
                "patient_mis_id": row["patient_mis_id"],
                "amount": str(row["amount"]),
                "refund_id": refund_id,
            },
        )

    def deletion(self, rec: DeletionRecord) -> None:
        self.report.changed[self.entity] += 1
        if rec.entity == "appointment":
            self._delete_appointment(rec.mis_id)
        elif rec.entity == "payment":
            self._reverse_payment(rec.mis_id, refund_id="deleted")
        elif rec.entity == "patient" and self._row("patient", rec.mis_id) is not None:
            self._put("patient", rec.mis_id, {"status": "deleted", "content_hash": ""})

    def _delete_appointment(self, mis_id: str) -> None:
        row = self._row("appointment", mis_id)
        if row is None or row["deleted"]:
            return
        self._put("appointment", mis_id, {"deleted": True, "content_hash": ""})
        if row["status"] == "cancelled":
            return  # the patient was told when it was cancelled
        self.event(
            f"appointment.deleted:{mis_id}:{row['starts_at'].isoformat()}",
            "appointment.cancelled",
            mis_id,
            {
                "patient_mis_id": row["patient_mis_id"],
                "starts_at": row["starts_at"].isoformat(),
                "status": row["status"],
                "deleted": True,
            },
        )

    # -- window reads ---------------------------------------------------------------------

    def sweep(self, sweep: Sweep, seen: set[str]) -> None:
        """Mirror rows in a completely re-read window that the MIS no longer has."""
        model: Any = _MODELS[sweep.record]
        column = getattr(model, sweep.field)
        gone_flag = model.deleted if sweep.record == "appointment" else model.reversed
        in_window = set(
            self.s.scalars(
                select(model.mis_id).where(
                    column >= sweep.since + SWEEP_MARGIN, gone_flag.is_(False)
                )
            )
        )
        missing = sorted(in_window - seen)
        if not missing:
            return
        if len(missing) > SWEEP_GUARD_MIN and len(missing) > sweep.max_fraction * len(in_window):
            problem = (
                f"{self.entity}: the MIS no longer returns {len(missing)} of {len(in_window)} "
                f"{sweep.record} rows since {sweep.since:%Y-%m-%d}; not treating them as deleted "
                "(check the query and mis.profile_overrides)"
            )
            log.error(problem)
            self.report.problems.append(problem)
            return
        self.load({sweep.record: set(missing)})
        for mis_id in missing:
            self.deletion(DeletionRecord(entity=sweep.record, mis_id=mis_id))


def _wanted(records: list[Any]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {k: set() for k in _MODELS}
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


class SyncEngine:
    def __init__(
        self,
        connector: Connector,
        factory: sessionmaker[Session],
        *,
        batch_size: int = 1000,
        clock: Callable[[], datetime] = utcnow,
        no_show_grace: timedelta = timedelta(minutes=60),
    ) -> None:
        self.connector = connector
        self.factory = factory
        self.batch_size = batch_size
        self.clock = clock
        self.no_show_grace = no_show_grace
        # Read the next batch while applying one (see _sync_entity).
        self.prefetch = True
        # The no-show sweep's previous run, and its stored checkpoint (_sweep_no_shows).
        self._no_show_since: datetime | None = None
        self._no_show_saved: datetime | None = None

    def plan(self) -> list[tuple[str, str]]:
        """(entity, record type) in sync order: doctors and patients before the visits and
        payments that name them; a profile's own order within a record type."""
        record_of: Callable[[str], str] = getattr(
            self.connector, "record_type", lambda entity: entity
        )
        pairs = [(name, record_of(name)) for name in self.connector.entities()]
        order = {record: i for i, record in enumerate(ENTITIES)}
        return sorted((p for p in pairs if p[1] in order), key=lambda p: order[p[1]])

    def run_once(self) -> SyncReport:
        """Read every entity until caught up. Raises ConnectorError when the MIS fails."""
        report = SyncReport()
        plan = self.plan()
        with self.factory() as session:
            table = _table(SyncCursor)
            cursors = {
                entity: (value, baseline_done)
                for entity, value, baseline_done in session.execute(
                    select(table.c.entity, table.c.value, table.c.baseline_done)
                )
            }
        done = {entity: cursors.get(entity, ("", False))[1] for entity, _ in plan}
        for entity, record in plan:
            emit = all(done[e] for e, r in plan if r == record)
            value = cursors.get(entity, ("", False))[0] or None
            self._sync_entity(entity, value, report, emit_events=emit, baseline=not done[entity])
            done[entity] = True
        appointments = [e for e, r in plan if r == "appointment"]
        self._sweep_no_shows(
            report,
            emit_events=bool(appointments)
            and all(cursors.get(e, ("", False))[1] for e in appointments),
        )
        return report

    def _sync_entity(
        self,
        entity: str,
        cursor: str | None,
        report: SyncReport,
        *,
        emit_events: bool,
        baseline: bool,
    ) -> None:
        # An initial import reads in bigger batches: fewer, larger local transactions.
        size = max(self.batch_size, IMPORT_BATCH_SIZE) if baseline else self.batch_size

        def read(after: str | None, resume: bool) -> tuple[Batch, datetime]:
            now = self.clock()
            return (
                self.connector.read_changes(entity, after, size, resume=resume, now=now),
                now,
            )

        seen: set[str] = set()
        bulk = self._bulk_import(entity) if baseline else None
        batch, now = read(cursor, False)
        # A read that takes several batches (an initial import) reads the next batch in a
        # second thread while this one is applied: the MIS driver and SQLite work outside
        # the GIL, so on two cores the import takes the longer of the two, not the sum.
        # A poll with nothing more to read never starts the thread.
        with contextlib.ExitStack() as stack:
            pending: Future[tuple[Batch, datetime]] | None = None
            while True:
                finished = not batch.more
                if not finished and self.prefetch:
                    if pending is None:
                        pool = stack.enter_context(ThreadPoolExecutor(1, "mis-prefetch"))
                    pending = pool.submit(read, batch.cursor, True)
                report.read[entity] += len(batch.records)
                seen |= batch.seen
                changed_cursor = batch.cursor is not None and batch.cursor != cursor
                if (
                    batch.records
                    or changed_cursor
                    or (finished and baseline)
                    or (finished and batch.sweep is not None)
                ):
                    # Only a batch with something in it costs a local write transaction: a
                    # poll with no change stays a handful of reads.
                    self._apply(entity, batch, now, report, seen, emit_events, finished, bulk)
                if batch.cursor is not None:
                    cursor = batch.cursor
                if finished:
                    return
                batch, now = pending.result() if pending else read(batch.cursor, True)

    def _bulk_import(self, entity: str) -> _BulkImport | None:
        """A bulk writer for an initial import into an empty SQLite mirror table, or None."""
        record_of: Callable[[str], str] = getattr(
            self.connector, "record_type", lambda entity: entity
        )
        kind = record_of(entity)
        if kind not in _MODELS:
            return None
        with self.factory() as session:
            if session.get_bind().dialect.name != "sqlite":
                return None
            table = _table(_MODELS[kind])
            if session.execute(select(table.c.id).limit(1)).first() is not None:
                return None
        return _BulkImport(kind)

    def _apply(
        self,
        entity: str,
        batch: Batch,
        now: datetime,
        report: SyncReport,
        seen: set[str],
        emit_events: bool,
        finished: bool,
        bulk: _BulkImport | None = None,
    ) -> None:
        with transaction(self.factory) as session:
            if len(batch.records) >= IMPORT_BATCH and session.get_bind().dialect.name == "sqlite":
                # An import's inserts land all over the mirror's indexes: with SQLite's
                # default 2 MB page cache, it re-reads the same pages batch after batch.
                session.execute(text(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))
            if bulk is not None and not emit_events and batch.sweep is None and bulk.takes(batch):
                bulk.write(session, batch, now)
                report.changed[entity] += len(batch.records)
                _save_cursor(session, entity, batch.cursor, now, baseline_done=finished)
                return
            applier = _Applier(session, report, entity, emit_events=emit_events, now=now)
            applier.apply(batch.records, batch.hashes)
            if finished and batch.sweep is not None:
                applier.sweep(batch.sweep, seen)
            applier.flush()
            _save_cursor(session, entity, batch.cursor, now, baseline_done=finished)

    def _sweep_no_shows(self, report: SyncReport, *, emit_events: bool) -> None:
        """Scheduled visits that ended more than the grace ago with no arrival: no-shows.

        Only visits whose end (plus the grace) passed since the previous sweep count, so
        the initial import's stale history and a visit typed in after the fact stay quiet,
        while an outage's missed no-shows still come out once the MIS is back.

        The previous sweep's time is kept in memory; the stored copy is a checkpoint,
        written with the sweep's events, and otherwise at most every NO_SHOW_CHECKPOINT, so
        a poll with nothing due writes nothing. After a restart the sweep starts from the
        checkpoint: it looks back over those few minutes again, like after an outage that
        long; a visit already marked (status no_show) or an event already stored (its key)
        is not produced again.
        """
        now = self.clock()
        since = self._no_show_since
        if since is None:
            with self.factory() as session:
                since = _parse_time(
                    session.scalar(
                        select(SyncCursor.value).where(SyncCursor.entity == NO_SHOW_CURSOR)
                    )
                )
            self._no_show_saved = since
        sweep = since is not None and emit_events and since < now
        low, high = (since or now) - self.no_show_grace, now - self.no_show_grace
        if sweep:
            with self.factory() as session:  # a read: most polls find nothing due
                sweep = bool(session.execute(self._due_no_shows(low, high).limit(1)).first())
        saved = self._no_show_saved
        if sweep or saved is None or not emit_events or now - saved >= NO_SHOW_CHECKPOINT:
            self._save_no_show_sweep(report, now, (low, high) if sweep else None)
        self._no_show_since = now

    def _due_no_shows(self, low: datetime, high: datetime) -> Any:
        table = _table(Appointment)
        return select(
            table.c.id,
            table.c.mis_id,
            table.c.patient_mis_id,
            table.c.doctor_mis_id,
            table.c.starts_at,
        ).where(
            table.c.status == "scheduled",
            table.c.deleted.is_(False),
            table.c.ends_at > low,
            table.c.ends_at <= high,
            # Bounds on the start too, so the index on starts_at serves the query
            # (no visit lasts a day).
            table.c.starts_at > low - timedelta(days=1),
            table.c.starts_at <= high,
        )

    def _save_no_show_sweep(
        self, report: SyncReport, now: datetime, due_between: tuple[datetime, datetime] | None
    ) -> None:
        """Store the sweep's time and, if given a range, mark what is due in it and record
        the events, all in one transaction."""
        with transaction(self.factory) as session:
            _save_cursor(session, NO_SHOW_CURSOR, now.isoformat(), now, baseline_done=True)
            if due_between is not None:
                self._mark_no_shows(session, report, now, due_between)
        self._no_show_saved = now

    def _mark_no_shows(
        self,
        session: Session,
        report: SyncReport,
        now: datetime,
        due_between: tuple[datetime, datetime],
    ) -> None:
        table = _table(Appointment)
        due = session.execute(self._due_no_shows(*due_between)).all()
        if due:
            session.execute(
                update(table)
                .where(table.c.id.in_([appt.id for appt in due]))
                .values(status="no_show")
            )
            applier = _Applier(session, report, "appointment", emit_events=True, now=now)
            for appt in due:
                applier.event(
                    f"appointment.no_show:{appt.mis_id}:{appt.starts_at.isoformat()}",
                    "appointment.no_show",
                    appt.mis_id,
                    {
                        "patient_mis_id": appt.patient_mis_id,
                        "doctor_mis_id": appt.doctor_mis_id,
                        "starts_at": appt.starts_at.isoformat(),
                        "status": "no_show",
                    },
                )
            applier.flush()


def _parse_time(stored: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stored) if stored else None
    except ValueError:
        return None


def _save_cursor(
    session: Session, entity: str, value: str | None, now: datetime, *, baseline_done: bool
) -> None:
    """Store an entity's cursor (Core statements: no ORM flush of the batch's rows)."""
    table = _table(SyncCursor)
    values: dict[str, Any] = {"updated_at": now}
    if value is not None:
        values["value"] = value
    if baseline_done:
        values["baseline_done"] = True
    result = session.execute(update(table).where(table.c.entity == entity).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        session.execute(
            insert(table).values(
                entity=entity, value=value or "", baseline_done=baseline_done, updated_at=now
            )
        )
