"""The durable inbox of Telegram updates.

Long polling (the runner) and the webhook route (any web worker) only store raw updates
here; the runner alone handles them, one at a time in update_id order, so handlers never
run concurrently whatever the number of web workers. The update_id primary key drops a
redelivered update; see jobs/poller.py for how handling is made exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import KeyValue, TelegramUpdate

OFFSET_KEY = "telegram.update_offset"


def store_updates(session: Session, payloads: Iterable[dict[str, Any]], source: str) -> int:
    """Add updates not seen before; returns how many were new. Flushes, does not commit."""
    fresh = {int(p["update_id"]): p for p in payloads}
    if not fresh:
        return 0
    known = set(
        session.scalars(
            select(TelegramUpdate.update_id).where(TelegramUpdate.update_id.in_(list(fresh)))
        )
    )
    now = utcnow()
    added = 0
    for update_id in sorted(fresh):
        if update_id in known:
            continue
        session.add(
            TelegramUpdate(
                update_id=update_id, payload=fresh[update_id], source=source, received_at=now
            )
        )
        added += 1
    session.flush()
    return added


def store_one(session: Session, payload: dict[str, Any], source: str) -> bool:
    """For the webhook: True if stored, False if this update_id was already there.

    Two web workers may race on a redelivery; the loser's insert fails on the primary key
    and that is simply a duplicate.
    """
    try:
        added = store_updates(session, [payload], source)
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return added == 1


def load_offset(session: Session) -> int:
    row = session.get(KeyValue, OFFSET_KEY)
    return int(row.value) if row is not None else 0


def save_offset(session: Session, offset: int) -> None:
    row = session.get(KeyValue, OFFSET_KEY)
    if row is None:
        session.add(KeyValue(key=OFFSET_KEY, value=offset))
    elif int(row.value) < offset:
        row.value = offset


def pending_ids(session: Session, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(TelegramUpdate.update_id)
            .where(TelegramUpdate.processed_at.is_(None))
            .order_by(TelegramUpdate.update_id)
            .limit(limit)
        )
    )
