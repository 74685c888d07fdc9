"""Each segment condition on a store of made-up visits, at a moment time_machine fixes, and
the presets: the hygiene recall and its «Записаться» / «+», the bonus reminder."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import campaigns, ledger
from core.campaigns import booking, presets, results
from core.campaigns.segments import Segment, SegmentError, describe, months_back
from core.clock import utcnow
from core.db import transaction
from core.loyalty.accounts import create_family, join
from core.models import Appointment, Doctor, DomainEvent, OutboxMessage, Task, VisitRating
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

# 15 March 2026, 00:30 in Moscow: still 14 March in UTC, so a day computed in the server's
# zone instead of the clinic's would be off by one.
NOW = datetime(2026, 3, 14, 21, 30, tzinfo=UTC)
_ids = count(1)


def visit(
    s: Session,
    mis_id: str,
    starts: datetime,
    *,
    status: str = "completed",
    doctor: str = "d1",
    services: list[str] | None = None,
) -> Appointment:
    row = Appointment(
        mis_id=f"a{next(_ids)}",
        patient_mis_id=mis_id,
        doctor_mis_id=doctor,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        status=status,
        services=services or [],
    )
    s.add(row)
    s.flush()
    return row


def who(s: Session, segment: Segment, config) -> set[str]:  # type: ignore[no-untyped-def]
    chats = campaigns.marketing_chats(s, segment, utcnow(), tz=config.clinic.tz)
    return {p.mis_id for _, p in chats}


@pytest.fixture
def doctors(factory):  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
        s.add(
            Doctor(
                mis_id="hyg", full_name="Смирнова А. А.", specialty="Гигиенист стоматологический"
            )
        )
        s.add(Doctor(mis_id="ort", full_name="Козлов К. К.", specialty="Ортодонт"))


def test_months_back_keeps_the_day_or_the_months_last() -> None:
    assert months_back(date(2026, 3, 15), 6) == date(2025, 9, 15)
    assert months_back(date(2026, 8, 31), 6) == date(2026, 2, 28)
    assert months_back(date(2026, 1, 10), 13) == date(2024, 12, 10)


def test_last_visit_more_than_n_months_ago_in_the_clinics_days(
    factory, config, clock, doctors
) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    with transaction(factory) as s:
        # Six months before the clinic's 15 March is 15 September: midnight in Moscow.
        for mis_id, starts in (
            ("old", datetime(2025, 9, 14, 20, 59, tzinfo=UTC)),  # 14 Sep 23:59 MSK: in
            ("edge", datetime(2025, 9, 14, 21, 0, tzinfo=UTC)),  # 15 Sep 00:00 MSK: out
            ("recent", datetime(2026, 2, 1, 9, 0, tzinfo=UTC)),
        ):
            chat_for(s, patient(s, mis_id))
            visit(s, mis_id, starts)
        chat_for(s, patient(s, "never"))
        # An old completed visit and a recent one: the last is recent.
        chat_for(s, patient(s, "came_back"))
        visit(s, "came_back", datetime(2024, 1, 1, 9, tzinfo=UTC))
        visit(s, "came_back", datetime(2026, 3, 1, 9, tzinfo=UTC))
        # A cancelled visit is no visit.
        visit(s, "old", datetime(2026, 3, 1, 9, tzinfo=UTC), status="cancelled")
    with factory() as s:
        assert who(s, Segment(last_visit_months=6), config) == {"old"}
        assert campaigns.audience_size(s, Segment(), utcnow(), tz=config.clinic.tz) == 5


def test_last_visit_between_dates(factory, config, clock, doctors) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    with transaction(factory) as s:
        for mis_id, starts in (
            ("before", datetime(2025, 12, 31, 20, 59, tzinfo=UTC)),  # 31 Dec 23:59 MSK
            ("first_day", datetime(2025, 12, 31, 21, 0, tzinfo=UTC)),  # 1 Jan 00:00 MSK
            ("last_day", datetime(2026, 1, 31, 20, 0, tzinfo=UTC)),  # 31 Jan 23:00 MSK
            ("after", datetime(2026, 1, 31, 21, 0, tzinfo=UTC)),  # 1 Feb 00:00 MSK
        ):
            chat_for(s, patient(s, mis_id))
            visit(s, mis_id, starts)
    seg = Segment(last_visit_from=date(2026, 1, 1), last_visit_to=date(2026, 1, 31))
    with factory() as s:
        assert who(s, seg, config) == {"first_day", "last_day"}
        assert who(s, Segment(last_visit_to=date(2025, 12, 31)), config) == {"before"}


def test_birthday_this_month_is_the_clinics_month(factory, config, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)  # 14 March in UTC, 15 March in Moscow
    with transaction(factory) as s:
        chat_for(s, patient(s, "march", birth=date(1990, 3, 30)))
        chat_for(s, patient(s, "april", birth=date(1990, 4, 1)))
        chat_for(s, patient(s, "unknown"))
    with factory() as s:
        assert who(s, Segment(birthday_this_month=True), config) == {"march"}
    clock.set(datetime(2026, 3, 31, 21, 30, tzinfo=UTC))  # 1 April 00:30 in Moscow
    with factory() as s:
        assert who(s, Segment(birthday_this_month=True), config) == {"april"}


def test_balance_above_and_points_expiring_by_a_date(factory, config, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    now = utcnow()
    with transaction(factory) as s:
        for mis_id in ("rich", "poor", "expiring", "in_family", "family_head"):
            chat_for(s, patient(s, mis_id))
        rich = ledger.account_for(s, "patient", "rich")
        ledger.credit(s, rich, 800, kind="accrual", cause="c1", now=now)
        poor = ledger.account_for(s, "patient", "poor")
        ledger.credit(s, poor, 500, kind="accrual", cause="c2", now=now)
        expiring = ledger.account_for(s, "patient", "expiring")
        # 31 March 23:00 in Moscow: before the end of the clinic's 31 March.
        ledger.credit(
            s,
            expiring,
            100,
            kind="accrual",
            cause="c3",
            now=now,
            expires_at=datetime(2026, 3, 31, 20, 0, tzinfo=UTC),
        )
        # A family's shared account counts for each member.
        family = create_family(s, "Семья", "owner", now)
        join(s, "in_family", family, source="panel", now=now)
        join(s, "family_head", family, source="panel", now=now)
        shared = ledger.account_for(s, "family", str(family.id))
        ledger.credit(
            s,
            shared,
            1000,
            kind="accrual",
            cause="c4",
            now=now,
            expires_at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC),  # 1 April in Moscow
        )
    with factory() as s:
        assert who(s, Segment(balance_above=500), config) == {"rich", "in_family", "family_head"}
        assert who(s, Segment(expiring_by=date(2026, 3, 31)), config) == {"expiring"}
        assert who(s, Segment(expiring_by=date(2026, 4, 1)), config) == {
            "expiring",
            "in_family",
            "family_head",
        }


def test_doctor_specialty_rating_and_single_visit(factory, config, clock, doctors) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    old = datetime(2025, 6, 1, 9, tzinfo=UTC)
    with transaction(factory) as s:
        subs = {m: chat_for(s, patient(s, m)) for m in ("once", "twice", "ortho", "booked")}
        visit(s, "once", old)
        visit(s, "twice", old)
        visit(s, "twice", old + timedelta(days=30))
        visit(s, "ortho", old, doctor="ort")
        visit(s, "booked", old, status="scheduled", doctor="ort")  # not a completed visit
        for mis_id, score in (("once", 2), ("twice", 5)):
            s.add(
                VisitRating(
                    appointment_mis_id="x" + mis_id,
                    patient_mis_id=mis_id,
                    subscriber_id=subs[mis_id].id,
                    score=score,
                )
            )
        s.add(  # asked, never answered: no rating given
            VisitRating(
                appointment_mis_id="y", patient_mis_id="ortho", subscriber_id=subs["ortho"].id
            )
        )
    with factory() as s:
        assert who(s, Segment(doctor="ort"), config) == {"ortho"}
        assert who(s, Segment(specialty="ортодонт"), config) == {"ortho"}
        assert who(s, Segment(specialty="терапевт"), config) == {"once", "twice"}
        assert who(s, Segment(rated=True), config) == {"once", "twice"}
        assert who(s, Segment(rating_max=3), config) == {"once"}
        assert who(s, Segment(single_visit=True), config) == {"once", "ortho"}
        # Conditions combine: all must hold.
        assert who(s, Segment(single_visit=True, rated=True), config) == {"once"}


def test_a_segment_refuses_nonsense_in_russian() -> None:
    for bad in (
        {"last_visit_months": 0},
        {"last_visit_from": date(2026, 2, 1), "last_visit_to": date(2026, 1, 1)},
        {"balance_above": -1},
        {"rating_min": 5, "rating_max": 3},
    ):
        with pytest.raises(SegmentError) as err:
            Segment(**bad)  # type: ignore[arg-type]
        assert any("а" <= ch <= "я" for ch in str(err.value))
    seg = Segment(last_visit_months=6, service="гигиен", expiring_by=date(2026, 4, 1))
    assert Segment.from_json(seg.to_json()) == seg
    with pytest.raises(SegmentError):
        Segment.from_json({"drop_table": 1})


def test_template_placeholders_are_checked_and_filled(factory, config, clock) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SegmentError, match="подстановка"):
        campaigns.check_template("{name}, {discount}!")
    with pytest.raises(SegmentError):
        campaigns.check_template("   ")
    with transaction(factory) as s:
        chat_for(s, patient(s, "p1", first="Ольга", middle="Ивановна"))
        ledger.credit(s, ledger.account_for(s, "patient", "p1"), 12500, kind="accrual", cause="b")
        campaigns.create_campaign(
            s,
            title="t",
            text="{name}, у вас {balance} баллов в «{clinic}». {a brace} stays",
            segment=Segment(),
            created_by="owner",
        )
    campaigns.advance(factory, config)
    with factory() as s:
        (row,) = s.scalars(select(OutboxMessage))
        assert row.text == (
            f"Ольга Ивановна, у вас 12\u00a0500 баллов в «{config.clinic.name}». {{a brace}} stays"
        )


def _hygiene_world(s: Session) -> dict[str, object]:
    due = datetime(2025, 8, 1, 9, tzinfo=UTC)  # seven months before NOW
    chats = {}
    for mis_id in ("due", "due_booked", "recent", "no_hygiene", "opted_out", "by_service"):
        chats[mis_id] = chat_for(
            s, patient(s, mis_id), opted_out=utcnow() if mis_id == "opted_out" else None
        )
    visit(s, "due", due, doctor="hyg")
    visit(s, "opted_out", due, doctor="hyg")
    visit(s, "due_booked", due, doctor="hyg")
    visit(s, "due_booked", NOW + timedelta(days=10), status="scheduled")  # a future visit
    visit(s, "recent", due, doctor="hyg")
    visit(s, "recent", datetime(2026, 1, 10, 9, tzinfo=UTC), doctor="hyg")
    # A hygiene visit long ago, a filling since: the last *hygiene* is what counts.
    visit(s, "no_hygiene", datetime(2026, 2, 1, 9, tzinfo=UTC), services=["Пломба"])
    visit(s, "by_service", due, services=["Профессиональная гигиена полости рта"])
    visit(s, "by_service", datetime(2026, 2, 1, 9, tzinfo=UTC), services=["Пломба"])
    return chats


def test_hygiene_recall_and_its_booking(factory, config, clock, doctors) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    preset = presets.hygiene_recall()
    with transaction(factory) as s:
        chats = _hygiene_world(s)
    with factory() as s:
        assert who(s, preset.segment, config) == {"due", "by_service"}
    with transaction(factory) as s:
        campaign = campaigns.create_campaign(
            s,
            title=preset.title,
            text=preset.text,
            segment=preset.segment,
            created_by="owner",
            preset=preset.key,
            booking=preset.booking,
        )
        campaign_id = campaign.id
    campaigns.advance(factory, config)
    with transaction(factory) as s:
        rows = {m.patient_mis_id: m for m in s.scalars(select(OutboxMessage))}
        assert set(rows) == {"due", "by_service"}
        buttons = rows["due"].reply_markup["inline_keyboard"]
        assert buttons[0][0]["callback_data"] == f"cb:{campaign_id}"
        assert buttons[1][0]["callback_data"] == campaigns.UNSUBSCRIBE
        for row in rows.values():
            row.state, row.sent_at = "sent", utcnow()
    clock.advance(timedelta(days=2))
    with transaction(factory) as s:
        due = s.merge(chats["due"])
        # «Записаться» opens one booking episode, however often it is pressed.
        task = booking.open_booking(s, config, due, campaign_id)
        assert task is not None and task.kind == "booking" and task.patient_mis_id == "due"
        assert booking.open_booking(s, config, due, campaign_id) is task
        # A chat the campaign never reached cannot open one with a forged press.
        assert booking.open_booking(s, config, s.merge(chats["recent"]), campaign_id) is None
        # «+» answers the recall within 30 days, not later.
        other = s.merge(chats["by_service"])
        assert booking.is_plus(" + ") and not booking.is_plus("+7 900")
        assert booking.recall_answered(s, other, utcnow()) == campaign_id
        assert booking.recall_answered(s, other, utcnow() + timedelta(days=31)) is None
    with factory() as s:
        assert s.scalar(select(Task.conversation_id).where(Task.kind == "booking")) is not None
        got = results.results(s, s.get(campaigns.Campaign, campaign_id))
        assert (got.delivered, got.bookings_asked, got.waiting, got.percent) == (2, 1, 0, 100)


def test_bonus_reminder_and_results(factory, config, clock) -> None:  # type: ignore[no-untyped-def]
    from core.conversations.lines import add_line, conversation_for

    clock.set(NOW)
    preset = presets.bonus_reminder(300)
    with transaction(factory) as s:
        subs = {m: chat_for(s, patient(s, m, first=m)) for m in ("a", "b", "c")}
        for mis_id, points in (("a", 900), ("b", 301), ("c", 300)):
            ledger.credit(
                s, ledger.account_for(s, "patient", mis_id), points, kind="accrual", cause=mis_id
            )
        campaign = campaigns.create_campaign(
            s, title=preset.title, text=preset.text, segment=preset.segment, created_by="owner"
        )
        campaign_id = campaign.id
    campaigns.advance(factory, config)
    with transaction(factory) as s:
        rows = {m.patient_mis_id: m for m in s.scalars(select(OutboxMessage))}
        assert set(rows) == {"a", "b"}
        assert "на вашем счёте 900 бонусных баллов" in rows["a"].text
        assert "гигиену" in rows["a"].text
        rows["a"].state, rows["a"].sent_at = "sent", utcnow()
        rows["b"].state = "unreachable"
    clock.advance(timedelta(days=3))
    with transaction(factory) as s:
        sub_a = s.merge(subs["a"])
        add_line(
            s,
            conversation_for(s, sub_a),
            direction="in",
            kind="text",
            text="спасибо",
            subscriber_id=sub_a.id,
        )
        booked = visit(s, "a", utcnow() + timedelta(days=5), status="scheduled")
        s.add(DomainEvent(key="e1", kind="appointment.created", subject=booked.mis_id))
        # A booking after the 30-day window is not the campaign's.
        late = visit(s, "a", utcnow() + timedelta(days=60), status="scheduled")
        s.add(
            DomainEvent(
                key="e2",
                kind="appointment.created",
                subject=late.mis_id,
                created_at=utcnow() + timedelta(days=40),
            )
        )
    campaigns.advance(factory, config)
    with factory() as s:
        campaign = s.get(campaigns.Campaign, campaign_id)
        assert campaign.state == "done"
        got = results.results(s, campaign)
        assert (got.delivered, got.unreachable, got.replies, got.visits_booked) == (1, 1, 1, 1)


@pytest.mark.parametrize("max_mailings", [False, True])
def test_a_segment_keeps_to_consent_unsubscribes_and_max_mailings(
    factory, config, clock, max_mailings: bool
) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOW)
    config = config.replace(max={"mailings": max_mailings})
    with transaction(factory) as s:
        for mis_id in ("ok", "no_consent", "unsubscribed", "no_mis_consent", "in_max"):
            person = patient(s, mis_id, birth=date(1990, 3, 1), allowed=mis_id != "no_mis_consent")
            sub = chat_for(
                s,
                person,
                consent=mis_id != "no_consent",
                opted_out=utcnow() if mis_id == "unsubscribed" else None,
            )
            if mis_id == "in_max":
                sub.channel = "max"
        campaigns.create_campaign(
            s, title="t", text="x", segment=Segment(birthday_this_month=True), created_by="o"
        )
    expected = {"ok", "in_max"} if max_mailings else {"ok"}
    with factory() as s:
        closed = campaigns.closed_to_mailings(config)
        chats = campaigns.marketing_chats(
            s, Segment(birthday_this_month=True), utcnow(), closed=closed, tz=config.clinic.tz
        )
        assert {p.mis_id for _, p in chats} == expected
    campaigns.advance(factory, config)
    with factory() as s:
        assert {m.patient_mis_id for m in s.scalars(select(OutboxMessage))} == expected


def test_the_conditions_name_the_doctor_not_the_mis_id() -> None:
    segment = Segment(doctor="ort", balance_above=1500)
    assert describe(segment, {"ort": "Смирнов Андрей Викторович"}) == [
        "баланс больше 1\u00a0500 баллов",
        "был у врача Смирнов Андрей Викторович",
    ]
    assert describe(segment)[-1] == "был у врача ort"  # one the MIS no longer has
