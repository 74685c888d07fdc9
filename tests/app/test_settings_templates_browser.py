"""«Тексты сообщений» in a real headless Chromium: the groups open by their heading, the
preview under a text follows what the owner types (app/static/settings.js, under the
panel's CSP), an unknown placeholder shows the reason at once, saving it is refused, and a
good text is saved (its group stays open) and reverted — a text of the first release and a
bonus notice added later."""

from __future__ import annotations

from typing import Any

import pytest

from core import texts
from tests.app.test_browser import _screenshot, browser, page, panel_url  # noqa: F401  (fixtures)
from tests.conftest import PASSWORDS, Wired

pytestmark = [pytest.mark.browser]


def test_the_owner_edits_a_text_and_watches_the_preview(
    wired: Wired,
    page: Any,  # noqa: F811
    panel_url: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(panel_url + "/login")
    page.fill("#login", "owner")
    page.fill("#password", PASSWORDS["owner"])
    page.click("#login-submit")
    page.goto(panel_url + "/settings/")
    page.click("text=Тексты сообщений")
    expect(page.locator("h1")).to_have_text("Тексты сообщений")

    expect(page.locator("#f-birthday-ru")).to_be_hidden()  # the groups start closed
    page.click("#g-mailings > summary")
    preview = page.locator("#p-birthday-ru")
    expect(preview).to_contain_text("Анна Петровна, с днём рождения!")
    page.fill("#f-birthday-ru", "{name}, с праздником! Ваш {doctor}")
    expect(preview).to_contain_text("подстановки {doctor} здесь нет — можно: {name}, {clinic}.")
    page.fill("#f-birthday-ru", "{name}, с праздником от «{clinic}»!")
    expect(preview).to_contain_text("Анна Петровна, с праздником от «Тестовая клиника»!")
    page.fill("#f-birthday-en", "Happy birthday, {age}")
    expect(page.locator("#p-birthday-en")).to_contain_text("подстановки {age} здесь нет")
    page.click("#t-birthday button[value=save]")
    expect(page.locator("body")).to_contain_text("Не сохранено: «С днём рождения» (по-английски)")

    page.fill("#f-birthday-en", "Happy birthday, {name}!")
    page.click("#t-birthday button[value=save]")
    expect(page.locator("body")).to_contain_text("Сохранено: «С днём рождения».")
    expect(page.locator("#t-birthday")).to_contain_text("изменено в панели")
    _screenshot(page, "panel-templates.png")
    assert texts.render("birthday", "ru", name="Анна", clinic="К") == "Анна, с праздником от «К»!"

    page.click("#t-birthday >> text=вернуть исходный текст >> nth=0")
    expect(page.locator("body")).to_contain_text("снова действует исходный текст")
    expect(page.locator("#f-birthday-ru")).to_have_value(texts.CATALOGUE["birthday"]["ru"])

    # A bonus notice, from the list of groups at the top.
    page.click("nav.template-groups >> text=Бонусы >> nth=0")
    bonus = page.locator("#p-bonus_accrued-ru")
    expect(bonus).to_contain_text("Анна Петровна, начислено 250 бонусов за оплату 5000 ₽.")
    page.fill("#f-bonus_accrued-ru", "{name}: +{points} за визит {when}")
    expect(bonus).to_contain_text("подстановки {when} здесь нет — можно: {name}, {points},")
    page.fill("#f-bonus_accrued-ru", "{name}, +{points} бонусов! Теперь у вас {balance}.")
    expect(bonus).to_contain_text("Анна Петровна, +250 бонусов! Теперь у вас 1250.")
    page.click("#t-bonus_accrued button[value=save]")
    expect(page.locator("body")).to_contain_text("Сохранено: «Начислены бонусы за оплату».")
    expect(page.locator("#t-bonus_accrued")).to_be_visible()  # its group is open again
    expect(page.locator("#t-bonus_accrued")).to_contain_text("изменено в панели")
    assert texts.render("bonus_accrued", "ru", name="А", points=5, balance=9, amount=1) == (
        "А, +5 бонусов! Теперь у вас 9."
    )
    assert not [e for e in errors if "Content Security Policy" in e]
