"""Incremental sync: MIS -> local mirror tables -> domain events (core/events.py).

Each profile query ("entity") has a persisted cursor (cursors.py). One batch is applied in
one local transaction together with its new cursor and the events it produced, so a crash
either keeps all of a batch or none of it, and the next run re-reads exactly what was not
kept. Events carry a unique key (news.py), so re-reading rows never produces an event
twice.

The first read of an entity (no cursor yet) is the initial import: it fills the mirror but
produces no events, because a clinic's history is not news — nobody should get bonus
points for a payment from last year or a "you are booked" for a visit booked in spring.
Events of a record type start once every query of that type has read everything once.

  engine.py    SyncEngine: the order of the entities, batches, prefetch, transactions
  applier.py   one batch into the mirror, in bulk; the events its changes are (news.py)
  importer.py  an initial import into an empty mirror table, written as it comes
  window.py    a window re-read's end: rows the MIS no longer has were deleted there
  bulk.py      the bulk statements (SQLite straight through the driver)
  mirror.py    the mirror tables, the columns the sync owns, content digests
  cursors.py   the stored cursors

What happens when nothing changes in the MIS — a visit's end passing with nobody arriving
— is the domain's, not the sync's: core/visits/no_show_sweep.py, run after each sync.
"""

from connectors.sync.engine import SyncEngine
from connectors.sync.mirror import SYNC_COLUMNS, content_hash
from connectors.sync.report import SyncReport

__all__ = ["SYNC_COLUMNS", "SyncEngine", "SyncReport", "content_hash"]
