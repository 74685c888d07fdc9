"""The loyalty programme's rules, driven through domain events as the sync produces them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import ledger
from core.config import ConfigError
from core.db import transaction
from core.loyalty import accounts, earning, nightly, operations, reports, settings
from core.loyalty.referrals import parse_payload, payload_for
from core.models import (
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyMember,
    OutboxMessage,
    Patient,
    PatientLink,
    PatientPhone,
    Referral,
    StaffUser,
    Subscriber,
    Task,
)
from tests.conftest import make_config
from tests.core.loyalty_world import T0, World

MSK = ZoneInfo("Europe/Moscow")

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path, factory) -> Iterator[MakeWorld]:  # type: ignore[no-untyped-def]
    with ExitStack() as worlds:

        def build(**loyalty: object) -> World:
            return worlds.enter_context(World(factory, make_config(tmp_path, loyalty=loyalty)))

        yield build


def test_cashback_by_service_doctor_branch_first_match_wins_plus_tier(
    make_world: MakeWorld,
) -> None:
    w = make_world(
        cashback_percent=5,
        cashback_rules="service:имплант=2; doctor:d7=8; branch:b2=4",
        tiers="Серебро:10000:1; Золото:50000:3",
    )
    w.patient("a")
    implant = w.visit("a", services=("Имплантация зуба",), doctor="d7")
    w.pay("a", "1000", visit=implant)  # service rule first: 2 %
    w.pay("a", "1000", visit=w.visit("a", doctor="d7"))  # 8 %
    w.pay("a", "1000", visit=w.visit("a", branch="b2"))  # 4 %
    w.pay("a", "1000")  # no visit linked: base 5 %
    assert [a for _, a, _ in w.entries("a")] == [20, 80, 40, 50]
    # This payment takes the 12-month spend to 10 000: silver from this payment on.
    w.pay("a", "6000")
    assert w.account("a").tier == "Серебро"  # type: ignore[union-attr]
    assert w.entries("a")[-1][1] == 360  # (5 + 1) % of 6000
    assert w.verify() == []


def test_tier_downgrades_only_after_the_hold_period_at_night(make_world: MakeWorld) -> None:
    w = make_world(tiers="Серебро:10000:1", tier_hold_days=90)
    w.patient("a")
    w.pay("a", "12000")
    assert w.account("a").tier == "Серебро"  # type: ignore[union-attr]
    w.later(days=370)  # the spend has left the 12-month window
    w.pay("a", "100")  # a payment never downgrades
    assert w.account("a").tier == "Серебро"  # type: ignore[union-attr]
    nightly.run(w.factory, w.config, w.now)
    assert w.account("a").tier == ""  # type: ignore[union-attr]


def test_monthly_caps_per_member_and_for_the_programme(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10, member_cap_per_month=150, global_cap_per_month=250)
    w.patient("a"), w.patient("b")
    w.pay("a", "1000")  # 100
    w.pay("a", "1000")  # 50 left under the member's cap
    w.pay("b", "2000")  # 200 asked, 100 left under the programme's cap
    w.pay("b", "1000")  # nothing left: no entry at all
    assert [a for _, a, _ in w.entries()] == [100, 50, 100]
    # An owner's manual grant is not capped.
    with transaction(w.factory) as s:
        operations.grant(
            s,
            w.config,
            "a",
            points=500,
            reason="извинение за ожидание",
            key="a" * 32,
            user="owner",
            now=w.now,
        )
    assert w.balance("a") == 650
    # Next month the caps start again.
    w.later(days=31)
    w.pay("b", "1000")
    assert w.entries("b")[-1][1] == 100


def test_refund_after_spending_becomes_debt_repaid_from_later_accruals(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=10)
    w.patient("a")
    first = w.pay("a", "5000")  # +500
    w.pay("a", "400", method="bonus")  # the MIS took 400 ₽ in points
    w.refund(first)
    assert (w.balance("a"), w.account("a").debt) == (0, 400)  # type: ignore[union-attr]
    w.pay("a", "3000")  # +300, all withheld
    assert (w.balance("a"), w.account("a").debt) == (0, 100)  # type: ignore[union-attr]
    w.pay("a", "2000")  # +200: 100 repays the rest
    assert (w.balance("a"), w.account("a").debt) == (100, 0)  # type: ignore[union-attr]
    kinds = [k for k, _, _ in w.entries("a")]
    assert kinds == [
        "accrual",
        "redemption",
        "reversal",
        "accrual",
        "recovery",
        "accrual",
        "recovery",
    ]
    assert w.verify() == []


def test_partial_refunds_take_back_their_share_and_never_more_than_the_accrual(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=5)
    w.patient("a")
    w.connect("a", chat=501)
    paid = w.pay("a", "10000")  # +500
    w.refund_row(paid, "r1", "3000")  # 30 % of the payment: 30 % of the points
    assert w.balance("a") == 350
    assert w.entries("a")[-1] == ("reversal", -150, f"reversal:payment:{paid}:refund:r1")
    w.refund_row(paid, "r1", "3000")  # the same row read again: nothing
    assert w.balance("a") == 350
    w.refund_row(paid, "r2", "3333")  # 63.33 % in all: 316 points (rounded down), 166 more
    assert w.balance("a") == 184
    assert "вам вернули 3\u00a0333 ₽ из оплаты 10\u00a0000 ₽" in w.messages(501)[-1]
    w.refund_row(paid, "r3", "3667")  # the rest of the payment: the rest of the points
    assert w.balance("a") == 0
    assert w.entries("a")[-1] == ("reversal", -184, f"reversal:payment:{paid}")
    w.refund_row(paid, "r4", "100")  # more than was paid: nothing left to take back
    w.refund(paid)  # and the payment deleted: nothing either
    reversals = [amount for kind, amount, _ in w.entries("a") if kind == "reversal"]
    assert reversals == [-150, -166, -184]
    assert w.verify() == []


def test_partial_refund_rounds_in_the_patients_favour_and_a_deletion_takes_the_rest(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=5)
    w.patient("a")
    paid = w.pay("a", "1000")  # +50
    w.refund_row(paid, "r1", "333.33")  # 16.67 points: 16
    w.refund_row(paid, "r2", "333.33")  # 33.33 in all: 17 more
    assert w.balance("a") == 17
    w.refund(paid)  # deleted in the MIS: the remaining 17
    assert w.balance("a") == 0
    assert [a for k, a, _ in w.entries("a") if k == "reversal"] == [-16, -17, -17]
    assert w.verify() == []


def test_partial_refund_after_spending_becomes_debt_for_its_share_only(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=10)
    w.patient("a")
    paid = w.pay("a", "5000")  # +500
    w.pay("a", "450", method="bonus")  # 450 spent, 50 left
    w.refund_row(paid, "r1", "1000")  # 20 %: 100 points, 50 of them already spent
    assert (w.balance("a"), w.account("a").debt) == (0, 50)  # type: ignore[union-attr]
    w.pay("a", "1000")  # +100: 50 repay the debt
    assert (w.balance("a"), w.account("a").debt) == (50, 0)  # type: ignore[union-attr]
    assert w.verify() == []


def test_bonus_payment_is_capped_by_balance_and_a_deleted_one_gives_points_back(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=10, point_value_rub=0.5)
    w.patient("a")
    w.pay("a", "1000")  # +100 points (worth 50 ₽)
    bonus = w.pay("a", "80", method="bonus")  # 160 points asked, 100 held
    assert w.balance("a") == 0
    assert w.entries("a")[-1] == ("redemption", -100, f"redemption:payment:{bonus}")
    w.refund(bonus)
    assert w.balance("a") == 100
    assert w.entries("a")[-1][0] == "restore"
    assert w.verify() == []


def test_a_bonus_payment_refunded_in_part_gives_back_its_share_of_the_points(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=10, point_value_rub=1)
    w.patient("a")
    w.pay("a", "1000")  # +100, one lot
    w.later(days=1)
    w.pay("a", "1000")  # +100, a second lot
    bonus = w.pay("a", "150", method="bonus")  # 150 points: 100 from the first lot, 50
    assert w.balance("a") == 50
    w.refund_row(bonus, "r1", "100")  # two thirds of it: 100 points back
    assert w.balance("a") == 150
    w.refund_row(bonus, "r1", "100")  # the same row read again: nothing
    assert w.balance("a") == 150
    w.refund_row(bonus, "r2", "0.5")  # 100.5 of 150 ₽: 67 % rounds up to 101 points
    assert w.balance("a") == 151
    restores = [(a, c) for k, a, c in w.entries("a") if k == "restore"]
    # Each point comes back into a lot like the one it was spent from, oldest first.
    assert [a for a, _ in restores] == [100, 1]
    w.refund(bonus)  # deleted in the MIS: the 49 points still out, nothing twice
    assert w.balance("a") == 200
    assert sum(a for k, a, _ in w.entries("a") if k == "restore") == 150
    assert w.verify() == []


def test_family_shares_one_account_members_spend_and_mute(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10, balance_notice_threshold=0)
    w.patient("mum", name="Мария"), w.patient("son", name="Иван")
    w.pay("son", "1000")  # +100 on his own account
    mum_chat, son_chat = w.connect("mum"), w.connect("son")
    w.set_family("mum", "F1")
    w.set_family("son", "F1")  # joining moves his 100 points in, lot by lot
    assert w.balance("son") == w.balance("mum") == 100
    with w.factory() as s:
        own = ledger.find_account(s, "patient", "son")
        assert own is not None and own.balance == 0
    w.pay("mum", "2000")
    assert w.balance("son") == 300
    # The son pays part of his bill from the shared account at the desk.
    with transaction(w.factory) as s:
        operations.spend(
            s, w.config, "son", points=150, bill="1000", key="b" * 32, user="admin", now=w.now
        )
    assert w.balance("mum") == 150
    assert any("на семейный счёт начислено 200" in t for t in w.messages(son_chat))
    # The son mutes balance notices; his mother still gets them.
    with transaction(w.factory) as s:
        accounts.member_row(s, "son", w.now).muted = True
    w.pay("mum", "500")
    assert "начислено 50" in w.messages(mum_chat)[-1]
    assert not any("50 бонусов за оплату 500" in t for t in w.messages(son_chat))
    # Leaving the family (the MIS says so) leaves the shared points with the family.
    w.set_family("son", None)
    assert (w.balance("son"), w.balance("mum")) == (0, 200)
    assert w.verify() == []


def test_a_family_formed_in_the_panel_is_not_undone_by_the_mis(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10)
    w.patient("a"), w.patient("b")
    w.pay("a", "1000")  # on her own account, moved into the family when she joins
    with transaction(w.factory) as s:
        family = accounts.create_family(s, "Петровы", "owner", w.now)
        accounts.join(s, "a", family, source="panel", now=w.now)
        accounts.join(s, "b", family, source="panel", now=w.now)
    w.set_family("a", "F10")  # the MIS moves her: the panel's decision stands
    w.pay("b", "1000")
    assert w.balance("a") == w.balance("b") == 200
    with w.factory() as s:
        member = s.scalar(select(LoyaltyMember).where(LoyaltyMember.patient_mis_id == "a"))
        assert member is not None and member.family_source == "panel"
        assert nightly.reconcile_all(s, w.now) == 0


def test_payload_grammar() -> None:
    assert parse_payload("").kind == "none"
    assert parse_payload("clinic_qr").kind == "tag"
    assert parse_payload("rabcdefgh").kind == "referral"
    assert parse_payload("s23456789").kind == "staff"
    assert parse_payload("rABCDEFGH").kind == "tag"  # codes are lower case
    assert parse_payload("r1bcdefgh").kind == "tag"  # 1 is not in the code alphabet
    assert parse_payload("r" * 65).kind == "invalid"
    assert parse_payload("r abc").kind == "invalid"


def test_referral_rewards_both_after_the_first_paid_visit_and_is_undone_by_its_refund(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=0, referrer_points=2000, referred_points=500)
    w.patient("olga")
    olga_chat = w.connect("olga")
    with transaction(w.factory) as s:
        link = payload_for(s, "patient", "olga")
    w.patient("new")
    w.connect("new", payload=link)
    with w.factory() as s:
        referral = s.scalar(select(Referral).where(Referral.referred_patient_mis_id == "new"))
        assert referral is not None and (referral.referrer_id, referral.state) == (
            "olga",
            "pending",
        )
    payment = w.pay("new", "3000")  # paid, but the visit is not completed yet
    assert w.balance("olga") == 0
    w.visit("new")  # completed: now it counts
    assert (w.balance("olga"), w.balance("new")) == (2000, 500)
    assert "по вашей ссылке к нам пришёл новый пациент" in w.messages(olga_chat)[-1]
    w.visit("new")
    w.pay("new", "1000")  # later visits change nothing
    assert w.balance("olga") == 2000
    w.refund(payment)
    assert (w.balance("olga"), w.balance("new")) == (0, 0)
    with w.factory() as s:
        referral = s.scalar(select(Referral).where(Referral.referred_patient_mis_id == "new"))
        assert referral is not None and referral.state == "reversed"
    assert w.verify() == []


def test_referral_is_rewarded_by_a_payment_made_after_the_visit_was_completed(
    make_world: MakeWorld,
) -> None:
    w = make_world(cashback_percent=0, referrer_points=2000, referred_points=500)
    w.patient("olga")
    w.connect("olga")
    with transaction(w.factory) as s:
        link = payload_for(s, "patient", "olga")
    w.patient("new")
    w.connect("new", payload=link)
    w.visit("new")  # completed, not paid yet: nothing
    assert w.balance("olga") == 0
    w.pay("new", "2000", method="bonus")  # points are no money paid
    assert w.balance("olga") == 0
    w.pay("new", "3000")  # paid at the desk after the visit, as usual
    assert (w.balance("olga"), w.balance("new")) == (2000, 500)
    assert w.verify() == []


def test_referral_is_refused_for_self_family_and_existing_patients(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=0)
    w.patient("olga", family="F"), w.patient("daughter", family="F"), w.patient("old")
    w.pay("old", "100")
    with transaction(w.factory) as s:
        link = payload_for(s, "patient", "olga")
    w.connect("daughter", payload=link)
    w.connect("old", payload=link)
    w.connect("olga", payload=link)
    with w.factory() as s:
        states = dict(s.execute(select(Referral.referred_patient_mis_id, Referral.reason)).all())
    assert states == {
        "daughter": "the referrer's own link",
        "old": "already a paying patient",
        "olga": "the referrer's own link",
    }
    w.visit("old")
    assert w.balance("olga") == 0


def test_staff_link_rewards_the_staff_member_once_per_new_connection(make_world: MakeWorld) -> None:
    w = make_world(staff_connect_points=100)
    with transaction(w.factory) as s:
        s.add(StaffUser(id=7, login="olga", password_hash="x", role="admin"))
        s.flush()
        link = payload_for(s, "staff", "7")
        wrong_kind = "r" + link[1:]  # a staff code presented as a patient's
    w.patient("a"), w.patient("b"), w.patient("c")
    w.connect("a", payload=link)
    w.connect("a", payload=link)  # the same patient again on another phone
    w.connect("b", payload=wrong_kind)
    w.connect("c")  # connected before, without a link...
    w.connect("c", payload=link)  # ...so this connection earns nothing
    with w.factory() as s:
        assert ledger.balance(s, "staff", "7") == 100
        board = reports.leaderboard(s, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [(r.name, r.connected, r.points) for r in board] == [("olga", 1, 100)]


def test_nightly_expiry_reminders_and_birthdays(make_world: MakeWorld) -> None:
    w = make_world(
        cashback_percent=10,
        expiry_days=30,
        expiry_reminder_days=7,
        birthday_bonus=300,
        birthday_expiry_days=10,
        balance_notice_threshold=0,
    )
    w.patient("a", birth=date(1990, 3, 20))
    w.patient("leap", birth=date(2000, 2, 29))
    w.patient("offline", birth=date(1980, 3, 20))  # never connected: no birthday bonus
    chat = w.connect("a")
    w.connect("leap")
    w.pay("a", "1000")  # 100, expires on 9 April
    w.later(days=24)  # 3 April: within 7 days of expiry
    report = nightly.run(w.factory, w.config, w.now)
    assert report.reminders == 1
    assert "100 бонусов сгорят 9 апреля 2026" in w.messages(chat)[-1]
    assert nightly.run(w.factory, w.config, w.now).reminders == 0
    w.now = datetime(2026, 3, 20, 7, 0, tzinfo=UTC) + timedelta(days=365)  # her birthday, 2027
    report = nightly.run(w.factory, w.config, w.now)
    assert (report.expired_lots, report.birthdays) == (1, 1)
    assert w.balance("a") == 300
    assert "с днём рождения" in w.messages(chat)[-1]
    assert nightly.run(w.factory, w.config, w.now).birthdays == 0  # once a year
    w.now = datetime(2027, 2, 28, 8, 0, tzinfo=UTC)  # 2027 is not a leap year
    assert nightly.run(w.factory, w.config, w.now).birthdays == 1
    assert w.verify() == []


def test_nightly_run_is_due_once_a_clinic_day_after_three(make_world: MakeWorld) -> None:
    w = make_world()
    night = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 02:30 in Moscow
    with w.factory() as s:
        assert not nightly.is_due(s, w.config, night)
        assert nightly.is_due(s, w.config, night + timedelta(hours=1))
    nightly.run(w.factory, w.config, night + timedelta(hours=1))
    with w.factory() as s:
        assert not nightly.is_due(s, w.config, night + timedelta(hours=5))
        assert nightly.is_due(s, w.config, night + timedelta(hours=25))


def test_panel_spend_respects_the_bill_share_and_is_idempotent(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10, max_bill_share_percent=30)
    w.patient("a")
    w.pay("a", "10000")  # 1000 points
    key = "c" * 32
    with transaction(w.factory) as s, pytest.raises(operations.OperationError, match="30 %"):
        operations.spend(
            s, w.config, "a", points=301, bill="1000", key=key, user="admin", now=w.now
        )
    for _ in range(2):  # the form submitted twice
        with transaction(w.factory) as s:
            outcome = operations.spend(
                s, w.config, "a", points=300, bill="1000", key=key, user="admin", now=w.now
            )
    assert outcome.repeated and w.balance("a") == 700
    with transaction(w.factory) as s, pytest.raises(operations.OperationError, match="только 700"):
        operations.spend(
            s, w.config, "a", points=800, bill="100000", key="d" * 32, user="admin", now=w.now
        )
    with transaction(w.factory) as s, pytest.raises(operations.OperationError, match="устарела"):
        operations.spend(
            s, w.config, "a", points=1, bill="100", key="../x", user="admin", now=w.now
        )


def test_manual_grant_needs_a_reason_and_names_its_author(make_world: MakeWorld) -> None:
    w = make_world()
    w.patient("a")
    with transaction(w.factory) as s, pytest.raises(operations.OperationError, match="причину"):
        operations.grant(
            s, w.config, "a", points=10, reason=" ", key="e" * 32, user="owner", now=w.now
        )
    with transaction(w.factory) as s:
        operations.grant(
            s, w.config, "a", points=10, reason="компенсация", key="e" * 32, user="owner", now=w.now
        )
        operations.grant(
            s, w.config, "a", points=-4, reason="ошибка", key="f" * 32, user="owner", now=w.now
        )
    with w.factory() as s:
        entries = s.scalars(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.id)).all()
        assert [(e.amount, e.note, e.created_by) for e in entries] == [
            (10, "компенсация", "owner"),
            (-4, "ошибка", "owner"),
        ]


def test_review_bonus_is_off_by_default_and_once_per_platform(make_world: MakeWorld) -> None:
    w = make_world()
    w.patient("a")
    with transaction(w.factory) as s, pytest.raises(operations.OperationError, match="выключен"):
        operations.approve_bonus(
            s, w.config, "a", kind="review", platform="yandex", user="admin", now=w.now
        )
    w.reconfigure(w.config.replace(loyalty={"review_bonus": 200}))
    with transaction(w.factory) as s:
        operations.approve_bonus(
            s, w.config, "a", kind="review", platform="yandex", user="admin", now=w.now
        )
        again = operations.approve_bonus(
            s, w.config, "a", kind="review", platform="yandex", user="admin", now=w.now
        )
        with pytest.raises(operations.OperationError):
            operations.approve_bonus(
                s, w.config, "a", kind="review", platform="google", user="admin", now=w.now
            )
    assert again.repeated and w.balance("a") == 200


def test_panel_settings_override_the_config_and_are_validated(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=5)
    w.patient("a")
    with transaction(w.factory) as s:
        with pytest.raises(ConfigError, match="loyalty.cashback_percent"):
            settings.save(s, w.config, {"cashback_percent": 250}, "owner")
        settings.save(s, w.config, {"cashback_percent": 10, "expiry_days": 365}, "owner")
    w.pay("a", "1000")
    assert w.balance("a") == 100
    with transaction(w.factory) as s:
        # Back to the config's value: no longer an override.
        settings.save(s, w.config, {"cashback_percent": 5}, "owner")
        assert settings.overrides(s) == {}


def test_the_points_owed_at_each_months_end_are_the_entries_up_to_then(
    make_world: MakeWorld,
) -> None:
    """Worked back from today's balances, the liability of every month equals the sum of
    the patients' entries made before that month's end (a staff account's points owe no
    patient anything)."""
    w = make_world(cashback_percent=5, referrer_points=0, referred_points=0)
    w.patient("a"), w.patient("b")
    for month, amount in ((1, "4000"), (2, "2000"), (3, "6000")):
        w.now = datetime(2026, month, 12, 9, 0, tzinfo=UTC)
        w.pay("a" if month != 2 else "b", amount)
        if month == 2:
            w.pay("a", "100", method="bonus")
            with transaction(w.factory) as s:
                staff = ledger.account_for(s, "staff", "7")
                ledger.credit(s, staff, 300, kind="staff_connect", cause="staff:7:1", now=w.now)
    w.now = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
    with w.factory() as s:
        months = reports.economics(s, w.config, w.now, months=4)
        for row, end in zip(
            months, [datetime(2026, m, 1, tzinfo=MSK) for m in (2, 3, 4, 5)], strict=True
        ):
            owed = s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                .join(LoyaltyAccount, LoyaltyAccount.id == LedgerEntry.account_id)
                .where(LedgerEntry.created_at < end, LoyaltyAccount.owner_kind != "staff")
            )
            assert row.liability_points == owed
    assert [m.liability_points for m in months] == [200, 200, 500, 500]


def test_economics_compare_the_programme_with_the_flat_discount(make_world: MakeWorld) -> None:
    w = make_world(
        cashback_percent=5, previous_discount_percent=10, referrer_points=0, referred_points=0
    )
    w.patient("a"), w.patient("b")
    w.now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    w.pay("a", "10000")  # +500
    w.pay("a", "200", method="bonus")  # -200 spent
    refunded = w.pay("b", "2000")  # +100, then refunded
    w.refund(refunded)
    in_part = w.pay("b", "1000")  # +50, 400 ₽ of it refunded: -20
    w.refund_row(in_part, "r1", "400")
    with w.factory() as s:
        march = reports.economics(s, w.config, w.now, months=2)[-1]
    assert march.month == date(2026, 3, 1)
    assert (march.accrued, march.taken_back, march.spent, march.expired) == (650, 120, 200, 0)
    assert march.liability_points == 330
    # Refunds (whole and partial) and bonus payments excluded: 10,000 + 600.
    assert march.revenue_rub == Decimal("10600")
    assert march.cost_rub == Decimal(530)
    assert march.flat_discount_rub == Decimal(1060)
    assert march.saving_rub == Decimal(530)
    assert round(march.effective_discount_percent, 2) == Decimal("1.89")  # 200 of 10,600
    with w.factory() as s:
        # Tiers count the same money: b paid 3,000, of which 2,400 came back.
        assert earning.spend_12_months(s, w.account("b"), w.now) == Decimal(600)  # type: ignore[arg-type]


def test_notices_go_to_each_chat_once_and_respect_the_mis_refusal(make_world: MakeWorld) -> None:
    w = make_world(cashback_percent=10, balance_notice_threshold=150)
    w.patient("mum", family="F"), w.patient("kid", family="F", name="Петя")
    w.patient("quiet", messaging=False)
    shared = w.connect("mum", "kid")  # one phone for both
    quiet = w.connect("quiet")
    w.pay("kid", "1000")
    w.pay("quiet", "1000")
    w.pay("mum", "1000")  # crosses 150
    texts = w.messages(shared)
    assert len([t for t in texts if "начислено" in t]) == 2
    assert "у вас уже 200 бонусов" in texts[-1]
    assert w.messages(quiet) == []
    with w.factory() as s:
        assert all(m.state == "pending" for m in s.scalars(select(OutboxMessage)))


def test_a_waiting_chat_is_linked_when_the_mis_gives_a_patient_its_number(
    make_world: MakeWorld,
) -> None:
    """The patient.changed path: the number appears on an existing MIS record."""
    w = make_world(welcome_bonus=100)
    w.patient("a")
    w.patient("n", name="Нина")
    with transaction(w.factory) as s:
        code = payload_for(s, "patient", "a")
        waiting = Subscriber(
            telegram_user_id=777, chat_id=777, start_payload=code, phone="+79150001122"
        )
        other = Subscriber(telegram_user_id=778, chat_id=778, phone="+79150009999")
        s.add_all([waiting, other])
        s.flush()
        # Told "not found" (bot_handlers/onboarding.py): only such a chat waits to be linked.
        for sub in (waiting, other):
            s.add(Task(kind="unknown_patient", key=f"unknown:{sub.id}", subscriber_id=sub.id))
    with transaction(w.factory) as s:
        patient = s.scalar(select(Patient).where(Patient.mis_id == "n"))
        assert patient is not None
        s.add(PatientPhone(phone="+79150001122", patient_id=patient.id))
    w.set_family("n", None)  # any change of the record: a patient.changed event
    w.set_family("n", None)  # and another: nothing more
    texts = w.messages(777)
    assert len([t for t in texts if "номер присылать ещё раз не нужно" in t]) == 1
    assert any("100" in t for t in texts)  # the welcome bonus, told once it is linked
    assert w.messages(778) == []
    with w.factory() as s:
        referral = s.scalar(select(Referral))
        assert referral is not None
        assert (referral.referred_patient_mis_id, referral.referrer_id, referral.state) == (
            "n",
            "a",
            "pending",
        )
        assert (
            s.scalar(
                select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == other.id)
            )
            is None
        )
    assert w.balance("n") == 100
