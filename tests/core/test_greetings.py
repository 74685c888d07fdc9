"""Birthdays and holidays in the clinic's time zone, once each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from core import campaigns
from core.clock import utcnow
from core.db import transaction
from core.greetings import birthdays_on, plan_birthdays, plan_holidays
from core.models import Campaign, OutboxMessage
from core.outbox import enqueue
from tests.conftest import make_config
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

ZONES = ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Almaty"]


def _texts(factory) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {m.chat_id: m.text for m in s.scalars(select(OutboxMessage))}


@pytest.mark.parametrize("zone", ZONES)
def test_birthdays_follow_the_clinic_date_and_hour(tmp_path: Path, factory, zone: str) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path, clinic={"timezone": zone}, messaging={"birthday_send_at": "10:00"}
    )
    tz = ZoneInfo(zone)
    with transaction(factory) as s:
        march_8 = chat_for(s, patient(s, "1", first="Вера", middle="", birth=date(1990, 3, 8)))
        march_7 = chat_for(s, patient(s, "2", birth=date(1990, 3, 7)))
        chat_for(s, patient(s, "3", birth=date(1990, 3, 8), allowed=False))
        chat_for(s, patient(s, "4", birth=date(1990, 3, 8)), opted_out=utcnow())

    def at(local: datetime) -> int:
        with time_machine.travel(local, tick=False):
            return plan_birthdays(factory, config)

    # 05:30 UTC on 8 March is 08:30 in Moscow, 10:30 in Yekaterinburg and Almaty.
    moment = datetime(2027, 3, 8, 5, 30, tzinfo=UTC)
    expected_now = 1 if moment.astimezone(tz).hour >= 10 else 0
    assert at(moment) == expected_now
    # Later that day it goes in every zone, once; the next run finds nothing new.
    assert at(datetime(2027, 3, 8, 11, 0, tzinfo=tz)) == 1 - expected_now
    assert at(datetime(2027, 3, 8, 18, 0, tzinfo=tz)) == 0
    texts = _texts(factory)
    assert list(texts) == [march_8.chat_id]
    assert texts[march_8.chat_id].startswith("Вера, с днём рождения!")
    assert march_7.chat_id not in texts
    # A year later: greeted again.
    assert at(datetime(2028, 3, 8, 12, 0, tzinfo=tz)) == 1


@pytest.mark.parametrize("zone", ZONES)
def test_whose_birthday_it_is_depends_on_the_clinics_date(
    tmp_path: Path, factory, zone: str
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path, clinic={"timezone": zone}, messaging={"birthday_send_at": "00:00"}
    )
    with transaction(factory) as s:
        eighth = chat_for(s, patient(s, "8", birth=date(1990, 3, 8)))
        ninth = chat_for(s, patient(s, "9", birth=date(1990, 3, 9)))
    moment = datetime(2027, 3, 8, 20, 30, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        plan_birthdays(factory, config)
    local_day = moment.astimezone(ZoneInfo(zone)).day
    expected = eighth if local_day == 8 else ninth
    assert list(_texts(factory)) == [expected.chat_id]
    # 20:30 UTC is 23:30 on the 8th in Moscow, but already the 9th further east.
    assert local_day == (8 if zone == "Europe/Moscow" else 9)


def test_no_second_greeting_after_the_loyalty_birthday_bonus_notice(
    tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, messaging={"birthday_send_at": "10:00"})
    with transaction(factory) as s:
        bonus = chat_for(s, patient(s, "1", birth=date(1990, 3, 8)))
        plain = chat_for(s, patient(s, "2", birth=date(1990, 3, 8)))
        # What core.loyalty.nightly queued at night for patient 1.
        enqueue(
            s,
            key=f"birthday:1:2027:{bonus.id}",
            chat_id=bonus.chat_id,
            text="Дарим 300 бонусов",
            kind="bonus",
        )
    with time_machine.travel(datetime(2027, 3, 8, 9, 0, tzinfo=UTC), tick=False):
        assert plan_birthdays(factory, config) == 1
    with factory() as s:
        greetings = [
            m.chat_id
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "birthday"))
        ]
    assert greetings == [plain.chat_id]


def test_29_february_is_celebrated_on_the_28th_in_common_years() -> None:
    assert birthdays_on(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert birthdays_on(date(2028, 2, 28)) == [(2, 28)]
    assert birthdays_on(date(2028, 2, 29)) == [(2, 29)]


@pytest.mark.parametrize("zone", ZONES)
def test_a_holiday_becomes_one_campaign_on_the_clinic_date(
    tmp_path: Path, factory, zone: str
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path,
        clinic={"timezone": zone},
        messaging={
            "holiday_send_at": "09:00",
            "holidays": [
                {"date": "03-08", "text": "{name}, с 8 Марта!"},
                {"date": "2027-06-12", "text": "С Днём России!"},
            ],
        },
    )
    tz = ZoneInfo(zone)
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "1", first="Ольга", middle="Ивановна"))
        chat_for(s, patient(s, "2"), opted_out=utcnow())

    def at(local: datetime) -> int:
        with time_machine.travel(local, tick=False):
            return plan_holidays(factory, config)

    assert at(datetime(2027, 3, 7, 23, 30, tzinfo=tz)) == 0
    assert at(datetime(2027, 3, 8, 8, 59, tzinfo=tz)) == 0
    assert at(datetime(2027, 3, 8, 9, 0, tzinfo=tz)) == 1
    assert at(datetime(2027, 3, 8, 15, 0, tzinfo=tz)) == 0  # one campaign per holiday
    assert at(datetime(2027, 6, 12, 9, 30, tzinfo=tz)) == 1
    assert at(datetime(2028, 6, 12, 9, 30, tzinfo=tz)) == 0  # that one was for 2027 only
    with time_machine.travel(datetime(2028, 7, 1, tzinfo=UTC), tick=False):
        campaigns.advance(factory, config)
    with factory() as s:
        kinds = sorted(c.kind for c in s.scalars(select(Campaign)))
        texts = sorted(m.text for m in s.scalars(select(OutboxMessage)))
    assert kinds == ["holiday", "holiday"]
    assert texts == ["Ольга Ивановна, с 8 Марта!", "С Днём России!"]
    assert {m for m in _texts(factory)} == {sub.chat_id}
