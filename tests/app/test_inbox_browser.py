"""The inbox in a real headless Chromium: a patient writes twice and sends a photo through
the Telegram emulator; one episode shows in the inbox with the photo; an administrator
takes it and replies; the patient receives the reply; the reply shows it was delivered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.models import Task
from sandbox.demo_clinic import persona
from tests.app.test_browser import browser, page, panel_url  # noqa: F401  (fixtures)
from tests.conftest import PASSWORDS, Wired
from tests.e2e import flows
from tests.sandbox.test_telegram_emulator import _png

pytestmark = [pytest.mark.browser, pytest.mark.clock]

PHOTO = _png(40, 30)


def test_one_episode_with_the_photo_taken_answered_and_closed(
    page: Any,  # noqa: F811
    wired: Wired,
    panel_url: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    emu = wired.emulator
    wired.appliance.sync_job()
    anna = persona("anna")
    chat = flows.connect(wired, "anna", anna.name, anna.surname)
    before = len(emu.messages(chat))
    emu.send_text(chat, "Здравствуйте! Болит зуб после пломбы.")
    emu.send_text(chat, "Можно сегодня?")
    emu.send_photo(chat, PHOTO, caption="вот снимок")

    def photo_stored() -> bool:
        with wired.appliance.factory() as s:
            return (
                s.scalar(select(ThreadMessage.file_state).where(ThreadMessage.kind == "photo"))
                == "stored"
            )

    wired.pump(
        lambda: (
            photo_stored()
            and len(emu.messages(wired.staff_chat_id)) == 1
            and len(emu.messages(chat)) == before + 1  # one acknowledgement
        )
    )
    seen = before + 1

    page.goto(panel_url + "/login")
    page.fill("#login", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("#login-submit")
    page.get_by_role("link", name="Задачи").click()
    rows = page.locator("#tasks tr.task")
    expect(rows).to_have_count(1)  # one episode, not three
    row = rows.first
    expect(row).to_contain_text("Болит зуб")
    expect(row.locator(".waiting")).to_contain_text(re.compile(r"\d+ мин"))
    row.get_by_role("link", name=re.compile("Болит зуб")).click()

    thread = page.locator("#thread")
    expect(thread.locator(".line.in")).to_have_count(3)
    photo = thread.locator("img.photo")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.naturalWidth") == 40
    expect(page.locator("#patient-card")).to_contain_text(anna.surname)

    page.get_by_role("button", name="Взять").click()
    expect(page.locator("#episode-state")).to_contain_text("в работе (Ольга Админова)")
    wired.pump(lambda: "Взял(а): Ольга Админова" in emu.messages(wired.staff_chat_id)[0]["text"])
    assert len(flows.buttons(emu.messages(wired.staff_chat_id)[0])) == 3  # still open

    page.fill("#reply-text", "Анна Сергеевна, приходите сегодня в 17:00.")
    page.locator("#reply").get_by_role("button", name="Отправить").click()
    sent = thread.locator(".line.reply")
    expect(sent).to_contain_text("приходите сегодня в 17:00")
    expect(sent).to_contain_text("Ольга Админова")

    received = wired.wait_messages(chat, seen + 1)[-1]
    assert received["text"] == "Анна Сергеевна, приходите сегодня в 17:00."
    page.reload()
    expect(thread.locator(".line.reply .delivery")).to_have_text("доставлено")

    page.get_by_role("button", name="Готово").click()
    expect(page.locator("#episode-state")).to_contain_text("готово")
    with wired.appliance.factory() as s:
        task = s.scalars(select(Task)).one()
        assert task.state == "done" and task.first_response_by == "Ольга Админова"

    # The staff group's message says so too, and has no buttons left to press.
    def group_post() -> dict:
        return emu.messages(wired.staff_chat_id)[0]

    wired.pump(lambda: "Готово: Ольга Админова" in group_post()["text"])
    assert flows.buttons(group_post()) == []
    assert "Болит зуб" in group_post()["text"]


def test_new_messages_appear_without_a_reload_and_a_photo_goes_from_the_panel(
    page: Any,  # noqa: F811
    wired: Wired,
    panel_url: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    emu = wired.emulator
    wired.appliance.sync_job()
    anna = persona("anna")
    chat = flows.connect(wired, "anna", anna.name, anna.surname)
    page.goto(panel_url + "/login")
    page.fill("#login", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("#login-submit")
    page.get_by_role("link", name="Задачи").click()
    rows = page.locator("#tasks tr.task")
    expect(rows).to_have_count(0)
    page.evaluate("window.kabinetMarker = 'not reloaded'")

    emu.send_text(chat, "Здравствуйте! Болит зуб.")
    wired.pump(lambda: len(emu.messages(wired.staff_chat_id)) == 1)
    expect(rows).to_have_count(1, timeout=10_000)  # the poll brought it
    expect(rows.first).to_contain_text("Болит зуб")
    assert page.evaluate("window.kabinetMarker") == "not reloaded"

    rows.first.get_by_role("link", name=re.compile("Болит зуб")).click()
    page.evaluate("window.kabinetMarker = 'not reloaded'")
    page.fill("#reply-text", "")
    emu.send_text(chat, "И десна опухла.")
    wired.pump(lambda: "десна" in emu.messages(wired.staff_chat_id)[0]["text"])
    thread = page.locator("#thread")
    expect(thread.locator(".line.in")).to_have_count(2, timeout=10_000)
    expect(thread).to_contain_text("И десна опухла.")
    assert page.evaluate("window.kabinetMarker") == "not reloaded"

    # A quick reply fills the box; a photo goes with it as its caption.
    quick = wired.config.conversations.quick_replies[0]
    page.locator("#quick-replies").get_by_role("button").first.click()
    expect(page.locator("#reply-text")).to_have_value(quick)
    page.set_input_files(
        "#reply-file", files=[{"name": "схема.png", "mimeType": "image/png", "buffer": PHOTO}]
    )
    page.locator("#reply").get_by_role("button", name="Отправить").click()
    expect(thread.locator(".line.out img.photo")).to_be_visible()

    def photo_received() -> dict | None:
        for message in emu.messages(chat):
            if "photo" in message:
                return message
        return None

    wired.pump(lambda: photo_received() is not None)
    got = photo_received()
    assert got is not None and got.get("caption") == quick
    assert got["photo"][-1]["width"] == 40
    expect(thread.locator(".line.out.photo .delivery")).to_have_text("доставлено", timeout=10_000)
