"""A campaign in a real headless Chromium: the manager starts from the hygiene recall,
previews who gets it (count and sample), confirms «Отправить сейчас», and watches the
progress bar and the results move as the appliance sends it through the Telegram
emulator and the patient presses «Записаться»."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, Campaign, Doctor, PatientLink, Subscriber, Task
from tests.app.test_browser import _screenshot, browser, page, panel_url  # noqa: F401  (fixtures)
from tests.conftest import PASSWORDS, Wired, add_manager
from tests.core.people import patient
from tests.e2e.flows import start_and_consent

pytestmark = [pytest.mark.browser, pytest.mark.clock]


def _chat(wired: Wired, mis_id: str, first: str) -> tuple[int, int]:
    """A Telegram user who started the bot and consented, linked to a patient straight in
    the store (the MIS and the contact are not this test's subject); (chat, messages seen)."""
    chat = wired.emulator.create_user(first_name=first)["id"]
    seen = start_and_consent(wired, chat)
    with transaction(wired.appliance.factory) as s:
        patient(s, mis_id, first=first, middle="Петровна", last="Смирнова")
        sub = s.scalars(select(Subscriber).where(Subscriber.chat_id == chat)).one()
        sub.consent_at = sub.consent_at or utcnow()
        s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=mis_id, phone=""))
    return chat, seen


def _visit(s: Any, mis_id: str, days_ago: int) -> None:
    starts = utcnow() - timedelta(days=days_ago)
    s.add(
        Appointment(
            mis_id=f"v-{mis_id}-{days_ago}",
            patient_mis_id=mis_id,
            doctor_mis_id="hyg",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            status="completed",
        )
    )


def test_the_manager_sends_the_hygiene_recall_and_watches_it_go(
    wired: Wired,
    app_for,
    page: Any,  # noqa: F811
    panel_url: str,  # noqa: F811
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    emu, factory = wired.emulator, wired.appliance.factory
    due, seen = _chat(wired, "p-due", "Вера")
    plus, seen_plus = _chat(wired, "p-plus", "Зоя")
    recent, seen_recent = _chat(wired, "p-recent", "Ольга")
    with transaction(factory) as s:
        s.add(Doctor(mis_id="hyg", full_name="Гигиенова Г. Г.", specialty="Гигиенист"))
        _visit(s, "p-due", 220)
        _visit(s, "p-plus", 400)  # seven months ago: due
        _visit(s, "p-recent", 40)
    add_manager(app_for(wired.config))

    page.goto(panel_url + "/login")
    page.fill("#login", "manager")
    page.fill("#password", PASSWORDS["manager"])
    page.click("#login-submit")
    page.goto(panel_url + "/campaigns/")
    page.click("#preset-hygiene_recall")
    expect(page.locator("input[name=last_visit_months]")).to_have_value("6")
    page.click("#preview-button")
    expect(page.locator("#preview-count")).to_have_text("2")
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Вера Петровна")
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Зоя Петровна")
    expect(page.locator("#preview-sample")).not_to_contain_text("Ольга")
    expect(page.locator("#preview-text")).to_contain_text("Петровна, с последней")
    expect(page.locator("#confirm-button")).to_have_text("Отправить сейчас")
    _screenshot(page, "panel-campaign-preview.png")

    # The confirmation asks once more, with the count; dismissed, nothing is sent.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#confirm-button")
    with factory() as s:
        assert s.scalars(select(Campaign)).all() == []
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#confirm-button")
    expect(page.locator("h1")).to_contain_text("Пора на профессиональную гигиену")
    assert questions == ["Отправить рассылку 2 пациентам сейчас?"]
    expect(page.locator("#campaign-state")).to_have_text("запланирована")

    # The appliance expands and sends it; the page follows by itself (panel.js's poll).
    assert wired.appliance.campaigns_job() == 2
    expect(page.locator("#campaign-state")).to_have_text("отправляется")
    expect(page.locator("#r-waiting")).to_have_text("2")
    message = wired.wait_messages(due, seen + 1)[-1]
    wired.wait_messages(plus, seen_plus + 1)
    assert len(emu.messages(recent)) == seen_recent
    expect(page.locator("#r-delivered")).to_have_text("2")
    expect(page.locator("#campaign-bar")).to_have_attribute("value", "2")
    expect(page.locator("#campaign-percent")).to_have_text("100%")

    book = message["reply_markup"]["inline_keyboard"][0][0]
    assert book["text"] == "📅 Записаться"
    emu.press(due, message["message_id"], book["callback_data"])
    answer = wired.wait_messages(due, seen + 2)[-1]
    assert "Администратор свяжется с вами" in answer["text"]
    expect(page.locator("#r-bookings")).to_have_text("1")
    # The other answers «+»: a booking episode too, with her «+» as its line, and a reply.
    emu.send_text(plus, "+")
    answer = wired.wait_messages(plus, seen_plus + 2)[-1]
    assert "Администратор свяжется с вами" in answer["text"]
    expect(page.locator("#r-bookings")).to_have_text("2")
    expect(page.locator("#r-replies")).to_have_text("1")
    wired.appliance.campaigns_job()
    expect(page.locator("#campaign-state")).to_have_text("завершена")
    expect(page.locator("#cancel-campaign")).to_have_count(0)
    _screenshot(page, "panel-campaign-results.png")
    with factory() as s:
        tasks = {t.patient_mis_id: t for t in s.scalars(select(Task).where(Task.kind == "booking"))}
        assert set(tasks) == {"p-due", "p-plus"}
        assert all(t.conversation_id is not None for t in tasks.values())
        # «+» joined its episode as the patient's line; no second, plain message episode.
        assert tasks["p-plus"].message_count == 1
        assert s.scalars(select(Task).where(Task.kind == "message")).all() == []
