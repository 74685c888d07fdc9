"""Several review platforms and the policy that picks among them (core/ratings/review_links.py):
"all" a button each, "first" the first alone, "rotate" the least offered so far with ties
by list order; the older single review_url still works; the config refuses a bad list;
with web.public_url the button is the tracked /r/<token> link. None of it reads a score."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot_handlers.channels.max import buttons_of as max_buttons
from core.clock import utcnow
from core.config import ConfigError
from core.db import transaction
from core.models import OutboxMessage
from core.ratings.models import ReviewOffer
from core.ratings.review_links import Chooser, ReviewLink, configured, offer, record_open
from core.ratings.survey import plan_rating_requests, record_rating
from tests.conftest import make_config
from tests.core.people import chat_for, patient
from tests.core.test_ratings import _press, _rating, _requests, _setup, _visit

pytestmark = pytest.mark.clock

YANDEX = "https://yandex.ru/maps/org/ulybka/123/reviews/"
GIS = "https://2gis.ru/moscow/firm/123/tab/reviews"
PRODOC = "https://prodoctorov.ru/moskva/lpu/123-ulybka/otzivi/"
LINKS = [
    {"platform": "yandex", "url": YANDEX},
    {"platform": "2gis", "url": GIS},
    {"platform": "prodoctorov", "url": PRODOC},
]


def _links(tmp_path: Path, **messaging) -> list[ReviewLink]:  # type: ignore[no-untyped-def]
    return configured(make_config(tmp_path, messaging=messaging).messaging)


def test_the_list_in_order_and_the_older_single_link(tmp_path: Path) -> None:
    named = [*LINKS, {"platform": "other", "name": "Сайт клиники", "url": "https://clinic.ru/o"}]
    assert [(link.platform, link.name) for link in _links(tmp_path, review_links=named)] == [
        ("yandex", ""),
        ("2gis", ""),
        ("prodoctorov", ""),
        ("other", "Сайт клиники"),
    ]
    # review_url alone is one link of «другая»; the list, when given, is what is offered.
    assert _links(tmp_path, review_url=GIS) == [ReviewLink("other", GIS)]
    assert _links(tmp_path, review_url=GIS, review_links=LINKS[:1]) == [
        ReviewLink("yandex", YANDEX)
    ]
    assert _links(tmp_path) == []


@pytest.mark.parametrize(
    ("links", "reason"),
    [
        ([{"platform": "vk", "url": YANDEX}], "'vk' is not a platform"),
        ([{"platform": "yandex", "url": "http://yandex.ru/maps"}], "is not an https:// address"),
        ([{"platform": "yandex", "url": "https://"}], "is not an https:// address"),
        ([{"platform": "yandex", "url": "javascript:alert(1)"}], "is not an https:// address"),
        ([{"platform": "yandex", "url": YANDEX, "name": "Я"}], "for 'other' only"),
        ([{"platform": "other", "url": YANDEX, "name": "x" * 41}], "up to 40 characters"),
        ([LINKS[0], LINKS[0]], "listed twice"),
        ([{"platform": "yandex"}], "is not an https:// address"),
        ([{"platform": "yandex", "url": YANDEX, "stars": 5}], "a list of"),
        (["https://yandex.ru"], "a list of"),
        ([{"platform": "other", "name": str(n), "url": YANDEX} for n in range(9)], "at most 8"),
    ],
)
def test_a_bad_list_is_refused_naming_the_key(tmp_path: Path, links, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="messaging.review_links") as refused:
        make_config(tmp_path, messaging={"review_links": links})
    assert reason in str(refused.value)
    with pytest.raises(ConfigError, match="messaging.review_policy"):
        make_config(tmp_path, messaging={"review_policy": "best-scores"})


def _offer_n(factory, links: list[ReviewLink], policy: str, n: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """n requests' choices in one planning run, kept as offers (rotation reads them)."""
    chosen = []
    with transaction(factory) as s:
        chooser = Chooser(s, links, policy)
        for _ in range(n):
            picked = chooser.next()
            offer(s, 1, "p1", picked, "", "ru", utcnow())
            chosen.append([link.platform for link in picked])
    return chosen


def _rating_row(factory) -> None:  # type: ignore[no-untyped-def]
    """A rating for the offers to belong to (the store keeps their foreign key)."""
    with transaction(factory) as s:
        chat_for(s, patient(s, "p1"))
    from core.models import Subscriber, VisitRating

    with transaction(factory) as s:
        sub = s.scalars(select(Subscriber)).one()
        s.add(VisitRating(id=1, appointment_mis_id="v1", patient_mis_id="p1", subscriber_id=sub.id))


def test_all_offers_each_platform_and_first_only_the_first(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    _rating_row(factory)
    links = _links(tmp_path, review_links=LINKS)
    assert _offer_n(factory, links, "all", 2) == [["yandex", "2gis", "prodoctorov"]] * 2
    assert _offer_n(factory, links, "first", 2) == [["yandex"], ["yandex"]]
    assert _offer_n(factory, [], "all", 1) == [[]]


def test_rotate_spreads_offers_evenly_ties_by_list_order_and_across_runs(
    tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    _rating_row(factory)
    links = _links(tmp_path, review_links=LINKS)
    assert _offer_n(factory, links, "rotate", 4) == [
        ["yandex"],
        ["2gis"],
        ["prodoctorov"],
        ["yandex"],
    ]
    # The next run reads what was offered so far: 2gis and prodoctorov are behind yandex.
    assert _offer_n(factory, links, "rotate", 3) == [["2gis"], ["prodoctorov"], ["yandex"]]
    with factory() as s:
        counts = Counter(s.scalars(select(ReviewOffer.platform)))
    assert counts == {"yandex": 3, "2gis": 2, "prodoctorov": 2}
    # A platform added to the list is the least offered: it is offered until it caught up.
    more = [*links, ReviewLink("google", "https://g.page/r/ulybka/review")]
    assert _offer_n(factory, more, "rotate", 3) == [["google"], ["google"], ["2gis"]]


def test_the_policy_never_reads_a_score(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    """The offers are made when the request is, before any score, and a low or a high
    score leaves the buttons as they were sent."""
    config, sub = _setup(tmp_path, factory, review_links=LINKS, review_policy="all")
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    sent = request.reply_markup["inline_keyboard"][1:]
    assert sent == [
        [{"text": "✍️ Оставить отзыв на Яндекс Картах", "url": YANDEX}],
        [{"text": "✍️ Оставить отзыв в 2ГИС", "url": GIS}],
        [{"text": "✍️ Оставить отзыв на ПроДокторов", "url": PRODOC}],
    ]
    assert _press(factory, config, sub, f"rt:{_rating(factory).id}:1").accepted
    with factory() as s:
        edit = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "edit_markup"))
        offers = list(s.scalars(select(ReviewOffer).order_by(ReviewOffer.id)))
    assert edit is not None and edit.reply_markup == {"inline_keyboard": sent}
    assert [(o.platform, o.tracked, o.opens) for o in offers] == [
        ("yandex", False, 0),
        ("2gis", False, 0),
        ("prodoctorov", False, 0),
    ]


def test_with_a_public_address_the_button_is_the_tracked_link(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, sub = _setup(tmp_path, factory, review_links=LINKS, review_policy="rotate")
    config = config.replace(web={"public_url": "https://kabinet.clinic.ru/"})
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    (button,) = request.reply_markup["inline_keyboard"][1]
    with factory() as s:
        (row,) = s.scalars(select(ReviewOffer))
    assert button == {
        "text": "✍️ Оставить отзыв на Яндекс Картах",
        "url": f"https://kabinet.clinic.ru/r/{row.token}",
    }
    assert row.tracked and row.url == YANDEX and row.patient_mis_id == "p1"
    # MAX takes it as a link button under the message, the same tracked address.
    assert max_buttons(request.reply_markup)[1] == [
        {"type": "link", "text": button["text"], "url": button["url"]}
    ]
    assert len(row.token) >= 24 and YANDEX not in request.text
    # Pressed without the message's own markup (the fallback): the same tracked link.
    with transaction(factory) as s:
        from core.models import Subscriber

        record_rating(
            s, config, s.get(Subscriber, sub.id), f"rt:{_rating(factory).id}:5",
            chat_id=sub.chat_id, message_id=7, now=utcnow(),
        )  # fmt: skip
    with factory() as s:
        edit = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "edit_markup"))
    assert edit is not None and edit.reply_markup == {"inline_keyboard": [[button]]}


def test_an_open_is_counted_and_the_first_time_kept(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory, review_links=LINKS[:1])
    plan_rating_requests(factory, config.replace(web={"public_url": "https://k.clinic.ru"}))
    with factory() as s:
        token = s.scalars(select(ReviewOffer.token)).one()
    first = utcnow()
    with transaction(factory) as s:
        assert record_open(s, token, first) == YANDEX
    with transaction(factory) as s:
        assert record_open(s, token, first + timedelta(hours=1)) == YANDEX
        for forged in ("", token[:-1], token + "x", "../" + token, "é" * 24, token.upper()):
            assert record_open(s, forged, first) is None
    with factory() as s:
        row = s.scalars(select(ReviewOffer)).one()
    assert (row.opens, row.first_opened_at) == (2, first)


def test_the_review_link_cap_still_holds_with_several_platforms(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory, review_links=LINKS, review_every_days=180)
    plan_rating_requests(factory, config)
    with transaction(factory) as s:
        _visit(s, "v5", "p1", ended_minutes_ago=70)
    plan_rating_requests(factory, config)
    first, second = sorted(_requests(factory), key=lambda m: m.id)
    assert len(first.reply_markup["inline_keyboard"]) == 4
    assert len(second.reply_markup["inline_keyboard"]) == 1  # scores only
    with factory() as s:
        assert len(s.scalars(select(ReviewOffer)).all()) == 3
