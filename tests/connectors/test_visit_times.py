"""A visit's two ends, read the same way in the MIS zone, on the nights clocks change.

Open Dental gives a start (the clinic's wall clock) and a length; the end is the start plus
the length in real time. A start the clock skips is read one gap later (fold=0: the old
offset), a start the clock repeats is its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import AppointmentRecord
from connectors.mapping import RowMapper, parse_datetime
from connectors.profiles import EntityQuery, load_profile

BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def _visit(tz: ZoneInfo, start: object, minutes: object) -> AppointmentRecord:
    mapper = RowMapper("appointment", EntityQuery(sql="", record="appointment"), tz, "US")
    record = mapper(
        {
            "mis_id": 7,
            "deleted": 0,
            "patient_id": 1,
            "doctor_id": 2,
            "branch_id": 0,
            "starts_at": start,
            "duration_minutes": minutes,
            "status": "scheduled",
            "services": None,
        }
    )
    assert isinstance(record, AppointmentRecord)
    return record


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CASES = [
    # zone, wall-clock start, minutes, start and end in UTC
    pytest.param(
        BERLIN, datetime(2026, 3, 29, 2, 30), 30, _utc(2026, 3, 29, 1, 30), _utc(2026, 3, 29, 2),
        id="Berlin, 02:30 on the night clocks go forward: 03:30 CEST",
    ),
    pytest.param(
        BERLIN, datetime(2026, 3, 29, 1, 30), 60, _utc(2026, 3, 29, 0, 30),
        _utc(2026, 3, 29, 1, 30), id="Berlin, an hour across the gap ends 03:30 CEST",
    ),
    pytest.param(
        BERLIN, datetime(2026, 10, 25, 2, 30), 30, _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 25, 1), id="Berlin, 02:30 in the repeated hour: the first (CEST)",
    ),
    pytest.param(
        BERLIN, datetime(2026, 10, 25, 1, 45), 90, _utc(2026, 10, 24, 23, 45),
        _utc(2026, 10, 25, 1, 15), id="Berlin, 90 minutes across the change: 02:15 CET",
    ),
    pytest.param(
        LOS_ANGELES, datetime(2026, 3, 8, 2, 30), 30, _utc(2026, 3, 8, 10, 30),
        _utc(2026, 3, 8, 11), id="Los Angeles, 02:30 on the spring night: 03:30 PDT",
    ),
    pytest.param(
        LOS_ANGELES, datetime(2026, 11, 1, 1, 30), 30, _utc(2026, 11, 1, 8, 30),
        _utc(2026, 11, 1, 9), id="Los Angeles, 01:30 in the repeated hour: the first (PDT)",
    ),
    pytest.param(
        LOS_ANGELES, "2026-07-01 09:00:00", 45, _utc(2026, 7, 1, 16), _utc(2026, 7, 1, 16, 45),
        id="Los Angeles, an ordinary summer morning, as text",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("tz", "start", "minutes", "starts_utc", "ends_utc"), CASES)
def test_a_visit_lasts_its_length_whatever_the_clock_does(
    tz: ZoneInfo, start: object, minutes: int, starts_utc: datetime, ends_utc: datetime
) -> None:
    visit = _visit(tz, start, minutes)
    assert (visit.starts_at, visit.ends_at) == (starts_utc, ends_utc)
    # In UTC: Python subtracts two datetimes of the same zone on the wall clock.
    length = visit.ends_at.astimezone(UTC) - visit.starts_at.astimezone(UTC)
    assert length == timedelta(minutes=minutes)
    # Both ends read as the MIS zone's clock shows them at that instant, at a fixed offset:
    # equal to the same instant in any zone (a ZoneInfo time of a repeated hour is not).
    for end in (visit.starts_at, visit.ends_at):
        assert end.utcoffset() == end.astimezone(tz).utcoffset()
        assert end.replace(tzinfo=None) == end.astimezone(tz).replace(tzinfo=None)
        assert end == end.astimezone(UTC) and end.astimezone(UTC) == end


def test_a_skipped_wall_time_reads_as_the_time_the_clock_showed() -> None:
    read = parse_datetime(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert read is not None and (read.hour, read.minute, read.utcoffset()) == (
        3,
        30,
        timedelta(hours=2),
    )
    repeated = parse_datetime("2026-10-25 02:30:00", BERLIN)
    assert repeated is not None and repeated.utcoffset() == timedelta(hours=2)


def test_an_empty_pattern_is_a_visit_of_no_length_and_garbage_is_refused() -> None:
    visit = _visit(BERLIN, datetime(2026, 5, 4, 9, 0), 0)
    assert visit.ends_at == visit.starts_at
    for bad in (-5, "half an hour", 7.5):
        with pytest.raises(ValueError, match="is not a whole number of minutes"):
            _visit(BERLIN, datetime(2026, 5, 4, 9, 0), bad)


def test_the_open_dental_queries_give_the_length_not_a_wall_clock_end() -> None:
    profile = load_profile("opendental")
    for entity in ("appointment", "appointment_history"):
        sql = profile.entities[entity].sql
        assert "AS duration_minutes" in sql and "AS ends_at" not in sql, entity
