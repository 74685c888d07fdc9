"""Each entity's stored cursor: where its next read starts, and whether its initial import
has read everything (until then its rows are history, not news)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.sync.mirror import table_of
from core.models import SyncCursor


def load_cursors(factory: sessionmaker[Session]) -> dict[str, tuple[str, bool]]:
    """entity -> (cursor value, baseline done), for every entity read before."""
    table = table_of(SyncCursor)
    with factory() as session:
        return {
            entity: (value, baseline_done)
            for entity, value, baseline_done in session.execute(
                select(table.c.entity, table.c.value, table.c.baseline_done)
            )
        }


def save_cursor(
    session: Session, entity: str, value: str | None, now: datetime, *, baseline_done: bool
) -> None:
    """Store an entity's cursor (Core statements: no ORM flush of the batch's rows)."""
    table = table_of(SyncCursor)
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
