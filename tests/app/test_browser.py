"""The panel and the emulator's phone page in a real headless Chromium.

Uses the system Chromium (/usr/bin/chromium) through the playwright package; the
browsers playwright downloads itself are never needed. Screenshots land in
var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from core.db import transaction
from core.models import Task
from core.tasks import create_task
from sandbox.demo_clinic import persona
from tests.conftest import PASSWORDS, Wired
from tests.e2e import flows

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
TIMEOUT_MS = 10_000


def _missing(what: str) -> None:
    """No browser: a broken machine on CI, an optional extra on a laptop."""
    message = f"{what}; the browser tests need it (install the dev extras and chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def panel_url(wired: Wired, app_for) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The panel on the wired appliance's store, served over real HTTP."""
    server = make_server("127.0.0.1", 0, app_for(wired.config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="panel", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def _screenshot(tab: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    tab.screenshot(path=str(path), full_page=True)
    return path


def test_owner_finds_the_patient_with_her_confirmed_visit_and_bonus(
    page: Any, wired: Wired, demo_clinic, panel_url: str
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    loop = flows.confirmed_and_paid_visit(wired, demo_clinic, "anna", amount="3450.00")
    anna = persona("anna")

    # Logging in through the form, as the owner would.
    page.goto(panel_url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#login", "owner")
    page.fill("#password", PASSWORDS["owner"])
    page.click("#login-submit")
    expect(page.locator("h1")).to_have_text("Сводка")
    expect(page.locator("#stat-connected")).to_have_text("1")
    _screenshot(page, "panel-dashboard.png")

    # Patients -> search -> her card.
    page.get_by_role("link", name="Пациенты").click()
    expect(page.locator("h1")).to_contain_text("Пациенты")
    page.fill("#patient-search", "Иванова")
    page.get_by_role("button", name="Найти").click()
    expect(page).to_have_url(re.compile(r"q=%D0%98"))
    page.get_by_role("link", name=anna.full_name).click()

    expect(page.locator("#patient-name")).to_have_text(anna.full_name)
    expect(page.locator("#balance")).to_have_text("172")  # 5 % of 3450, rounded down
    visit = page.locator("#visits tr.visit:has(.confirmation:has-text('подтвердил'))")
    expect(visit).to_have_count(1)
    expect(visit).to_contain_text("10:00")
    expect(visit).to_contain_text("завершён")
    expect(page.locator("#ledger")).to_contain_text("+172")
    expect(page.locator("#payments")).to_contain_text("3\u202f450\u00a0₽")
    expect(page.locator(".card", has_text="Telegram")).to_contain_text("подключён")
    _screenshot(page, "panel-patient.png")

    # A request from the staff group's queue, taken and closed from the panel.
    with transaction(wired.appliance.factory) as s:
        task = create_task(
            s,
            wired.config,
            kind="reschedule",
            key="browser:1",
            text=f"Перенос: {anna.full_name}",
            patient_mis_id=str(anna.patient_id),
        )
        task_id = task.id
    page.get_by_role("link", name="Задачи").click()
    row = page.locator("#tasks tr.task", has_text=f"Перенос: {anna.full_name}")
    expect(row).to_contain_text("новая")
    row.get_by_role("button", name="Взять").click()
    expect(row).to_contain_text("в работе (Владелец Клиники)")
    _screenshot(page, "panel-tasks.png")
    row.get_by_role("button", name="Готово").click()
    expect(row).to_have_count(0)
    with wired.appliance.factory() as s:
        assert s.get(Task, task_id).state == "done"

    # The patient's side of the same story, on the emulator's phone page.
    page.goto(wired.emulator.phone_url(loop.chat))
    bubbles = page.locator("#messages .msg.bot .bubble")
    expect(bubbles).to_have_count(len(wired.emulator.messages(loop.chat)))
    expect(bubbles.last).to_contain_text("начислено 172 бонусов")
    expect(page.locator("#messages")).to_contain_text("Нажата кнопка «✅ Подтверждаю»")
    _screenshot(page, "phone-patient.png")


def test_a_patient_connects_through_the_phone_page(page: Any, wired: Wired, demo_clinic) -> None:  # type: ignore[no-untyped-def]
    """/start, the consent and "share my number" clicked in the page, as a person would."""
    from playwright.sync_api import expect

    emu = wired.emulator
    anna = persona("anna")
    wired.appliance.sync_job()
    user = emu.create_user(first_name=anna.name, last_name=anna.surname)
    chat = user["id"]

    page.goto(emu.phone_url(chat))
    page.click("#start-btn")
    wired.wait_messages(chat, 1)
    # The consent is its own step, answered with its inline button.
    page.get_by_role("button", name="✅ Согласен(на)").click()
    wired.wait_messages(chat, 2)
    share = page.locator("#reply-keyboard .reply-btn[data-request-contact]")
    expect(share).to_be_visible()
    share.click()
    # This user's number is unknown to the emulator, so the page asks for it.
    page.fill("#phone-input", anna.phone_as_typed)
    page.click("#phone-ok")
    wired.wait_messages(chat, 3)
    expect(page.locator("#messages .msg.bot").last).to_contain_text("Анна Сергеевна, здравствуйте!")
    expect(page.locator("#messages .msg.user .contact-card")).to_contain_text("ваш номер")
    # The request-contact keyboard is gone once the number is known.
    expect(share).to_have_count(0)
    _screenshot(page, "phone-connected.png")


def test_a_wrong_password_in_the_form_says_so(page: Any, wired: Wired, panel_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(panel_url + "/login")
    page.fill("#login", "owner")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    expect(page.locator(".flash.error")).to_have_text("Неверный логин или пароль.")
    expect(page.locator("#login-form")).to_be_visible()
    # The login stays typed in; the password is asked again.
    expect(page.locator("#login")).to_have_value("owner")
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#password")).to_be_focused()
