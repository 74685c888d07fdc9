"""Handling one stored inbound update, whichever messenger it came from.

Both pollers (Telegram's and MAX's) first store what they fetch with its offset or marker,
then hand each stored row to the conversation flows here: one transaction per update,
holding the handler's writes and the update's "processed" mark, so a crash in between
handles it again rather than never, and a restart never handles it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot_handlers.context import AFTER_COMMIT, AMBIENT_SESSION
from core.clock import Clock
from core.db import transaction


def handle_stored_update(
    factory: sessionmaker[Session],
    model: type[Any],
    update_id: int,
    handle: Callable[[Session, Any], None],
    clock: Clock,
    log: logging.Logger,
) -> bool:
    """Run ``handle(session, row)`` for the stored update `update_id` if it is not handled
    yet, then the calls the handler left for after the commit. False: nothing to do."""
    after: list[Callable[[], None]] = []
    session = factory()
    try:
        row = session.get(model, update_id)
        if row is None or row.processed_at is not None:
            return False
        session_token = AMBIENT_SESSION.set(session)
        after_token = AFTER_COMMIT.set(after)
        try:
            handle(session, row)
        finally:
            AMBIENT_SESSION.reset(session_token)
            AFTER_COMMIT.reset(after_token)
        row.processed_at = clock()
        session.commit()
    except Exception as exc:
        # A handler bug must not wedge the queue: keep the update with its error and move
        # on (what the handler wrote is rolled back with it).
        session.rollback()
        log.exception("handling update %s (%s) failed", update_id, model.__tablename__)
        with transaction(factory) as s:
            failed = s.get(model, update_id)
            if failed is not None:
                failed.processed_at = clock()
                failed.error = repr(exc)[:2000]
    finally:
        session.close()
    for call in after:
        call()
    return True
