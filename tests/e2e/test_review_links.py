"""Review links end to end, through the Bot API emulator: after a visit the rating request
carries one button per platform, each the appliance's tracked /r/<token> link (web.public_url
set); the patient opening one is counted and the report «Ссылки на отзывы» shows it; a score
given afterwards leaves the buttons as they were."""

from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.clock import local_now
from core.ratings.models import ReviewOffer
from core.ratings.survey import plan_rating_requests
from sandbox.demo_clinic import persona
from tests.conftest import Persona, Wired, clinic_now
from tests.e2e.flows import connect

pytestmark = pytest.mark.clock

PUBLIC = "https://kabinet.ulybka.ru"
YANDEX = "https://yandex.ru/maps/org/ulybka/123/reviews/"
GIS = "https://2gis.ru/moscow/firm/123/tab/reviews"


def _inline(message: dict) -> list[list[dict]]:
    return (message.get("reply_markup") or {}).get("inline_keyboard", [])


def test_the_button_is_the_tracked_link_and_an_open_reaches_the_report(
    wired: Wired, demo_clinic, app_for
) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = connect(wired, "anna", "Аня")
    doctor_id = demo_clinic.doctors()[0][0]
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0)
    demo_clinic.complete(demo_clinic.book(anna.patient_id, doctor_id, start, minutes=30))
    appliance.sync_job()
    config = wired.config.replace(
        web={"public_url": PUBLIC},
        messaging={
            "rating_delay_minutes": 60,
            "review_links": [
                {"platform": "yandex", "url": YANDEX},
                {"platform": "2gis", "url": GIS},
            ],
            "review_policy": "all",
        },
    )
    assert plan_rating_requests(appliance.factory, config) == 1
    request = wired.wait_messages(chat, 4)[-1]
    scores, *links = _inline(request)
    assert [b["text"] for b in scores] == ["1", "2", "3", "4", "5"]
    assert [b["text"] for (b,) in links] == [
        "✍️ Оставить отзыв на Яндекс Картах",
        "✍️ Оставить отзыв в 2ГИС",
    ]
    with appliance.factory() as s:
        offers = list(s.scalars(select(ReviewOffer).order_by(ReviewOffer.id)))
    # What Telegram shows the patient is the appliance's address, never the platform's.
    assert [b["url"] for (b,) in links] == [f"{PUBLIC}/r/{o.token}" for o in offers]

    # The patient taps «Яндекс Карты»: the phone opens the tracked link.
    panel = app_for(config)
    phone = panel.test_client()
    path = urlsplit(links[0][0]["url"]).path
    opened = phone.get(path)
    assert opened.status_code == 302 and opened.headers["Location"] == YANDEX
    with appliance.factory() as s:
        assert [o.opens for o in s.scalars(select(ReviewOffer).order_by(ReviewOffer.id))] == [1, 0]

    # A score afterwards: the scores go, both tracked links stay.
    emu.press(chat, request["message_id"], scores[4]["callback_data"])
    wired.pump(lambda: len(_inline(emu.messages(chat)[3])) == 2)
    assert _inline(emu.messages(chat)[3]) == links

    owner = Persona(panel.test_client(), "owner")
    today = local_now(config.clinic.tz).date().isoformat()
    page = owner.get(f"/reports/reviews?from={today}&to={today}")
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert 'id="figure-buttons">2<' in text and 'id="figure-opened">1<' in text
    lines = owner.get(f"/reports/reviews.csv?from={today}&to={today}").get_data(as_text=True)
    assert "Яндекс Карты;1;1;1;1;100,0" in lines.splitlines()
    assert "2ГИС;1;1;0;0;0,0" in lines.splitlines()
