"""The loyalty screens of the panel, through the real forms (CSRF included), per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from core.clock import utcnow
from core.db import transaction
from core.loyalty import accounts, reports
from core.models import LedgerEntry, LoyaltyLot, LoyaltySetting, ReferralCode
from tests.conftest import Persona
from tests.core.loyalty_world import World


@pytest.fixture
def world(factory, config, app) -> Iterator[World]:  # type: ignore[no-untyped-def]
    with World(factory, config, now=utcnow() - timedelta(minutes=5)) as w:
        w.patient("a", name="Анна")
        w.patient("b", name="Борис")
        w.pay("a", "10000")  # 500 points at the default 5 %
        yield w


def _key(page: str, form_id: str) -> str:
    form = page[page.index(f'id="{form_id}"') :]
    match = re.search(r'name="key" value="([0-9a-f]{32})"', form)
    assert match, f"no idempotency key in {form_id}"
    return match.group(1)


def test_patient_card_shows_lots_entries_and_forms_by_role(
    world: World, owner: Persona, administrator: Persona
) -> None:
    page = owner.get("/patients/a").get_data(as_text=True)
    assert 'id="balance">500<' in page
    assert 'id="lots"' in page and "за оплату" in page
    assert 'id="spend-form"' in page and 'id="grant-form"' in page
    admin_page = administrator.get("/patients/a").get_data(as_text=True)
    assert 'id="spend-form"' in admin_page and 'id="grant-form"' not in admin_page


def test_a_double_submitted_spend_form_spends_once(world: World, administrator: Persona) -> None:
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    form = {"key": key, "bill": "1000", "points": "300"}
    first = administrator.post("/patients/a/bonuses/spend", form)
    second = administrator.post("/patients/a/bonuses/spend", form)
    assert first.status_code == second.status_code == 302
    assert world.balance("a") == 200
    page = administrator.get("/patients/a").get_data(as_text=True)
    assert "уже проведено" in page  # the flash of the second submit
    with world.factory() as s:
        entry = s.scalar(select(LedgerEntry).where(LedgerEntry.kind == "spend"))
        assert entry is not None and entry.created_by == "admin"


def test_spend_over_the_bill_share_is_refused(world: World, administrator: Persona) -> None:
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    administrator.post("/patients/a/bonuses/spend", {"key": key, "bill": "1000", "points": "301"})
    assert world.balance("a") == 500
    assert "не больше 30 % счёта" in administrator.get("/patients/a").get_data(as_text=True)


def test_the_card_names_each_entrys_basis_in_russian(world: World, administrator: Persona) -> None:
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    administrator.post("/patients/a/bonuses/spend", {"key": key, "bill": "1000", "points": "300"})
    page = administrator.get("/patients/a").get_data(as_text=True)
    ledger = page[page.index('id="ledger"') :]
    # The ledger keeps "300 ₽ of a 1 000 ₽ bill" and "5% of 10000 ₽" (core/loyalty/basis.py).
    assert "300\u00a0₽ из счёта 1\u202f000\u00a0₽" in ledger
    assert "5\u00a0% от 10\u202f000\u00a0₽" in ledger
    assert " bill" not in ledger and " of " not in ledger


@pytest.mark.parametrize("bill", ["1e400", "9" * 40, "100000001"])
def test_an_absurd_bill_is_refused_with_the_reason(
    world: World, administrator: Persona, bill: str
) -> None:
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    answer = administrator.post(
        "/patients/a/bonuses/spend", {"key": key, "bill": bill, "points": "1"}
    )
    assert answer.status_code < 500
    assert world.balance("a") == 500
    page = administrator.get("/patients/a").get_data(as_text=True)
    assert "Сумма счёта не больше 100\u00a0000\u00a0000 ₽." in page or "Сумма счёта должна" in page


def test_manual_grant_is_owner_only_and_records_who_and_why(
    world: World, owner: Persona, administrator: Persona, outsider: Persona
) -> None:
    key = _key(owner.get("/patients/a").get_data(as_text=True), "grant-form")
    form = {"key": key, "points": "250", "reason": "компенсация за ожидание"}
    assert administrator.post("/patients/a/bonuses/grant", form).status_code == 403
    assert outsider.post("/patients/a/bonuses/grant", form).status_code == 302
    assert world.balance("a") == 500
    owner.post("/patients/a/bonuses/grant", form)
    owner.post("/patients/a/bonuses/grant", form)
    assert world.balance("a") == 750
    with world.factory() as s:
        entry = s.scalar(select(LedgerEntry).where(LedgerEntry.kind == "manual"))
        assert entry is not None
        assert (entry.created_by, entry.note) == ("owner", "компенсация за ожидание")


def test_family_formed_in_the_panel_shares_points(world: World, administrator: Persona) -> None:
    administrator.post("/patients/a/family", {"action": "create"})
    administrator.post("/patients/a/family", {"action": "add", "who": "b"})
    assert world.balance("b") == 500  # Борис now sees the family's points
    world.pay("b", "2000")
    assert world.balance("a") == 600
    page = administrator.get("/patients/b").get_data(as_text=True)
    assert "семейный счёт «Семья Иванова»" in page and "Анна" in page
    administrator.post("/patients/b/family", {"action": "mute", "member": "a"})
    with world.factory() as s:
        member = accounts.member(s, "a")
        assert member is not None and member.muted
    # A member of another family cannot be touched from this card.
    assert (
        administrator.post("/patients/b/family", {"action": "remove", "member": "zz"}).status_code
        == 400
    )
    administrator.post("/patients/b/family", {"action": "remove", "member": "b"})
    assert world.balance("b") == 0 and world.balance("a") == 600


def test_settings_are_owner_only_validated_and_take_effect(
    world: World, owner: Persona, administrator: Persona
) -> None:
    assert administrator.get("/loyalty/settings").status_code == 403
    page = owner.get("/loyalty/settings").get_data(as_text=True)
    assert 'name="cashback_percent" value="5.0"' in page
    form = {"enabled": "on", "cashback_percent": "12,5", "tiers": "Золото:abc:1"}
    response = owner.post("/loyalty/settings", form)
    assert response.status_code == 400
    assert "loyalty.tiers" in response.get_data(as_text=True)
    owner.post("/loyalty/settings", {"enabled": "on", "cashback_percent": "12,5"})
    with world.factory() as s:
        stored = dict(s.execute(select(LoyaltySetting.key, LoyaltySetting.value)).all())
    assert stored == {"cashback_percent": 12.5}
    world.pay("b", "1000")
    assert world.balance("b") == 125


def _rows(page: str) -> dict[str, list[str]]:
    """Leaderboard rows by staff name: [place, name, connected, paying, points, link]."""
    rows = re.findall(r'<tr class="staff-row">(.*?)</tr>', page, re.S)
    cells = [re.findall(r"<td>(?:<code>)?(.*?)(?:</code>)?</td>", row) for row in rows]
    return {c[1]: c for c in cells}


def test_leaderboard_lists_staff_with_their_links(world: World, administrator: Persona) -> None:
    rows = _rows(administrator.get("/loyalty/leaderboard?period=previous").get_data(as_text=True))
    assert set(rows) == {"Ольга Админова", "Владелец Клиники"}
    link = rows["Ольга Админова"][5]
    assert re.fullmatch(r"/start s[a-z2-9]{8}", link)  # no bot username in the test config
    world.later(minutes=5)
    world.patient("n")
    world.connect("n", payload=link.split()[1])
    world.later(seconds=1)  # the board's period ends "now", exclusive; the clock is frozen
    rows = _rows(administrator.get("/loyalty/leaderboard").get_data(as_text=True))
    assert rows["Ольга Админова"][:5] == ["1", "Ольга Админова", "1", "0", "100"]
    assert rows["Владелец Клиники"][2] == "0"
    # The same link, shown again, is the same code.
    assert (
        _rows(administrator.get("/loyalty/leaderboard").get_data(as_text=True))["Ольга Админова"][5]
        == link
    )


def test_leaderboard_get_writes_nothing_links_are_made_by_a_post(
    world: World, administrator: Persona, outsider: Persona
) -> None:
    with world.factory() as s:
        # Staff accounts get their link when created.
        assert s.scalar(select(func.count(ReferralCode.code))) == 2
    with transaction(world.factory) as s:
        # An account from before links existed has none.
        s.execute(delete(ReferralCode).where(ReferralCode.owner_kind == "staff"))
    page = administrator.get("/loyalty/leaderboard").get_data(as_text=True)
    assert _rows(page)["Ольга Админова"][5] == "" and 'id="make-links"' in page
    with world.factory() as s:
        assert s.scalar(select(func.count(ReferralCode.code))) == 0
    # Without the CSRF token, or logged out, nothing is made.
    assert administrator.client.post("/loyalty/leaderboard/links").status_code == 400
    assert outsider.post("/loyalty/leaderboard/links").status_code == 302
    with world.factory() as s:
        assert s.scalar(select(func.count(ReferralCode.code))) == 0
    assert administrator.post("/loyalty/leaderboard/links").status_code == 302
    page = administrator.get("/loyalty/leaderboard").get_data(as_text=True)
    link = _rows(page)["Ольга Админова"][5]
    assert re.fullmatch(r"/start s[a-z2-9]{8}", link) and 'id="make-links"' not in page
    administrator.post("/loyalty/leaderboard/links")  # again: nothing new
    with world.factory() as s:
        assert s.scalar(select(func.count(ReferralCode.code))) == 2
    assert (
        _rows(administrator.get("/loyalty/leaderboard").get_data(as_text=True))["Ольга Админова"][5]
        == link
    )


def test_dashboard_counts_earned_points_only(
    world: World, owner: Persona, administrator: Persona
) -> None:
    """Moves between accounts and spends given back are not points accrued."""
    administrator.post("/patients/a/family", {"action": "create"})  # a transfer of 500
    deleted = world.pay("a", "100", method="bonus")  # spends 100 points
    world.refund(deleted)  # the bonus payment deleted: the 100 are restored
    world.pay("b", "2000")  # +100
    with world.factory() as s:
        kinds = {kind for (kind,) in s.execute(select(LedgerEntry.kind))}
    assert {"accrual", "transfer", "redemption", "restore"} <= kinds
    page = owner.get("/").get_data(as_text=True)
    assert 'id="stat-points-accrued">600<' in page
    with world.factory() as s:
        months = reports.economics(s, world.config, utcnow(), months=1)
    assert months[-1].accrued == 600


def test_economics_is_owner_only(world: World, owner: Persona, administrator: Persona) -> None:
    assert administrator.get("/loyalty/economics").status_code == 403
    page = owner.get("/loyalty/economics").get_data(as_text=True)
    assert 'id="outstanding">500<' in page
    # 500 points against a 5 % flat discount on 10 000 ₽: the same this month.
    assert "программа стоила 500\u00a0₽, а прежняя скидка" in page
    assert "стоила бы 500\u00a0₽" in page and "программа дешевле на 0\u00a0₽" in page
    with world.factory() as s:
        assert s.scalar(select(func.count(LedgerEntry.id))) == 1


def test_kabinet_ledger_verify_reports_a_tampered_cache(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from app.cli import cli
    from sandbox.demo import write_config

    path = tmp_path / "kabinet.toml"
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3")},
            "telegram": {"mode": "off"},
        },
    )
    ok = CliRunner().invoke(cli, ["--config", str(path), "ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    with world.factory() as s:
        s.execute(update(LoyaltyLot).values(remaining=7))
        s.commit()
    bad = CliRunner().invoke(cli, ["--config", str(path), "ledger", "verify"])
    assert bad.exit_code == 1
    assert "lot remainder" in bad.output and "cached 7, recomputed 500" in bad.output


# Malformed input on each of the card's and the owner's forms (app/views/loyalty_forms.py):
# refused with the reason in Russian, and the ledger as it was.


def _entries(world: World) -> int:
    with world.factory() as s:
        return s.scalar(select(func.count(LedgerEntry.id))) or 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": ""}, "Форма устарела: обновите страницу и повторите."),
        ({"key": "not-a-key"}, "Форма устарела: обновите страницу и повторите."),
        ({"key": "g" * 32}, "Форма устарела: обновите страницу и повторите."),
        ({"points": ""}, "Укажите, сколько бонусов списать."),
        ({"points": "сто"}, "Количество бонусов — целое число."),
        ({"points": "1.5"}, "Количество бонусов — целое число."),
        ({"points": "²"}, "Количество бонусов — целое число."),
        ({"points": "0"}, "Количество бонусов должно быть больше нуля."),
        ({"bill": ""}, "Укажите сумму счёта."),
        ({"bill": "тысяча"}, "Сумма счёта — число в рублях."),
        ({"bill": "1 000,5,0"}, "Сумма счёта — число в рублях."),
        ({"bill": "-5"}, "Сумма счёта должна быть больше нуля."),
        ({"bill": "NaN"}, "Сумма счёта должна быть больше нуля."),
    ],
)
def test_a_malformed_spend_is_refused_with_the_reason(
    world: World, administrator: Persona, change: dict[str, str], reason: str
) -> None:
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    form = {"key": key, "bill": "1000", "points": "100", **change}
    answer = administrator.post("/patients/a/bonuses/spend", form)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/patients/a#bonuses")
    assert reason in administrator.get("/patients/a").get_data(as_text=True)
    assert world.balance("a") == 500 and _entries(world) == 1


def test_a_spend_typed_as_at_the_desk_still_goes_through(
    world: World, administrator: Persona
) -> None:
    """The form's syntax is the desk's: spaces in the sum and a decimal comma."""
    key = _key(administrator.get("/patients/a").get_data(as_text=True), "spend-form")
    form = {"key": key.upper(), "bill": " 1 000,50 ", "points": " 300 "}
    assert administrator.post("/patients/a/bonuses/spend", form).status_code == 302
    assert world.balance("a") == 200
    assert "Списано 300 бонусов." in administrator.get("/patients/a").get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": "0" * 31}, "Форма устарела: обновите страницу и повторите."),
        ({"points": ""}, "Укажите, сколько бонусов начислить."),
        ({"points": "+-5"}, "Количество бонусов — целое число."),
        ({"points": "0"}, "Количество бонусов должно быть больше нуля."),
        ({"reason": ""}, "Укажите причину начисления."),
        ({"reason": "  "}, "Укажите причину начисления."),
        ({"reason": "я" * 1001}, "Причина — не длиннее 1000 символов."),
    ],
)
def test_a_malformed_grant_is_refused_with_the_reason(
    world: World, owner: Persona, change: dict[str, str], reason: str
) -> None:
    key = _key(owner.get("/patients/a").get_data(as_text=True), "grant-form")
    form = {"key": key, "points": "250", "reason": "компенсация", **change}
    answer = owner.post("/patients/a/bonuses/grant", form)
    assert answer.status_code == 302
    assert reason in owner.get("/patients/a").get_data(as_text=True)
    assert world.balance("a") == 500 and _entries(world) == 1


@pytest.mark.parametrize(
    "form",
    [
        {"kind": "review", "platform": "x" * 33},
        {"kind": "r" * 33, "platform": "yandex"},
        {"kind": "review", "platform": "google"},
        {},
    ],
)
def test_a_malformed_bonus_approval_is_refused(
    world: World, owner: Persona, administrator: Persona, form: dict[str, str]
) -> None:
    owner.post("/loyalty/settings", {"enabled": "on", "review_bonus": "200"})
    answer = administrator.post("/patients/a/bonuses/approve", form)
    assert answer.status_code == 302
    assert "Неизвестная площадка." in administrator.get("/patients/a").get_data(as_text=True)
    assert world.balance("a") == 500 and _entries(world) == 1
    # The same form, well formed, is what approves.
    administrator.post("/patients/a/bonuses/approve", {"kind": "review", "platform": "yandex"})
    assert world.balance("a") == 700


def test_malformed_family_forms_change_nothing(world: World, administrator: Persona) -> None:
    for action in ("", "explode", "create "):
        answer = administrator.post("/patients/a/family", {"action": action})
        assert answer.status_code == 400
        assert "Запрос не понят" in answer.get_data(as_text=True)
    assert administrator.post("/patients/a/family", {}).status_code == 400
    with world.factory() as s:
        assert accounts.member(s, "a") is None or accounts.member(s, "a").family_id is None  # type: ignore[union-attr]
    administrator.post("/patients/a/family", {"action": "create"})
    answer = administrator.post("/patients/a/family", {"action": "add", "who": "7" * 101})
    assert answer.status_code == 302
    page = administrator.get("/patients/a").get_data(as_text=True)
    assert "№ в МИС или телефон — не длиннее 100 символов." in page
    assert (
        administrator.post("/patients/a/family", {"action": "add", "who": "нет"}).status_code == 302
    )
    assert "Не нашли пациента" in administrator.get("/patients/a").get_data(as_text=True)
    long_member = {"action": "remove", "member": "b" * 65}
    assert administrator.post("/patients/a/family", long_member).status_code == 302
    assert "Такого члена семьи нет." in administrator.get("/patients/a").get_data(as_text=True)
    assert world.balance("b") == 0 and world.balance("a") == 500
    with world.factory() as s:
        assert accounts.member(s, "b") is None or accounts.member(s, "b").family_id is None  # type: ignore[union-attr]
        assert accounts.member(s, "a").family_id is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"tiers": "Золото:1:1;" * 200}, "Уровни по тратам за 12 месяцев: Значение — не длиннее"),
        ({"cashback_percent": "пять"}, "loyalty.cashback_percent"),
        ({"cashback_percent": "101"}, "loyalty.cashback_percent"),
        ({"expiry_days": "1.5"}, "loyalty.expiry_days"),
    ],
)
def test_malformed_settings_are_refused_and_nothing_is_stored(
    world: World, owner: Persona, form: dict[str, str], reason: str
) -> None:
    response = owner.post("/loyalty/settings", {"enabled": "on", **form})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Не сохранено:" in page and reason in page
    with world.factory() as s:
        assert s.scalar(select(func.count(LoyaltySetting.key))) == 0


def test_a_settings_checkbox_is_ticked_only_as_a_browser_ticks_it(
    world: World, owner: Persona
) -> None:
    owner.post("/loyalty/settings", {"enabled": "on", "bonus_screenshots": "yes"})
    with world.factory() as s:
        assert s.scalar(select(func.count(LoyaltySetting.key))) == 0  # "yes" is not ticked
    owner.post("/loyalty/settings", {"bonus_screenshots": "on"})
    with world.factory() as s:
        stored = dict(s.execute(select(LoyaltySetting.key, LoyaltySetting.value)).all())
    assert stored == {"enabled": False, "bonus_screenshots": True}


def test_the_links_form_returns_to_the_period_it_came_from(
    world: World, administrator: Persona
) -> None:
    answer = administrator.post("/loyalty/leaderboard/links", {"period": "previous"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("period=previous")
    answer = administrator.post("/loyalty/leaderboard/links")
    assert answer.headers["Location"].endswith("period=month")
