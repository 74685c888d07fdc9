"""The end of a window read: mirror rows in the re-read window that the MIS no longer has
were deleted there (a visit -> cancelled, a payment -> reversed)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from connectors.base import DeletionRecord, Sweep
from connectors.sync.applier import Applier
from connectors.sync.mirror import MODELS

log = logging.getLogger(__name__)

# A window read's deletions count only for mirror rows this far inside the window: a visit
# moved from the window's edge to before it between two reads must not look deleted.
SWEEP_MARGIN = timedelta(days=1)
# Fewer missing rows than this are never "too many" for the mass-deletion guard.
SWEEP_GUARD_MIN = 20


def sweep_window(applier: Applier, sweep: Sweep, seen: set[str]) -> None:
    """Mirror rows in a completely re-read window that the read did not return (`seen`:
    every MIS id it did), applied as deletions by `applier` — unless they are too many."""
    model: Any = MODELS[sweep.record]
    column = getattr(model, sweep.field)
    gone_flag = model.deleted if sweep.record == "appointment" else model.reversed
    in_window = set(
        applier.s.scalars(
            select(model.mis_id).where(column >= sweep.since + SWEEP_MARGIN, gone_flag.is_(False))
        )
    )
    missing = sorted(in_window - seen)
    if not missing:
        return
    if len(missing) > SWEEP_GUARD_MIN and len(missing) > sweep.max_fraction * len(in_window):
        problem = (
            f"{applier.entity}: the MIS no longer returns {len(missing)} of {len(in_window)} "
            f"{sweep.record} rows since {sweep.since:%Y-%m-%d}; not treating them as deleted "
            "(check the query and mis.profile_overrides)"
        )
        log.error(problem)
        applier.report.problems.append(problem)
        return
    applier.load({sweep.record: set(missing)})
    for mis_id in missing:
        applier.deletion(DeletionRecord(entity=sweep.record, mis_id=mis_id))
