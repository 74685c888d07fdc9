"""The process the crash test kills: one sync of the MIS and the rules over what it read.

Imported by the forkserver before any worker is forked (set_forkserver_preload), so a
worker starts in milliseconds instead of the second and a half the imports take; the
profile's SQL is transpiled here once for the same reason.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

from connectors.profiles import load_profile
from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import from_mapping
from core.db import make_engine, session_factory
from core.rules import Rules
from core.visits.no_show_sweep import NoShowSweep

BATCH = 7  # small batches: many transactions, many places to be killed in

for _entity in load_profile("demo").entities:
    load_profile("demo").sql_for(_entity, BATCH, "sqlite")


def run_once(raw_config: dict[str, Any], ready: Connection | None = None) -> None:
    """Sync until caught up and sweep for no-shows, then handle every pending event."""
    config = from_mapping(raw_config, source="(crash test)", environ={})
    engine = make_engine(config.storage.url)
    factory = session_factory(engine)
    connector = open_connector(config)
    if ready is not None:
        ready.send("ready")
    try:
        report = SyncEngine(connector, factory, batch_size=BATCH).run_once()
        NoShowSweep(factory).run(live="appointment" in report.live)  # as the sync job does
        rules = Rules(config)
        while rules.process_pending(factory, limit=50):
            pass
    finally:
        connector.close()
        engine.dispose()
