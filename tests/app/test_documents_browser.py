"""«Документы» in a real headless Chromium: an owner writes a template (an unknown field is
refused with the reason), sends it from the patient card, sees it waiting on Документы with
the weaker code-in-chat said plainly, and checks a file that is not a signed copy."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.app.test_browser import _screenshot, browser  # noqa: F401  (fixture)
from tests.app.test_documents_panel import config, vera  # noqa: F401  (fixtures)
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


def test_an_owner_writes_a_template_and_sends_it_from_the_card(
    browser,  # noqa: F811  (fixture)
    served: str,
    vera: int,  # noqa: F811  (fixtures)
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context(locale="ru-RU")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        tab.goto(served + "/login")
        tab.fill("#login", "owner")
        tab.fill("#password", PASSWORDS["owner"])
        tab.click("#login-submit")
        tab.click("nav >> text=Документы")
        expect(tab.locator("#code-method")).to_contain_text("Слабее")

        form = tab.locator("#template-form")
        form.locator("input[name=title]").fill("Согласие на обработку ПД")
        form.locator("textarea[name=body]").fill("<p>Я, {{ФИО}}, {{паспорт}}, согласна.</p>")
        form.locator("input[name=pep_allowed]").check()
        form.locator("button[type=submit]").click()
        expect(tab.locator(".flash.error")).to_contain_text("Неизвестные поля: {{паспорт}}")
        form = tab.locator("#template-form")
        form.locator("textarea[name=body]").fill(
            "<p>Я, {{ФИО}}, {{дата_рождения}} г. р., согласна.</p>"
        )
        form.locator("button[type=submit]").click()
        expect(tab.locator("#document-templates")).to_contain_text("Согласие на обработку ПД")

        tab.goto(served + "/patients/p-7")
        send = tab.locator("#send-document")
        send.locator("select[name=template]").select_option(label="Согласие на обработку ПД")
        send.locator("button[type=submit]").click()
        expect(tab.locator(".flash")).to_contain_text("отправлен пациенту на подпись")
        expect(tab.locator("#patient-documents [data-state=waiting]")).to_contain_text(
            "ждёт подписи"
        )

        tab.goto(served + "/documents/")
        expect(tab.locator("#documents-waiting h2")).to_have_text("Ждут подписи (1)")
        tab.locator("#verify-form input[name=pdf]").set_input_files(
            {"name": "copy.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 not signed"}
        )
        tab.locator("#verify-form button[type=submit]").click()
        expect(tab.locator("#verdict")).to_have_attribute("data-ok", "no")
        expect(tab.locator("#verdict")).to_contain_text("нет подписи клиники")
        _screenshot(tab, "panel-documents.png")
    finally:
        context.close()
