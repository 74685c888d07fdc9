from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import outbox
from core.db import transaction
from core.models import OutboxMessage

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def test_enqueue_is_idempotent_by_key(factory) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        with transaction(factory) as s:
            outbox.enqueue(
                s, key="reminder:1:2026-11-26T07:00", chat_id=5, text="hi", kind="reminder"
            )
    with factory() as s:
        assert s.scalar(select(func.count(OutboxMessage.id))) == 1


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        outbox.inline_keyboard([[("x", "д" * 40)]])


@pytest.mark.parametrize("zone", ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Almaty"])
def test_quiet_hours_in_the_clinic_zone(zone: str) -> None:
    tz = ZoneInfo(zone)
    quiet = outbox.QuietHours(time(21, 0), time(9, 0), tz)
    late = datetime(2026, 11, 25, 22, 30, tzinfo=tz)
    assert quiet.next_allowed(late) == datetime(2026, 11, 26, 9, 0, tzinfo=tz)
    early = datetime(2026, 11, 25, 7, 0, tzinfo=tz)
    assert quiet.next_allowed(early) == datetime(2026, 11, 25, 9, 0, tzinfo=tz)
    assert quiet.next_allowed(datetime(2026, 11, 25, 12, 0, tzinfo=tz)) is None
    # 17:30 UTC is 20:30 in Moscow (allowed) but 22:30 in Yekaterinburg and Almaty (quiet).
    resume = quiet.next_allowed(datetime(2026, 11, 25, 17, 30, tzinfo=UTC))
    if zone == "Europe/Moscow":
        assert resume is None
    else:
        assert resume == datetime(2026, 11, 26, 9, 0, tzinfo=tz)


def test_daytime_quiet_window() -> None:
    tz = ZoneInfo("Europe/Moscow")
    quiet = outbox.QuietHours(time(13, 0), time(14, 0), tz)
    assert quiet.next_allowed(datetime(2026, 11, 25, 13, 30, tzinfo=tz)) == datetime(
        2026, 11, 25, 14, 0, tzinfo=tz
    )
    assert quiet.next_allowed(datetime(2026, 11, 25, 14, 0, tzinfo=tz)) is None
