"""When the clinic answers the chat: conversations.working_hours_* on working_days."""

from __future__ import annotations

from datetime import datetime, timedelta

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
