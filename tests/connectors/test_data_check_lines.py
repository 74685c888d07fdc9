"""The lines `kabinet mis check` prints on phones and visit times: where "most" begins, and
which hours count as the clinic's (tests/connectors/contract/test_data_check.py runs them
on each engine)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.diagnose import phone_line, time_line

MOSCOW = ZoneInfo("Europe/Moscow")
UTC = ZoneInfo("UTC")


def test_the_phone_line_warns_only_when_most_phones_are_unread() -> None:
    half = phone_line(1256, 628, ["(453) 310-8759"], "US", rows=1000)
    assert half == (
        "✓ phones: 628 of 1,256 phones could not be read as numbers of region US, "
        "e.g. '(453) 310-8759'; they are not stored"
    )
    most = phone_line(1256, 629, ["(453) 310-8759", "12"], "US", rows=5000, capped=True)
    assert most.startswith(
        "⚠ phones: 629 of 1,256 phones (first 5,000 patients) could not be read as numbers "
        "of region US, e.g. '(453) 310-8759', '12' — most of them: is clinic.phone_region right?"
    )
    assert (
        phone_line(3, 0, [], "RU", rows=3) == "✓ phones: all 3 phones read as numbers of region RU"
    )
    assert phone_line(0, 0, [], "RU", rows=7).startswith(
        "⚠ phones: none of the 7 patients read has a phone number"
    )


def test_opening_hours_are_from_seven_to_before_ten_in_the_clinics_zone() -> None:
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2031, 1, 14, hour, minute, tzinfo=MOSCOW)

    inside = [at(7), at(21, 59)]
    assert time_line(inside, MOSCOW, MOSCOW) == (
        "✓ visit times: 2 of 2 visits start within 07:00–22:00 Europe/Moscow time"
    )
    # Half outside is not most; 06:59 and 22:00 are outside.
    assert str(time_line([at(6, 59), at(12)], MOSCOW, MOSCOW)).startswith("✓ visit times: 1 of 2")
    line = str(time_line([at(6, 59), at(22), at(12)], MOSCOW, UTC))
    assert line.startswith("⚠ visit times: 2 of 3 visits start outside 07:00–22:00 Europe/Moscow")
    assert line.endswith("(read as UTC)?")
    # The hours are the clinic's: 05:00 UTC is 08:00 in Moscow.
    early = datetime(2031, 1, 14, 5, 0, tzinfo=UTC)
    assert str(time_line([early], MOSCOW, UTC)).startswith("✓ visit times: 1 of 1")
    assert time_line([], MOSCOW, MOSCOW) is None
