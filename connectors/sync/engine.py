"""The sync engine: reads every entity of the profile until caught up, batch by batch."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import ENTITIES, Batch, Connector
from connectors.sync.applier import Applier
from connectors.sync.cursors import load_cursors, save_cursor
from connectors.sync.importer import BulkImport
from connectors.sync.mirror import MODELS, table_of
from connectors.sync.report import SyncReport
from connectors.sync.window import sweep_window
from core.clock import Clock, utcnow
from core.db import transaction

# A batch this big is an import (or a large catch-up): give SQLite a bigger page cache.
IMPORT_BATCH = 1000
IMPORT_BATCH_SIZE = 20000
IMPORT_CACHE_KIB = 65536


class SyncEngine:
    def __init__(
        self,
        connector: Connector,
        factory: sessionmaker[Session],
        *,
        batch_size: int = 1000,
        clock: Clock = utcnow,
    ) -> None:
        self.connector = connector
        self.factory = factory
        self.batch_size = batch_size
        # "Now" for everything the sync decides by time — a window read's start and when
        # it is due again, the mirror's and the events' stamps — is this clock's, passed
        # to the connector with every read: never the MIS server's clock, never the
        # machine's own.
        self.clock = clock
        # Read the next batch while applying one (see _sync_entity).
        self.prefetch = True

    def _record_of(self, entity: str) -> str:
        record_of: Callable[[str], str] = getattr(
            self.connector, "record_type", lambda entity: entity
        )
        return record_of(entity)

    def plan(self) -> list[tuple[str, str]]:
        """(entity, record type) in sync order: doctors and patients before the visits and
        payments that name them; a profile's own order within a record type."""
        pairs = [(name, self._record_of(name)) for name in self.connector.entities()]
        order = {record: i for i, record in enumerate(ENTITIES)}
        return sorted((p for p in pairs if p[1] in order), key=lambda p: order[p[1]])

    def run_once(self) -> SyncReport:
        """Read every entity until caught up. Raises ConnectorError when the MIS fails."""
        report = SyncReport()
        plan = self.plan()
        cursors = load_cursors(self.factory)
        done = {entity: cursors.get(entity, ("", False))[1] for entity, _ in plan}
        report.live = {record for _, record in plan if all(done[e] for e, r in plan if r == record)}
        for entity, record in plan:
            emit = all(done[e] for e, r in plan if r == record)
            value = cursors.get(entity, ("", False))[0] or None
            self._sync_entity(entity, value, report, emit_events=emit, baseline=not done[entity])
            done[entity] = True
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

    def _bulk_import(self, entity: str) -> BulkImport | None:
        """A bulk writer for an initial import into an empty SQLite mirror table, or None."""
        kind = self._record_of(entity)
        if kind not in MODELS:
            return None
        with self.factory() as session:
            if session.get_bind().dialect.name != "sqlite":
                return None
            table = table_of(MODELS[kind])
            if session.execute(select(table.c.id).limit(1)).first() is not None:
                return None
        return BulkImport(kind)

    def _apply(
        self,
        entity: str,
        batch: Batch,
        now: datetime,
        report: SyncReport,
        seen: set[str],
        emit_events: bool,
        finished: bool,
        bulk: BulkImport | None = None,
    ) -> None:
        with transaction(self.factory) as session:
            if len(batch.records) >= IMPORT_BATCH and session.get_bind().dialect.name == "sqlite":
                # An import's inserts land all over the mirror's indexes: with SQLite's
                # default 2 MB page cache, it re-reads the same pages batch after batch.
                session.execute(text(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))
            if bulk is not None and not emit_events and batch.sweep is None and bulk.takes(batch):
                bulk.write(session, batch, now)
                report.changed[entity] += len(batch.records)
                save_cursor(session, entity, batch.cursor, now, baseline_done=finished)
                return
            applier = Applier(session, report, entity, emit_events=emit_events, now=now)
            applier.apply(batch.records, batch.hashes)
            if finished and batch.sweep is not None:
                sweep_window(applier, batch.sweep, seen)
            applier.flush()
            save_cursor(session, entity, batch.cursor, now, baseline_done=finished)
