"""When the clinic answers the chat: conversations.working_hours_* on working_days."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from core.config import Config
from core.texts import when


def is_open(config: Config, now: datetime) -> bool:
    conv = config.conversations
    local = now.astimezone(config.clinic.tz)
    if local.isoweekday() not in conv.days:
        return False
    if conv.opens == conv.closes:  # the same hour twice: round the clock
        return True
    return conv.opens <= local.time() < conv.closes


def next_opening(config: Config, now: datetime) -> datetime:
    """The next moment the clinic opens after ``now`` (in the clinic's zone)."""
    conv = config.conversations
    tz = config.clinic.tz
    local = now.astimezone(tz)
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        if day.isoweekday() not in conv.days:
            continue
        opening = datetime.combine(day, conv.opens, tzinfo=tz)
        if opening > local:
            return opening
    # No working day at all cannot pass the config check; be safe anyway.
    return local + timedelta(days=1)


def answer_expected(config: Config, now: datetime, lang: str) -> str:
    """«завтра, 10 декабря, в 09:00»: when a patient writing now can expect an answer."""
    tz = config.clinic.tz
    return when(next_opening(config, now), now.astimezone(tz).date(), lang)


def working_seconds(config: Config, start: datetime, end: datetime) -> float:
    """Seconds of working time between ``start`` and ``end``: how long an episode has
    really waited for someone at the desk (the night and days off do not count)."""
    if end <= start:
        return 0.0
    conv = config.conversations
    tz = config.clinic.tz
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    if (last - first).days > 62:  # long past any escalation; spare the loop
        first = last - timedelta(days=62)
    total = 0.0
    day = first
    while day <= last:
        if day.isoweekday() in conv.days:
            if conv.opens == conv.closes:  # round the clock
                opens = datetime.combine(day, time.min, tzinfo=tz)
                closes = opens + timedelta(days=1)
            else:
                opens = datetime.combine(day, conv.opens, tzinfo=tz)
                closes = datetime.combine(day, conv.closes, tzinfo=tz)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total
