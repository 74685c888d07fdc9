"""The demo clinic's wall clock: naive local time in the clinic's zone, as IDENT keeps it.

Read from core.clock, never from the machine's own zone (servers often run in UTC, so
between 21:00 and 24:00 UTC the machine's "tomorrow" is Moscow's "today").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.clock import utcnow

DEMO_TIMEZONE = "Europe/Moscow"


def clinic_now(zone: str = DEMO_TIMEZONE) -> datetime:
    """The clinic's current local time, naive, to the second."""
    return utcnow().astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)
