"""The appliance's one clock.

Everything that needs "now" — the outbox, the dispatcher, the sync and its windows, the
jobs, the rules, the panel — reads it here (or takes a ``clock`` argument whose default is
``utcnow``), never ``datetime.now()`` or ``time.time()`` of its own. Two reasons:

* The clinic's day is not the server's day. Every instant is an aware UTC datetime; a local
  date or hour is derived from it with the clinic's zone (``local_now``), never from the
  machine's ``TZ``.
* Tests freeze time with one library, time-machine, which replaces the interpreter's clock
  underneath this function: a frozen instant is then seen by every component at once, and
  no test carries a hand-made clock that the code it calls might not use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

Clock = Callable[[], datetime]
"""A source of aware UTC instants; ``utcnow`` unless a caller injects another."""


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def local_now(zone: tzinfo, clock: Clock = utcnow) -> datetime:
    """The current instant on the clinic's wall clock (``zone`` is the clinic's zone)."""
    return clock().astimezone(zone)
