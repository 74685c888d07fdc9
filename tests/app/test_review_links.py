"""Review links in the panel's app: /r/<token> counts an open and sends the patient on
(302, no-store, no login, no patient data), anything else is a Russian 404 and never a
500; «Настройки» takes several platforms and the policy, refusing a bad row in Russian;
the report «Ссылки на отзывы» shows offered, opened and the open rate per platform, on
the page and in the CSV."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.ratings.models import ReviewOffer
from core.ratings.survey import plan_rating_requests
from core.settings.models import PanelSetting
from tests.conftest import Persona
from tests.core.test_ratings import _requests, _setup

pytestmark = pytest.mark.clock

NOW = datetime(2027, 3, 11, 9, 0, tzinfo=UTC)  # Thursday, noon in Moscow
PUBLIC = "https://kabinet.clinic.ru"
YANDEX = "https://yandex.ru/maps/org/ulybka/123/reviews/"
GIS = "https://2gis.ru/moscow/firm/123/tab/reviews"
LINKS = [{"platform": "yandex", "url": YANDEX}, {"platform": "2gis", "url": GIS}]


@pytest.fixture(autouse=True)
def clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _offered(tmp_path: Path, factory: sessionmaker[Session], public_url: str) -> Config:
    """One rating request (Анна Иванова, p1) with both platforms' buttons."""
    config, _ = _setup(tmp_path, factory, review_links=LINKS, review_policy="all")
    config = config.replace(web={"public_url": public_url})
    assert plan_rating_requests(factory, config) == 1
    return config


def _offers(factory: sessionmaker[Session]) -> list[ReviewOffer]:
    with factory() as s:
        return list(s.scalars(select(ReviewOffer).order_by(ReviewOffer.id)))


def test_opening_the_link_counts_it_and_sends_the_patient_on(
    tmp_path: Path, factory, app_for, clock
) -> None:  # type: ignore[no-untyped-def]
    config = _offered(tmp_path, factory, PUBLIC)
    client = app_for(config).test_client()
    yandex, gis = _offers(factory)
    (request,) = _requests(factory)
    assert request.reply_markup["inline_keyboard"][1][0]["url"] == f"{PUBLIC}/r/{yandex.token}"

    response = client.get(f"/r/{yandex.token}")
    assert response.status_code == 302 and response.headers["Location"] == YANDEX
    assert response.headers["Cache-Control"] == "no-store"
    assert "Иванова" not in response.get_data(as_text=True)
    clock.shift(timedelta(hours=3))
    assert client.get(f"/r/{yandex.token}").headers["Location"] == YANDEX
    # A link checker's HEAD goes on too, uncounted.
    assert client.head(f"/r/{gis.token}").status_code == 302
    yandex, gis = _offers(factory)
    assert (yandex.opens, yandex.first_opened_at) == (2, NOW)
    assert (gis.opens, gis.first_opened_at) == (0, None)


@pytest.mark.parametrize(
    "token",
    [
        "nothing",
        "A" * 24,
        "A" * 5000,
        "%00",
        "..%2F..%2Fsettings",
        "é" * 30,
        "a/b/c",
        "<script>alert(1)</script>",
        "%FF%FE",
    ],
)
def test_an_unknown_or_garbled_token_is_a_russian_404(
    tmp_path: Path, factory, app_for, token: str
) -> None:  # type: ignore[no-untyped-def]
    config = _offered(tmp_path, factory, PUBLIC)
    client = app_for(config).test_client()
    for method in (client.get, client.head):
        response = method(f"/r/{token}")
        assert response.status_code == 404, token
    page = client.get(f"/r/{token}").get_data(as_text=True)
    assert "Ссылка не найдена" in page and "Иванова" not in page and "<script>alert" not in page
    assert [o.opens for o in _offers(factory)] == [0, 0]


def _rows(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def _links_form(*rows: tuple[str, str, str], policy: str = "rotate") -> dict[str, str]:
    form = {"messaging__review_links__rows": str(len(rows)), "messaging__review_policy": policy}
    for i, (platform, name, url) in enumerate(rows):
        form[f"messaging__review_links__platform__{i}"] = platform
        form[f"messaging__review_links__name__{i}"] = name
        form[f"messaging__review_links__url__{i}"] = url
    return form


def test_the_settings_screen_takes_two_platforms_and_the_policy(
    owner: Persona, tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    page = html.unescape(owner.get("/settings/").get_data(as_text=True))
    assert "Площадки для отзывов" in page and "Какие площадки предлагать" in page
    assert "по очереди — одну, которую предлагали реже других" in page
    form = _links_form(
        ("2gis", "", f"  {GIS} "),
        ("yandex", "не для Яндекса", YANDEX),
        ("other", "", ""),  # an empty row
    )
    assert owner.post("/settings/", form).status_code == 302
    assert _rows(factory) == {
        "messaging.review_links": [
            {"platform": "2gis", "url": GIS},
            {"platform": "yandex", "url": YANDEX},
        ],
        "messaging.review_policy": "rotate",
    }
    page = html.unescape(owner.get("/settings/").get_data(as_text=True))
    assert "Сохранено: «Площадки для отзывов», «Какие площадки предлагать»." in page
    assert f'value="{GIS}"' in page and f'value="{YANDEX}"' in page
    assert page.count("изменено в панели") == 2 and "не заданы" in page  # the file has none
    # The next rating request offers by the panel's list: 2ГИС first, rotating.
    config, _ = _setup(tmp_path, factory)
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    assert request.reply_markup["inline_keyboard"][1:] == [
        [{"text": "✍️ Оставить отзыв в 2ГИС", "url": GIS}]
    ]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            (("yandex", "", "http://yandex.ru/maps"),),
            "строка 1: «http://yandex.ru/maps» не подходит — адрес страницы отзывов, начинающийся с https://",
        ),
        (
            (("yandex", "", "yandex.ru"),),
            "«Площадки для отзывов», строка 1: «yandex.ru» не подходит",
        ),
        ((("2gis", "", GIS), ("2gis", "", YANDEX)), "строка 2: «2ГИС» уже есть в строке 1"),
        ((("vk", "", YANDEX),), "строка 1: площадка «vk» не из списка"),
        ((("other", "о" * 41, YANDEX),), "длиннее 40 знаков"),
        (tuple(("other", str(n), YANDEX) for n in range(9)), "не больше 8 площадок"),
    ],
)
def test_a_bad_platform_row_is_refused_in_russian_and_nothing_is_kept(
    owner: Persona, factory, rows: tuple[tuple[str, str, str], ...], reason: str
) -> None:  # type: ignore[no-untyped-def]
    response = owner.post("/settings/", _links_form(*rows))
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Не сохранено:" in page and reason in page
    assert rows[0][2] in page  # what was typed stays, to be corrected
    assert _rows(factory) == {}


@pytest.mark.parametrize("count", ["", "abc", "-1", "999999", "0"])
def test_any_row_count_is_served_or_refused_never_a_500(owner: Persona, count: str) -> None:
    form = {**_links_form(("yandex", "", YANDEX)), "messaging__review_links__rows": count}
    assert owner.post("/settings/", form).status_code in (302, 400)


def test_the_report_shows_offered_opened_and_the_rate_per_platform(
    tmp_path: Path, factory, app_for
) -> None:  # type: ignore[no-untyped-def]
    config = _offered(tmp_path, factory, PUBLIC)
    flask_app = app_for(config)
    owner = Persona(flask_app.test_client(), "owner")
    yandex, _ = _offers(factory)
    owner.client.get(f"/r/{yandex.token}")
    owner.client.get(f"/r/{yandex.token}")
    query = "from=2027-03-11&to=2027-03-11"
    page = html.unescape(owner.get(f"/reports/reviews?{query}").get_data(as_text=True))
    assert 'id="figure-buttons">2<' in page and 'id="figure-opened">1<' in page
    assert 'id="figure-open-rate">50,0\xa0%<' in page  # a no-break space before %
    assert "Яндекс Карты" in page and "2ГИС" in page and "не задан web.public_url" not in page
    lines = owner.get(f"/reports/reviews.csv?{query}").get_data(as_text=True).splitlines()
    assert (
        "Площадка;Предложено;С учётом открытий;Открыли;Открытий всего;Доля открывших (%)" in lines
    )
    assert "Яндекс Карты;1;1;1;2;100,0" in lines and "2ГИС;1;1;0;0;0,0" in lines


def test_without_a_public_address_the_report_says_opens_are_not_recorded(
    tmp_path: Path, factory, app_for
) -> None:  # type: ignore[no-untyped-def]
    config = _offered(tmp_path, factory, "")
    (request,) = _requests(factory)
    assert request.reply_markup["inline_keyboard"][1][0]["url"] == YANDEX  # straight there
    owner = Persona(app_for(config).test_client(), "owner")
    page = html.unescape(
        owner.get("/reports/reviews?from=2027-03-11&to=2027-03-11").get_data(as_text=True)
    )
    assert "не задан web.public_url" in page
    assert 'id="figure-buttons">2<' in page and 'id="figure-opened">—<' in page
    lines = owner.get("/reports/reviews.csv?from=2027-03-11&to=2027-03-11").get_data(as_text=True)
    assert "Яндекс Карты;1;0;;;" in lines.splitlines()
