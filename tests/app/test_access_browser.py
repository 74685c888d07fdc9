"""Access in a real headless Chromium: the lockout after repeated wrong passwords, a
session ended by logout (a copy of its cookie opens nothing), and the panel's one script
working under the CSP (a confirmation before a staff user is deactivated)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from core.models import StaffUser
from tests.app.test_browser import _screenshot, browser  # noqa: F401  (fixture)
from tests.conftest import PASSWORDS

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="panel", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


@pytest.fixture
def tabs(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]  # noqa: F811
    """New browser contexts (separate cookie jars), closed at the end; CSP reports kept."""
    made: list[Any] = []
    violations: list[str] = []

    def new(cookies: list[dict] | None = None) -> Any:
        context = browser.new_context(locale="ru-RU")
        context.set_default_timeout(10_000)
        if cookies:
            context.add_cookies(cookies)
        made.append(context)
        tab = context.new_page()
        tab.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return tab

    new.violations = violations  # type: ignore[attr-defined]
    yield new
    for context in made:
        context.close()
    assert violations == []


def _log_in(tab: Any, base: str, login: str, password: str) -> None:
    tab.goto(base + "/login")
    tab.fill("#login", login)
    tab.fill("#password", password)
    tab.click("#login-submit")


def test_the_form_locks_after_repeated_wrong_passwords(tabs, served: str, config) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    tab = tabs()
    for _ in range(config.web.login_attempts):
        _log_in(tab, served, "owner", "wrong-password")
        expect(tab.locator(".flash.error")).to_have_text("Неверный логин или пароль.")
    _log_in(tab, served, "owner", PASSWORDS["owner"])  # the right one, too late
    expect(tab.locator(".flash.error")).to_contain_text(
        "Слишком много неудачных попыток входа. Попробуйте снова через 15 мин."
    )
    expect(tab.locator("#login-form")).to_be_visible()
    tab.goto(served + "/")
    expect(tab).to_have_url(f"{served}/login?next=%2F")
    _screenshot(tab, "panel-lockout.png")


def test_a_session_ended_by_logout_stays_ended(tabs, served: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    tab = tabs()
    _log_in(tab, served, "owner", PASSWORDS["owner"])
    expect(tab.locator("h1")).to_have_text("Сводка")
    copied = tab.context.cookies()
    copy = tabs(copied)
    copy.goto(served + "/patients/")
    expect(copy.locator("h1")).to_contain_text("Пациенты")  # the copy works until logout

    tab.get_by_role("button", name="Выйти").click()
    expect(tab.locator("#login-form")).to_be_visible()
    tab.go_back()  # back to the dashboard, fetched again (no-store): the login form
    tab.reload()
    expect(tab.locator("#login-form")).to_be_visible()
    copy.goto(served + "/patients/")  # and the copied cookie opens nothing
    expect(copy.locator("#login-form")).to_be_visible()
    expect(copy).to_have_url(f"{served}/login?next=%2Fpatients%2F")


def test_deactivating_asks_first_and_ends_her_session(tabs, served: str, factory) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    olga = tabs()
    _log_in(olga, served, "admin", PASSWORDS["admin"])
    expect(olga.locator("h1")).to_have_text("Сводка")

    owner = tabs()
    _log_in(owner, served, "owner", PASSWORDS["owner"])
    owner.get_by_role("link", name="Сотрудники").click()
    row = owner.locator('tr.staff-user[data-login="admin"]')
    asked: list[str] = []
    owner.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    row.get_by_role("button", name="Отключить").click()
    expect(row).to_have_attribute("data-active", "yes")  # dismissed: nothing happened
    assert asked and "Отключить admin?" in asked[0]
    owner.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Отключить").click()
    expect(owner.locator('tr.staff-user[data-login="admin"]')).to_have_attribute(
        "data-active", "no"
    )
    _screenshot(owner, "panel-staff.png")
    with factory() as s:
        assert not s.scalar(select(StaffUser.active).where(StaffUser.login == "admin"))

    olga.get_by_role("link", name="Пациенты").click()
    expect(olga.locator("#login-form")).to_be_visible()
