"""Campaigns in a real headless Chromium. The manager starts from the hygiene recall,
previews who gets it (count and sample), confirms «Отправить сейчас», and watches the
progress bar and the results move as the appliance sends it through the Telegram
emulator and the patient presses «Записаться». She also builds segments by hand: one
scheduled for later and cancelled before it goes, one sent at once; bad input is refused
with the reason in Russian and creates nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import ledger
from core.clock import local_now, utcnow
from core.db import transaction
from core.models import (
    Appointment,
    Campaign,
    Doctor,
    OutboxMessage,
    PatientLink,
    Subscriber,
    Task,
)
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


def _visit(s: Any, mis_id: str, days_ago: int, doctor: str = "hyg") -> None:
    starts = utcnow() - timedelta(days=days_ago)
    s.add(
        Appointment(
            mis_id=f"v-{mis_id}-{days_ago}",
            patient_mis_id=mis_id,
            doctor_mis_id=doctor,
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


def _login(tab: Any, url: str) -> None:
    tab.goto(url + "/login")
    tab.fill("#login", "manager")
    tab.fill("#password", PASSWORDS["manager"])
    tab.click("#login-submit")


def _accepting(tab: Any) -> list[str]:
    """Accept the next confirmation dialog, keeping its question."""
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    tab.once("dialog", accept)
    return questions


def _campaigns(factory: Any) -> list[Campaign]:
    with factory() as s:
        return list(s.scalars(select(Campaign).order_by(Campaign.id)))


def _outbox(factory: Any) -> list[OutboxMessage]:
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.campaign_id.is_not(None))))


def test_the_manager_builds_segments_by_hand_schedules_cancels_and_sends(
    wired: Wired,
    app_for,
    page: Any,  # noqa: F811
    panel_url: str,  # noqa: F811
    clock,
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    emu, factory = wired.emulator, wired.appliance.factory
    tz = wired.config.clinic.tz
    # Four patients, each a chat that may receive mailings. Segment A, «last visit 3 months
    # ago or more, and was at the orthodontist»: Vera and Zoya. Olga saw him too but came
    # back (to the hygienist) 20 days ago; Nina's old visit was not to him.
    # Segment B, «balance above 500»: Nina (900) and Olga (700), not Zoya (exactly 500).
    chats: dict[str, tuple[int, int]] = {}
    for mis_id, first in (
        ("p-vera", "Вера"),
        ("p-zoya", "Зоя"),
        ("p-olga", "Ольга"),
        ("p-nina", "Нина"),
    ):
        chats[first] = _chat(wired, mis_id, first)
    with transaction(factory) as s:
        s.add(Doctor(mis_id="hyg", full_name="Гигиенова Г. Г.", specialty="Гигиенист"))
        s.add(Doctor(mis_id="ort", full_name="Козлов К. К.", specialty="Ортодонт"))
        _visit(s, "p-vera", 200, doctor="ort")
        _visit(s, "p-zoya", 300, doctor="ort")
        _visit(s, "p-olga", 200, doctor="ort")
        _visit(s, "p-olga", 20)
        _visit(s, "p-nina", 200)
        for mis_id, points in (("p-nina", 900), ("p-olga", 700), ("p-zoya", 500)):
            account = ledger.account_for(s, "patient", mis_id)
            ledger.credit(s, account, points, kind="accrual", cause=f"seed-{mis_id}")
    add_manager(app_for(wired.config))
    _login(page, panel_url)
    page.goto(panel_url + "/campaigns/")
    expect(page.locator("#campaigns")).to_contain_text("Рассылок ещё не было.")

    # Bad input. A negative number of months: the browser itself refuses to submit it...
    form = page.locator("#new-campaign")
    page.fill("input[name=last_visit_months]", "-3")
    page.fill("input[name=title]", "Ортодонт: контроль")
    page.fill("textarea[name=text]", "{name}, пора на контроль к ортодонту.")
    page.click("#preview-button")
    months = page.locator("input[name=last_visit_months]")
    assert months.evaluate("el => el.validity.valid") is False
    expect(page.locator("#campaign-errors")).to_have_count(0)
    # ...and the server, when the browser does not check (an old one, a script): the reason
    # in Russian, the typed values kept, no preview and nothing created.
    form.evaluate("f => { f.noValidate = true; }")
    page.click("#preview-button")
    expect(page.locator("#campaign-errors")).to_contain_text(
        "«Последний визит, месяцев назад»: нужно целое неотрицательное число."
    )
    expect(page.locator("#campaign-preview")).to_have_count(0)
    expect(page.locator("input[name=last_visit_months]")).to_have_value("-3")
    expect(page.locator("input[name=title]")).to_have_value("Ортодонт: контроль")
    # A text of blanks passes the browser's «required» but is no text.
    page.fill("input[name=last_visit_months]", "3")
    page.fill("textarea[name=text]", "   ")
    page.click("#preview-button")
    expect(page.locator("#campaign-errors")).to_have_text("У рассылки нет текста.")
    expect(page.locator("#campaign-preview")).to_have_count(0)
    assert _campaigns(factory) == []

    # Segment A by hand, scheduled for the day after tomorrow at 10:00 in the clinic.
    page.fill("input[name=last_visit_months]", "3")
    page.select_option("select[name=doctor]", "ort")
    page.fill("textarea[name=text]", "{name}, пора на контроль к ортодонту.")
    page.check("input[name=when][value=later]")
    day = (local_now(tz) + timedelta(days=2)).date()
    page.fill("input[name=send_at]", f"{day.isoformat()}T10:00")
    page.click("#preview-button")
    expect(page.locator("#campaign-errors")).to_have_count(0)
    expect(page.locator("#preview-count")).to_have_text("2")
    sample = page.locator("#preview-sample tbody tr")
    expect(sample).to_have_count(2)
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Вера Петровна")
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Зоя Петровна")
    for other in ("Ольга", "Нина"):
        expect(page.locator("#preview-sample")).not_to_contain_text(other)
    expect(page.locator("#preview-text")).to_have_text(
        re.compile(r"^(Вера|Зоя) Петровна, пора на контроль к ортодонту\.$")
    )
    when = f"{day:%d.%m.%Y} 10:00"
    expect(page.locator("#confirm-button")).to_have_text(f"Запланировать на {when}")

    # A form changed after the preview (here a hidden field made nonsense) is refused too.
    page.locator("#confirm-campaign input[name=last_visit_months]").evaluate(
        "el => { el.value = 'abc'; }"
    )
    questions = _accepting(page)
    page.click("#confirm-button")
    expect(page.locator("#campaign-errors")).to_contain_text("нужно целое неотрицательное число")
    assert questions == [f"Запланировать рассылку для 2 пациентов на {when}?"]
    assert _campaigns(factory) == []

    # Preview again, confirm: scheduled, not sent.
    page.fill("input[name=last_visit_months]", "3")
    page.click("#preview-button")
    expect(page.locator("#preview-count")).to_have_text("2")
    questions = _accepting(page)
    page.click("#confirm-button")
    expect(page.locator("h1")).to_have_text("Рассылка «Ортодонт: контроль»")
    assert questions == [f"Запланировать рассылку для 2 пациентов на {when}?"]
    expect(page.locator(".flash")).to_contain_text(f"запланирована на {when}")
    expect(page.locator("#campaign-state")).to_have_text("запланирована")
    expect(page.locator("#campaign-progress")).to_contain_text(f"Начнётся {day:%d.%m.%Y} в 10:00")
    (scheduled,) = _campaigns(factory)
    assert scheduled.state == "scheduled"
    assert scheduled.send_at.astimezone(tz).strftime("%d.%m.%Y %H:%M") == when
    # The appliance's campaigns job leaves it be until then: no outbox, no message.
    assert wired.appliance.campaigns_job() == 0
    assert _outbox(factory) == []
    for first, (chat, seen) in chats.items():
        assert len(emu.messages(chat)) == seen, first
    page.goto(panel_url + "/campaigns/")
    row = page.locator(f"tr.campaign[data-id='{scheduled.id}']")
    expect(row).to_have_attribute("data-state", "scheduled")
    expect(row).to_contain_text("Ортодонт: контроль")
    expect(row).to_contain_text("запланирована")
    expect(row.locator("td.progress")).to_contain_text("0 из 0")

    # Cancelled from its page before it goes.
    row.locator("a").click()
    expect(page.locator("#campaign-state")).to_have_text("запланирована")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-campaign button")
    expect(page.locator("#campaign-state")).to_have_text("отменена")
    expect(page.locator(".flash")).to_contain_text("Рассылка отменена; не отправлено: 0.")
    expect(page.locator("#cancel-campaign")).to_have_count(0)
    with factory() as s:
        assert s.get(Campaign, scheduled.id).state == "cancelled"  # type: ignore[union-attr]

    # Segment B by hand, from the empty form, sent now.
    page.goto(panel_url + "/campaigns/")
    page.fill("input[name=balance_above]", "500")
    page.fill("input[name=title]", "Бонусы")
    page.fill("textarea[name=text]", "{name}, у вас {balance} баллов — ждём вас!")
    page.click("#preview-button")
    expect(page.locator("#preview-count")).to_have_text("2")
    expect(page.locator("#preview-sample tbody tr")).to_have_count(2)
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Нина Петровна")
    expect(page.locator("#preview-sample")).to_contain_text("Смирнова Ольга Петровна")
    for other in ("Вера", "Зоя"):
        expect(page.locator("#preview-sample")).not_to_contain_text(other)
    expect(page.locator("#preview-text")).to_have_text(
        re.compile(r"^(Нина Петровна, у вас 900|Ольга Петровна, у вас 700) баллов — ждём вас!$")
    )
    expect(page.locator("#confirm-button")).to_have_text("Отправить сейчас")
    questions = _accepting(page)
    page.click("#confirm-button")
    expect(page.locator("h1")).to_have_text("Рассылка «Бонусы»")
    assert questions == ["Отправить рассылку 2 пациентам сейчас?"]
    sent = _campaigns(factory)[-1]
    assert sent.id != scheduled.id and sent.send_at <= utcnow()

    assert wired.appliance.campaigns_job() == 2
    expect(page.locator("#campaign-state")).to_have_text("отправляется")
    expect(page.locator("#r-recipients")).to_have_text("2")
    for first, points in (("Нина", 900), ("Ольга", 700)):
        chat, seen = chats[first]
        text = wired.wait_messages(chat, seen + 1)[-1]["text"]
        assert text == f"{first} Петровна, у вас {points} баллов — ждём вас!"
    for first in ("Вера", "Зоя"):
        chat, seen = chats[first]
        assert len(emu.messages(chat)) == seen, first
    expect(page.locator("#r-delivered")).to_have_text("2")
    expect(page.locator("#r-waiting")).to_have_text("0")
    expect(page.locator("#campaign-bar")).to_have_attribute("value", "2")
    expect(page.locator("#campaign-percent")).to_have_text("100%")
    wired.appliance.campaigns_job()
    expect(page.locator("#campaign-state")).to_have_text("завершена")
    expect(page.locator("#cancel-campaign")).to_have_count(0)
    _screenshot(page, "panel-campaign-by-hand.png")
    page.goto(panel_url + "/campaigns/")
    expect(page.locator(f"tr.campaign[data-id='{sent.id}'] td.progress")).to_contain_text("2 из 2")
    expect(page.locator(f"tr.campaign[data-id='{scheduled.id}']")).to_contain_text("отменена")

    # Past the cancelled one's moment, it still sends nothing.
    clock.advance(timedelta(days=3))
    assert wired.appliance.campaigns_job() == 0
    assert {m.campaign_id for m in _outbox(factory)} == {sent.id}
    for first in ("Вера", "Зоя"):
        chat, seen = chats[first]
        assert len(emu.messages(chat)) == seen, first
