"""«Настройки» in a real headless Chromium: the owner refuses herself a bad quiet hour (the
reason shows, nothing changes), sets the 1-10 rating scale, sees it marked as changed in
the panel, and the next rating request the appliance makes asks on that scale."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, Doctor, OutboxMessage
from core.ratings.survey import plan_rating_requests
from tests.app.test_browser import _screenshot, browser, page, panel_url  # noqa: F401  (fixtures)
from tests.conftest import PASSWORDS, Wired
from tests.core.people import chat_for, patient

pytestmark = [pytest.mark.browser, pytest.mark.clock]


def _rating_request(wired: Wired, doctor: str) -> OutboxMessage:
    """Patient p1's visit ended just long enough ago: the rating request it brings."""
    factory = wired.appliance.factory
    with transaction(factory) as s:
        chat_for(s, patient(s, "p1"))
        end = utcnow() - timedelta(minutes=wired.config.messaging.rating_delay_minutes + 10)
        s.add(
            Appointment(
                mis_id="v1",
                patient_mis_id="p1",
                doctor_mis_id=doctor,
                starts_at=end - timedelta(minutes=30),
                ends_at=end,
                status="completed",
            )
        )
    assert plan_rating_requests(factory, wired.config) == 1
    with factory() as s:
        request = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "rating"))
    assert request is not None
    return request


def test_the_owner_changes_the_rating_scale_and_the_next_request_uses_it(
    wired: Wired,
    page: Any,  # noqa: F811
    panel_url: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    page.goto(panel_url + "/login")
    page.fill("#login", "owner")
    page.fill("#password", PASSWORDS["owner"])
    page.click("#login-submit")
    page.click("nav >> text=Настройки >> nth=-1")
    expect(page.locator("h1")).to_have_text("Настройки")

    page.fill("#f-messaging__quiet_hours_start", "25:00")
    page.select_option("#f-messaging__rating_scale", "1-10")
    page.click("#settings button[type=submit] >> nth=-1")
    expect(page.locator("body")).to_contain_text(
        "«Начало тихих часов»: «25:00» не подходит — время в виде ЧЧ:ММ"
    )
    page.goto(panel_url + "/settings/")
    expect(page.locator("#row-messaging__rating_scale")).to_contain_text("из файла")

    page.select_option("#f-messaging__rating_scale", "1-10")
    page.click("#settings button[type=submit] >> nth=-1")
    expect(page.locator("body")).to_contain_text("Сохранено: «Шкала оценки».")
    expect(page.locator("#row-messaging__rating_scale")).to_contain_text("изменено в панели")
    _screenshot(page, "panel-settings.png")

    with transaction(wired.appliance.factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
    request = _rating_request(wired, doctor="d1")
    scores = [b["text"] for row in request.reply_markup["inline_keyboard"] for b in row]
    assert [s for s in scores if re.fullmatch(r"\d+", s)] == [str(n) for n in range(1, 11)]


def test_the_owner_lists_two_review_platforms_and_the_next_request_offers_them(
    wired: Wired,
    page: Any,  # noqa: F811
    panel_url: str,  # noqa: F811
) -> None:
    """Two platforms set in the browser, a bad address refused in Russian, the policy
    chosen; the page shows them as the panel's, and the rating request carries them."""
    from playwright.sync_api import expect

    yandex = "https://yandex.ru/maps/org/ulybka/123/reviews/"
    gis = "https://2gis.ru/moscow/firm/123/tab/reviews"
    page.goto(panel_url + "/login")
    page.fill("#login", "owner")
    page.fill("#password", PASSWORDS["owner"])
    page.click("#login-submit")
    page.goto(panel_url + "/settings/")
    row = page.locator("#row-messaging__review_links")
    expect(row).to_contain_text("из файла")
    expect(row).to_contain_text("не заданы")

    page.select_option("#f-messaging__review_links-platform-0", "yandex")
    page.fill("#f-messaging__review_links", "http://yandex.ru/maps/org/ulybka")
    page.click("#settings button[type=submit] >> nth=-1")
    expect(page.locator("body")).to_contain_text(
        "«Площадки для отзывов», строка 1: «http://yandex.ru/maps/org/ulybka» не подходит"
    )
    # The refused row stays as typed, to be corrected.
    expect(page.locator("#f-messaging__review_links")).to_have_value(
        "http://yandex.ru/maps/org/ulybka"
    )
    page.fill("#f-messaging__review_links", yandex)
    page.select_option("#f-messaging__review_links-platform-1", "2gis")
    page.fill("#f-messaging__review_links-url-1", gis)
    page.select_option("#f-messaging__review_policy", "all")
    page.click("#settings button[type=submit] >> nth=-1")
    expect(page.locator("body")).to_contain_text("Сохранено: «Площадки для отзывов».")
    expect(row).to_contain_text("изменено в панели")
    expect(page.locator("#f-messaging__review_links-platform-0")).to_have_value("yandex")
    expect(page.locator("#f-messaging__review_links-platform-1")).to_have_value("2gis")
    expect(page.locator("#f-messaging__review_links-url-1")).to_have_value(gis)
    _screenshot(page, "panel-settings-review-links.png")

    request = _rating_request(wired, doctor="")
    assert request.reply_markup["inline_keyboard"][1:] == [
        [{"text": "✍️ Оставить отзыв на Яндекс Картах", "url": yandex}],
        [{"text": "✍️ Оставить отзыв в 2ГИС", "url": gis}],
    ]
