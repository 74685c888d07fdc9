"""The reports' figures (core/reports), on stores filled through the real models and the
loyalty rules, with the clock under the test's control."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select, update

from core import outbox
from core.clock import utcnow
from core.db import transaction
from core.loyalty import operations
from core.loyalty import reports as loyalty_reports
from core.loyalty.referrals import payload_for
from core.models import (
    Appointment,
    Doctor,
    OutboxMessage,
    StaffUser,
    Subscriber,
    VisitRating,
)
from core.reminders import plan_reminders
from core.reports import confirmations, connections, economics, ratings, referrals, reviews
from core.reports.model import Report, Table
from core.reports.period import Period, PeriodError, parse
from core.visits import reminder_reach
from tests.conftest import make_config
from tests.core.loyalty_world import T0, World
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

MOSCOW = ZoneInfo("Europe/Moscow")
MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path, factory) -> Iterator[MakeWorld]:  # type: ignore[no-untyped-def]
    with ExitStack() as worlds:

        def build(**loyalty: object) -> World:
            config = make_config(tmp_path, loyalty=loyalty)
            return worlds.enter_context(World(factory, config))

        yield build


def table(report: Report, key: str) -> Table:
    return next(t for t in report.tables if t.key == key)


def figure(report: Report, key: str) -> object:
    return next(f.value for f in report.figures if f.key == key)


# --- the period ---------------------------------------------------------------------------


def test_period_is_parsed_in_either_spelling_and_refused_with_a_reason() -> None:
    today = date(2027, 3, 20)
    assert parse("2027-03-01", "20.03.2027", today, MOSCOW) == Period(
        date(2027, 3, 1), date(2027, 3, 20), MOSCOW
    )
    default = parse(None, None, today, MOSCOW)
    assert (default.last, default.days) == (today, 84)
    refusals = {
        ("вчера", ""): "не дата",
        ("2027-02-30", ""): "не дата",
        ("0000-01-01", ""): "не дата",
        ("1999-12-31", ""): "раньше 01.01.2000",
        ("", "2027-03-21"): "позже сегодняшнего",
        ("2027-03-10", "2027-03-01"): "позже его конца",
        ("2024-01-01", "2027-03-20"): "длиннее трёх лет",
        ("9" * 400, ""): "не дата",
        ("", "0001-01-01"): "раньше 01.01.2000",
    }
    for (a, b), reason in refusals.items():
        with pytest.raises(PeriodError, match=reason):
            parse(a or None, b or None, today, MOSCOW)


def test_buckets_are_clinic_days_weeks_from_monday_or_months_by_the_length() -> None:
    days = Period(date(2027, 3, 1), date(2027, 3, 28), MOSCOW)
    buckets = days.buckets()
    assert days.grain == "day" and len(buckets) == 28
    # A clinic day in Moscow begins at 21:00 UTC the day before.
    assert buckets[0].start == datetime(2027, 2, 28, 21, 0, tzinfo=UTC)
    assert (buckets[0].label, buckets[0].short) == ("01.03.2027", "01.03")
    assert days.locate(buckets, datetime(2027, 3, 1, 20, 59, tzinfo=UTC)) == 0
    assert days.locate(buckets, datetime(2027, 3, 1, 21, 0, tzinfo=UTC)) == 1
    assert days.locate(buckets, days.end) is None

    weeks = Period(date(2027, 3, 3), date(2027, 5, 25), MOSCOW)  # a Wednesday to a Tuesday
    labels = [b.label for b in weeks.buckets()]
    assert weeks.grain == "week"
    assert labels[:2] == ["неделя с 03.03.2027", "неделя с 08.03.2027"]
    assert labels[-1] == "неделя с 24.05.2027"

    months = Period(date(2026, 4, 15), date(2027, 3, 20), MOSCOW)
    assert months.grain == "month"
    assert [b.label for b in months.buckets()][:2] == ["апрель 2026", "май 2026"]
    assert months.buckets()[-1].short == "мар 27"


# --- connections --------------------------------------------------------------------------


def test_connections_by_where_the_patient_came_from_and_by_whose_staff_link(
    make_world: MakeWorld,
) -> None:
    w = make_world(staff_connect_points=100)
    with transaction(w.factory) as s:
        s.add(StaffUser(id=7, login="olga", password_hash="x", role="admin", full_name="Ольга"))
        s.add(StaffUser(id=8, login="maria", password_hash="x", role="admin", full_name="Мария"))
        s.flush()
        olga_link = payload_for(s, "staff", "7")
    for p in ("early", "a", "b", "c", "d", "referrer", "friend"):
        w.patient(p)
    w.connect("early")  # before the period
    w.connect("referrer")
    with transaction(w.factory) as s:
        patient_link = payload_for(s, "patient", "referrer")
    w.later(days=2)
    w.connect("a", payload=olga_link)
    w.connect("a", payload=olga_link)  # a second chat of hers: not a new connection
    w.connect("b", payload=olga_link)
    w.connect("early", payload=olga_link)  # connected before: Ольга is not credited
    w.later(days=1)
    w.connect("c", payload="clinic_qr")
    w.connect("d")
    w.connect("friend", payload=patient_link)
    period = Period(date(2026, 3, 11), date(2026, 3, 14), MOSCOW)
    with w.factory() as s:
        report = connections.report(s, period)
    assert figure(report, "connected") == 5 and figure(report, "by-staff") == 2
    rows = {row[0]: row[1:] for row in table(report, "connections").rows}
    # staff, patient's recommendation, another tag, none, total
    assert rows["12.03.2026"] == (2, 0, 0, 0, 2)
    assert rows["13.03.2026"] == (0, 1, 1, 1, 3)
    assert rows["11.03.2026"] == (0, 0, 0, 0, 0)
    by_staff = {row[0]: row[1:] for row in table(report, "by-staff").rows}
    assert by_staff == {"Ольга": (2, 0, 200), "Мария": (0, 0, 0)}
    stacked = next(c for c in report.charts if c.key == "connections-chart")
    assert stacked.style == "stacked" and stacked.series[0].values == [0, 2, 0, 0]


def test_a_connection_is_the_patients_first_link_even_in_the_same_instant(
    make_world: MakeWorld,
) -> None:
    """Two chats linked to a patient at once count once, by the first one's link; a patient
    linked before the period and again in it is not connected in it; one linked on the
    period's last day is."""
    w = make_world()
    for p in ("twice", "before", "late"):
        w.patient(p)
    w.connect("before")
    w.later(days=2)
    w.connect("twice", payload="clinic_qr")  # the clock stands still: the same instant
    w.connect("twice")
    w.connect("before", payload="clinic_qr")
    w.later(days=2)
    w.connect("late")
    today = w.now.astimezone(MOSCOW).date()
    period = Period(today - timedelta(days=3), today, MOSCOW)
    with w.factory() as s:
        report = connections.report(s, period)
    rows = {row[0]: row[1:] for row in table(report, "connections").rows}
    # staff, patient's recommendation, another tag, none, total
    assert rows[f"{today - timedelta(days=2):%d.%m.%Y}"] == (0, 0, 1, 0, 1)
    assert rows[f"{today:%d.%m.%Y}"] == (0, 0, 0, 1, 1)
    assert figure(report, "connected") == 2


# --- reminder confirmations ---------------------------------------------------------------


def test_confirmation_rate_counts_each_reminded_visit_once_on_its_day(
    factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, messaging={"reminder_sequence": ["2d", "1d"]})
    visit_day = datetime(2026, 3, 17, 7, 0, tzinfo=UTC)  # Tuesday 10:00 in Moscow
    with transaction(factory) as s:
        for n in range(6):
            chat_for(s, patient(s, f"p{n}"))
            s.add(
                Appointment(
                    mis_id=f"v{n}",
                    patient_mis_id=f"p{n}",
                    starts_at=visit_day + timedelta(hours=n),
                    ends_at=visit_day + timedelta(hours=n, minutes=30),
                )
            )
        patient(s, "sms-only", phones=["+79001112233"])
        s.add(Appointment(mis_id="v-sms", patient_mis_id="sms-only", starts_at=visit_day,
                          ends_at=visit_day))  # fmt: skip
    # Two steps of the sequence reach each visit: two days and one day before.
    for days_before in (2, 1):
        planned_at = visit_day - timedelta(days=days_before, hours=-3)
        with time_machine.travel(planned_at, tick=False), transaction(factory) as s:
            assert plan_reminders(s, config) == 6
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == "pending")
                .values(state="sent", sent_at=planned_at)
            )
    with transaction(factory) as s:
        answers = ("confirmed", "confirmed", "reschedule", "cancel", "", "")
        for n, answer in enumerate(answers):
            s.execute(update(Appointment).where(Appointment.mis_id == f"v{n}")
                      .values(confirmation=answer))  # fmt: skip
        # The SMS step, keyed as core.reminders keys it.
        s.add(
            OutboxMessage(
                key=f"reminder:v-sms:{visit_day.isoformat()}:1d:sms",
                channel="sms",
                chat_id=0,
                phone="+79001112233",
                kind="reminder",
                text="Напоминание",
                state="sent",
                sent_at=visit_day - timedelta(days=1),
            )
        )
        # A reminder still queued is no reminder sent.
        s.add(OutboxMessage(key="reminder:v9:x:1d:1", chat_id=1, kind="reminder", text="."))
    period = Period(date(2026, 3, 16), date(2026, 3, 18), MOSCOW)
    # Counted the same while the outbox holds them, when the prune has forgotten the first
    # step (kept by core.visits.reminder_reach), and when it has forgotten them all.
    for forget_before in (None, visit_day - timedelta(hours=26), utcnow() + timedelta(days=1)):
        if forget_before is not None:
            with transaction(factory) as s:
                reminder_reach.archive(s, forget_before)
                assert outbox.prune(s, forget_before) >= 6
        with factory() as s:
            report = confirmations.report(s, period)
        rows = {row[0]: row[1:] for row in table(report, "confirmations").rows}
        # reached, confirmed, reschedule, cancel, silent, rate, SMS only
        assert rows["17.03.2026"] == (6, 2, 1, 1, 2, Decimal(2) * 100 / 6, 1), forget_before
        assert rows["16.03.2026"][0] == 0 and rows["16.03.2026"][5] is None
        assert figure(report, "rate") == Decimal(2) * 100 / 6
        assert not any("неполные" in note for note in report.notes)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1  # v9, queued
    # A period before the first reminder Kabinet knows of says its figures are partial.
    with factory() as s:
        early = confirmations.report(s, Period(date(2026, 3, 1), date(2026, 3, 18), MOSCOW))
    assert any("с 15.03.2026" in note and "неполные" in note for note in early.notes)


# --- ratings and NPS ----------------------------------------------------------------------


def test_nps_on_each_scale_and_per_doctor(factory) -> None:  # type: ignore[no-untyped-def]
    answered = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    given = [  # doctor, scale, score
        ("d1", "10", 10), ("d1", "10", 9), ("d1", "10", 7), ("d1", "10", 6),
        ("d2", "5", 5), ("d2", "smileys", 4), ("d2", "5", 3), ("d2", "smileys", 1),
        ("", "5", 5),
    ]  # fmt: skip
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров Пётр"))
        sub = chat_for(s, patient(s, "p"))
        for n, (doctor, scale, score) in enumerate(given):
            s.add(
                VisitRating(
                    appointment_mis_id=f"v{n}",
                    patient_mis_id="p",
                    subscriber_id=sub.id,
                    doctor_mis_id=doctor,
                    asked_at=answered - timedelta(hours=1),
                    scale=scale,
                    score=score,
                    answered_at=answered,
                )
            )
        s.add(VisitRating(appointment_mis_id="silent", patient_mis_id="p", subscriber_id=sub.id,
                          asked_at=answered))  # fmt: skip
    assert ratings.nps_group(6, "10") == "detractor" and ratings.nps_group(8, "10") == "passive"
    assert ratings.nps_group(4, "smileys") == "passive" and ratings.nps_group(3, "5") == "detractor"
    period = Period(date(2026, 3, 11), date(2026, 3, 13), MOSCOW)
    with factory() as s:
        report = ratings.report(s, period)
    doctors = {row[0]: row[1:] for row in table(report, "by-doctor").rows}
    # answers, average of 5, promoters, passives, detractors, NPS
    assert doctors["Петров Пётр"] == (4, Decimal("4.0"), 2, 1, 1, Decimal(25))
    assert doctors["врач d2"] == (4, Decimal("3.25"), 1, 1, 2, Decimal(-25))
    assert doctors["врач не указан"][0] == 1
    day = {row[0]: row[1:] for row in table(report, "ratings").rows}["12.03.2026"]
    assert day[:2] == (10, 9)  # asked (the silent one too), answered
    assert figure(report, "nps") == Decimal(4 - 3) * 100 / 9


# --- referrals and reviews ----------------------------------------------------------------


def test_referrals_and_the_revenue_they_brought_match_the_economics(
    make_world: MakeWorld,
) -> None:
    w = make_world(referrer_points=200, referred_points=100)
    for p in ("olga", "new", "second", "paid-before"):
        w.patient(p, name=p)
    w.pay("paid-before", "1000")
    w.connect("olga")
    with transaction(w.factory) as s:
        link = payload_for(s, "patient", "olga")
    w.later(days=1)
    w.connect("new", payload=link)
    w.connect("second", payload=link)
    w.connect("paid-before", payload=link)  # ineligible: not a new patient
    w.later(hours=2)
    w.pay("new", "3000", visit=w.visit("new"))
    w.pay("paid-before", "5000")  # an ineligible referral brings no referred revenue
    w.later(days=1)
    refunded = w.pay("second", "2000", visit=w.visit("second"))
    w.refund_row(refunded, "r1", "500")  # a partial refund: 1 500 stays
    period = Period(date(2026, 3, 10), date(2026, 3, 12), MOSCOW)
    with w.factory() as s:
        report = referrals.report(s, period)
        months = loyalty_reports.economics(s, w.config, w.now, months=1)
    rows = {row[0]: row[1:] for row in table(report, "referrals").rows}
    # pending, rewarded, ineligible, reversed, revenue
    assert rows["11.03.2026"] == (0, 2, 1, 0, Decimal("3000"))
    assert rows["12.03.2026"][4] == Decimal("1500")
    assert figure(report, "revenue") == Decimal("4500") == months[-1].referred_revenue_rub
    assert table(report, "by-referrer").rows == [("Иванова olga", 3, 2, Decimal("4500"))]


def test_review_links_offered_and_reviews_rewarded_by_platform(
    make_world: MakeWorld,
) -> None:
    w = make_world(review_bonus=50)
    w.patient("a"), w.patient("b")
    chat = w.connect("a")
    with transaction(w.factory) as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        assert sub is not None
        for n, offered in enumerate((True, True, False)):
            s.add(
                VisitRating(
                    appointment_mis_id=f"v{n}",
                    patient_mis_id="a",
                    subscriber_id=sub.id,
                    asked_at=w.now,
                    review_link_offered=offered,
                    score=5 if n == 0 else None,
                    answered_at=w.now if n == 0 else None,
                )
            )
        for patient_id, platform in (("a", "yandex"), ("a", "2gis"), ("b", "yandex")):
            operations.approve_bonus(
                s, w.config, patient_id, kind="review", platform=platform, user="admin", now=w.now
            )
    period = Period(date(2026, 3, 10), date(2026, 3, 10), MOSCOW)
    with w.factory() as s:
        report = reviews.report(s, period, w.config)
    row = table(report, "reviews").rows[0]
    # asked, offered, of them rated, yandex, 2gis, prodoctorov, other, reviews; no platform
    # buttons were kept for these (made by hand), opens unknown without web.public_url
    assert row[1:] == (3, 2, 1, 2, 1, 0, 0, 3, 0, None, None)
    assert figure(report, "offered-share") == Decimal(200) / 3
    assert any("не знает" in note for note in report.notes)  # opening is not recorded


def test_economics_report_has_the_economics_screens_months(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10, previous_discount_percent=5)
    w.patient("a")
    w.pay("a", "1000")  # March: +100
    w.now = T0 + timedelta(days=31)
    w.pay("a", "2000")  # April: +200
    w.pay("a", "300", method="bonus")
    period = Period(date(2026, 3, 20), date(2026, 4, 12), MOSCOW)
    with w.factory() as s:
        report = economics.report(s, w.config, period)
        screen = loyalty_reports.economics(s, w.config, w.now, months=2)
    rows = table(report, "economics").rows
    assert [r[0] for r in rows] == ["март 2026", "апрель 2026"]
    assert [r[1] for r in rows] == [100, 200] == [m.accrued for m in screen]
    assert [r[3] for r in rows] == [0, 300]
    assert figure(report, "cost") == sum(m.cost_rub for m in screen) == Decimal(300)
    assert figure(report, "flat") == Decimal(150)  # 5 % of 3 000 ₽
