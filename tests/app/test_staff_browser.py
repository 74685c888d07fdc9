"""«Сотрудники» and «Журнал» in a real headless Chromium, as the owner uses them: she adds a
manager who then logs in with the password she chose, resets that password (the new one
is shown once; the old one stops working), gives a colleague a code for the bot's /link,
and reads and filters the audit log; the administrator is refused the log."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.conversations.models import StaffTelegram
from core.models import StaffUser
from tests.app.test_access_browser import _log_in, served, tabs  # noqa: F401  (fixtures)
from tests.app.test_browser import _screenshot, browser  # noqa: F401  (fixture)
from tests.conftest import PASSWORDS

# The last login and the log's «Когда» are checked against the clinic's clock and dates.
pytestmark = [pytest.mark.browser, pytest.mark.clock]

MARIA = {"login": "maria", "full_name": "Мария Петрова", "password": "maria-pass-123"}
SHOWN_MINUTE = "%d.%m.%Y %H:%M"


def _owner(tabs: Any, base: str) -> Any:  # noqa: F811
    tab = tabs()
    _log_in(tab, base, "owner", PASSWORDS["owner"])
    tab.get_by_role("link", name="Сотрудники").click()
    from playwright.sync_api import expect

    expect(tab.locator("h1")).to_have_text("Сотрудники")
    return tab


def _add_maria(owner: Any) -> Any:
    """Through the «Новый сотрудник» form, a manager with a password the owner chose; her
    row in the list."""
    from playwright.sync_api import expect

    form = owner.locator("#staff-form")
    form.locator("#login").fill(MARIA["login"])
    form.locator("#full_name").fill(MARIA["full_name"])
    form.locator("#role").select_option(label="управляющий")
    form.locator("#password").fill(MARIA["password"])
    form.get_by_role("button", name="Добавить").click()
    expect(owner.locator(".flash.info")).to_have_text("Сотрудник «maria» добавлен (управляющий).")
    # Her own password: nothing to show once.
    expect(owner.locator("#new-password")).to_have_count(0)
    return owner.locator('tr.staff-user[data-login="maria"]')


def _cells(row: Any) -> list[str]:
    return [t.strip() for t in row.locator("td").all_inner_texts()]


def _logs_in(tabs: Any, base: str, login: str, password: str) -> Any:  # noqa: F811
    """A fresh context (its own cookies) logging in; the tab, wherever it landed."""
    tab = tabs()
    _log_in(tab, base, login, password)
    return tab


def _reset_password(owner: Any, login: str) -> str:
    """The row's «Сбросить пароль», confirmed: the new password the page shows once."""
    from playwright.sync_api import expect

    asked: list[str] = []
    owner.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    owner.locator(f'tr.staff-user[data-login="{login}"]').get_by_role(
        "button", name="Сбросить пароль"
    ).click()
    expect(owner.locator(".flash.info")).to_have_text(
        f"Пароль «{login}» сброшен; его (её) сеансы завершены."
    )
    assert asked == [f"Сбросить пароль {login}?"]
    shown = owner.locator("#new-password")
    expect(shown).to_contain_text(f"Пароль для «{login}»:")
    expect(shown).to_contain_text("больше он нигде не показывается")
    password = shown.locator("code").inner_text().strip()
    assert len(password) >= 8
    return password


def test_the_owner_adds_a_manager_who_logs_in_and_her_last_login_shows(
    tabs,  # noqa: F811
    served: str,  # noqa: F811
    config,
    factory,
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    owner = _owner(tabs, served)
    row = _add_maria(owner)
    expect(row).to_have_attribute("data-active", "yes")
    assert _cells(row)[:6] == [
        "maria",
        "Мария Петрова",
        "управляющий",
        "работает",
        "не входил(а)",
        "0",
    ]
    expect(row.locator(".telegram")).to_have_text("не привязан")
    with factory() as s:
        assert s.scalar(select(StaffUser.role).where(StaffUser.login == "maria")) == "manager"

    before = utcnow()
    maria = _logs_in(tabs, served, "maria", MARIA["password"])
    expect(maria.locator("h1")).to_have_text("Сводка")
    expect(maria.locator(".who")).to_have_text("Мария Петрова (управляющий)")
    # A manager's panel: no staff screen, no log.
    expect(maria.get_by_role("link", name="Сотрудники")).to_have_count(0)
    expect(maria.get_by_role("link", name="Журнал")).to_have_count(0)
    after = utcnow()

    owner.reload()
    row = owner.locator('tr.staff-user[data-login="maria"]')
    shown = row.locator(".last-login").inner_text().strip()
    tz = config.clinic.tz
    assert shown in {m.astimezone(tz).strftime(SHOWN_MINUTE) for m in (before, after)}
    expect(row.locator(".sessions")).to_have_text("1")
    _screenshot(owner, "panel-staff-added.png")


def test_a_reset_password_replaces_the_old_one(
    tabs,  # noqa: F811
    served: str,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    owner = _owner(tabs, served)
    _add_maria(owner)
    maria = _logs_in(tabs, served, "maria", MARIA["password"])
    expect(maria.locator("h1")).to_have_text("Сводка")

    asked: list[str] = []
    owner.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    owner.locator('tr.staff-user[data-login="maria"]').get_by_role(
        "button", name="Сбросить пароль"
    ).click()
    expect(owner.locator("#new-password")).to_have_count(0)  # dismissed: nothing happened
    assert asked == ["Сбросить пароль maria?"]

    password = _reset_password(owner, "maria")
    assert password != MARIA["password"]
    expect(owner.locator('tr.staff-user[data-login="maria"] .sessions')).to_have_text("0")
    _screenshot(owner, "panel-staff-reset.png")

    # Her open session ended with the old password.
    maria.get_by_role("link", name="Пациенты").click()
    expect(maria.locator("#login-form")).to_be_visible()

    old = _logs_in(tabs, served, "maria", MARIA["password"])
    expect(old.locator(".flash.error")).to_have_text("Неверный логин или пароль.")
    expect(old.locator("#login-form")).to_be_visible()
    new = _logs_in(tabs, served, "maria", password)
    expect(new.locator("h1")).to_have_text("Сводка")
    expect(new.locator(".who")).to_have_text("Мария Петрова (управляющий)")

    # Shown once: the list, opened again, does not show it.
    owner.get_by_role("link", name="Сотрудники").click()
    expect(owner.locator("h1")).to_have_text("Сотрудники")
    expect(owner.locator("#new-password")).to_have_count(0)
    expect(owner.locator("body")).not_to_contain_text(password)


def test_the_owner_gives_a_colleague_a_telegram_link_code(
    tabs,  # noqa: F811
    served: str,  # noqa: F811
    factory,
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    owner = _owner(tabs, served)
    row = owner.locator('tr.staff-user[data-login="admin"]')
    expect(row.locator(".telegram")).to_have_text("не привязан")

    def code_shown() -> str:
        row.get_by_role("button", name="Код для Telegram").click()
        card = owner.locator("#telegram-code")
        expect(card).to_contain_text("Код привязки Telegram для «admin»:")
        expect(card).to_contain_text("Код действует 15 мин и только один раз.")
        found = re.search(r"/link ([2-9A-Z]{4}-[2-9A-Z]{4})", card.inner_text())
        assert found is not None, card.inner_text()
        return found.group(1)

    first = code_shown()
    _screenshot(owner, "panel-staff-telegram-code.png")
    expect(row.locator(".telegram")).to_have_text("не привязан")  # a code is no link yet
    second = code_shown()  # a second press: a new code, the first one stops working
    assert second != first
    with factory() as s:
        admin_id = s.scalar(select(StaffUser.id).where(StaffUser.login == "admin"))
        link = s.get(StaffTelegram, admin_id)
    assert link is not None and link.telegram_user_id is None
    # What the bot will accept is the code on the screen, and only the latest one.
    assert link.code_hash == hashlib.sha256(second.replace("-", "").encode()).hexdigest()

    owner.get_by_role("link", name="Сотрудники").click()
    expect(owner.locator("#telegram-code")).to_have_count(0)  # shown once


def _entries(tab: Any) -> list[dict[str, str]]:
    rows = tab.locator("#audit tr.entry")
    return [
        {
            "action": r.get_attribute("data-action") or "",
            "when": r.locator("td").nth(0).inner_text().strip(),
            "who": r.locator("td").nth(1).inner_text().strip().split("\n")[0],
            "what": r.locator("td").nth(3).inner_text(),
        }
        for r in rows.all()
    ]


def _filter(tab: Any, **fields: str) -> list[dict[str, str]]:
    """The log's filter form filled as given (the rest cleared) and submitted."""
    from playwright.sync_api import expect

    form = tab.locator("#audit-filter")
    form.locator("#user").select_option(fields.get("user", ""))
    form.locator("#action").select_option(fields.get("action", ""))
    form.locator("#table").fill(fields.get("table", ""))
    form.locator("#since").fill(fields.get("since", ""))
    form.locator("#until").fill(fields.get("until", ""))
    form.get_by_role("button", name="Показать").click()
    expect(tab.locator("h1")).to_have_text("Журнал изменений")
    entries = _entries(tab)
    expect(tab.locator("#audit-total")).to_have_text(f"Найдено записей: {len(entries)}")
    return entries


def test_the_owner_reads_and_filters_the_log_and_the_administrator_cannot(
    tabs,  # noqa: F811
    served: str,  # noqa: F811
    config,
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    tz = config.clinic.tz
    start = utcnow()
    owner = _owner(tabs, served)
    _add_maria(owner)
    _reset_password(owner, "maria")
    wrong = _logs_in(tabs, served, "maria", MARIA["password"])  # the old one: refused
    expect(wrong.locator(".flash.error")).to_have_text("Неверный логин или пароль.")
    end = utcnow()

    owner.get_by_role("link", name="Журнал").click()
    expect(owner.locator("h1")).to_have_text("Журнал изменений")
    entries = _entries(owner)
    expect(owner.locator("#audit-total")).to_have_text(f"Найдено записей: {len(entries)}")
    by_action = {e["action"]: e for e in entries}
    added, reset = by_action["staff.add"], by_action["staff.reset_password"]
    # Newest first: the refused login, the reset, the add.
    actions = [e["action"] for e in entries]
    assert actions.index("auth.login_failed") < actions.index("staff.reset_password")
    assert actions.index("staff.reset_password") < actions.index("staff.add")

    assert added["who"] == "owner" and reset["who"] == "owner"
    for entry in (added, reset):
        when = datetime.strptime(entry["when"], "%d.%m.%Y %H:%M:%S").replace(tzinfo=tz)
        assert start - timedelta(seconds=1) <= when <= end, entry["when"]
    assert "сотрудники" in added["what"] and "добавлено" in added["what"]
    assert "login: maria" in added["what"] and "full_name: Мария Петрова" in added["what"]
    assert "role: manager" in added["what"]
    assert "password_hash: ***" in added["what"] and MARIA["password"] not in added["what"]
    assert "сотрудники" in reset["what"] and "изменено" in reset["what"]
    assert "password_hash: *** → ***" in reset["what"]
    failed = owner.locator('#audit tr.entry[data-action="auth.login_failed"]')
    expect(failed.locator("td").nth(1)).to_contain_text("maria")
    expect(failed.locator("td").nth(2)).to_contain_text("неудачный вход")
    _screenshot(owner, "panel-audit.png")

    # By who: only maria's (her refused login), none of the owner's.
    mine = _filter(owner, user="maria")
    assert mine and {e["who"] for e in mine} == {"maria"}
    assert [e["action"] for e in mine] == ["auth.login_failed"]
    expect(owner.locator("#audit-filter #user")).to_have_value("maria")

    # By what: only the reset.
    [only] = _filter(owner, action="staff.reset_password")
    assert only["action"] == "staff.reset_password" and only["who"] == "owner"

    # By who and what together: the owner's add, not the owner's logins.
    [only] = _filter(owner, user="owner", action="staff.add")
    assert only["action"] == "staff.add"

    # By table: the staff table's changes, not the logins.
    staff_rows = _filter(owner, table="staff_users")
    assert {"staff.add", "staff.reset_password"} <= {e["action"] for e in staff_rows}
    assert "auth.login_failed" not in {e["action"] for e in staff_rows}

    # By the clinic's dates: the day of the add finds it, the day before finds nothing.
    day = datetime.strptime(added["when"], "%d.%m.%Y %H:%M:%S").date()
    that_day = _filter(owner, since=day.isoformat(), until=day.isoformat(), action="staff.add")
    assert [e["action"] for e in that_day] == ["staff.add"]
    before = (day - timedelta(days=1)).isoformat()
    assert _filter(owner, since=before, until=before) == []
    expect(owner.locator("#audit")).to_contain_text("Записей нет.")
    assert _filter(owner, since=(day + timedelta(days=2)).isoformat()) == []

    # Olga, the administrator: no link to the log, and the page itself refused.
    olga = _logs_in(tabs, served, "admin", PASSWORDS["admin"])
    expect(olga.locator("h1")).to_have_text("Сводка")
    expect(olga.get_by_role("link", name="Журнал")).to_have_count(0)
    expect(olga.get_by_role("link", name="Сотрудники")).to_have_count(0)
    for path in ("/audit/", "/audit/?user=owner", "/staff/"):
        response = olga.goto(served + path)
        assert response is not None and response.status == 403
        expect(olga.locator("#error h1")).to_have_text("Ошибка 403")
        expect(olga.locator("#error")).to_contain_text("Недостаточно прав для этой страницы.")
        expect(olga.locator("#audit")).to_have_count(0)
