"""Fuzzing the panel: every form and every query parameter, with values out of range.

The forms are not listed by hand: each page the owner can open is rendered, its forms read
back from the HTML (action, method, field names, the options of a select), and hypothesis
fills them with what a careless or hostile user types — huge numbers, impossible dates,
``1e400``, markup, NUL bytes, 5,000 letters. Query parameters are fuzzed on every GET
route of the URL map, with the names the pages use. Whatever comes in, the answer is a
page, a redirect or a 4xx with a message — never a 500 or an exception (under TESTING an
exception reaches the test itself, so it fails here too).
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter

from core.clock import utcnow
from core.config import Config
from tests.app.crawl import crawl_panel
from tests.conftest import PASSWORDS, Persona

# What people type where a number, a date or a name is expected, and what attackers try.
NASTY = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "1e400",
    "-1e400",
    "NaN",
    "inf",
    "1" + "0" * 18,
    "9" * 40,
    "1,5",
    "0x1F",
    "9999-12-31",
    "0000-00-00",
    "2027-02-30",
    "31.12.9999",
    "32.13.2026",
    "9999-12-31:9999-12-31",
    "2026-01-01:",
    "25:61",
    "24:00",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{name}",
    "{0.__class__}",
    "%s%s%s",
    "\x00",
    "\u202e",
    "😀" * 20,
    "а" * 5000,
    "../../etc/passwd",
    "//evil.example",
    "+7 (916) 123-45-67",
    "true",
    "on",
]

# Query parameters the pages read; fuzzed on every GET route, known or not to it.
QUERY_NAMES = [
    "page",
    "q",
    "days",
    "since",
    "until",
    "from",
    "to",
    "period",
    "kind",
    "filter",
    "state",
    "v",
    "limit",
    "months",
    "doctor",
    "action",
    "next",
    "edit",
    "n",
    "show",
    "who",
    "record",
    "hash",
    "preset",
    "connected",
]

value = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@pytest.fixture
def world(config: Config, factory: sessionmaker[Session], demo_clinic, app):  # type: ignore[no-untyped-def]
    crawled = crawl_panel(config, factory, app)
    return crawled.owner, crawled.pages, crawled.forms


CYRILLIC = re.compile("[А-Яа-яЁё]")
# Answered as werkzeug made them, English or empty, by design (app/security.py's handler):
# the probes and the messengers' webhooks, read by machines, not people.
MACHINE_PATHS = ("/healthz", "/metrics", "/telegram")


class _Answer(HTMLParser):
    """What a page says below the header's navigation (whose Russian links every page has):
    the text of <main>, the flashes and the content; and, on the error page (error.html),
    the message under its «Ошибка 404» heading."""

    def __init__(self) -> None:
        super().__init__()
        self.main: list[str] = []
        self.error_message: list[str] | None = None  # None: not the error page
        self._main = self._card = self._hidden = 0
        self._paragraphs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        if tag == "main":
            self._main += 1
        if self._card:
            self._card += tag == "div"
            self._paragraphs += tag == "p"
        elif tag == "div" and dict(attrs).get("id") == "error":
            self._card = 1
            self.error_message = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        if tag == "main":
            self._main = max(0, self._main - 1)
        if self._card and tag == "div":
            self._card -= 1

    def handle_data(self, data: str) -> None:
        if self._hidden or not data.strip():
            return
        if self._main:
            self.main.append(data.strip())
        if self._card and self._paragraphs == 1 and self.error_message is not None:
            self.error_message.append(data.strip())  # the first <p>: the message


def _check(persona: Persona, method: str, url: str, response) -> None:  # type: ignore[no-untyped-def]
    # /healthz answers 503 by design while the runner is down (no runner in this test).
    healthz_down = url == "/healthz" and response.status_code == 503
    assert response.status_code < 500 or healthz_down, f"{method} {url}: {response.status_code}"
    page = "text/html" in response.content_type and not url.startswith(MACHINE_PATHS)
    if 400 <= response.status_code < 500 and page:
        # A refusal a person reads says why, in Russian: the view's own page with its
        # message, or the error page with the view's or the code's text.
        answer = _Answer()
        answer.feed(response.get_data(as_text=True))
        said = " ".join(answer.main)
        assert CYRILLIC.search(said), f"{method} {url}: {response.status_code} with no message"
        if answer.error_message is not None:
            message = " ".join(answer.error_message)
            assert CYRILLIC.search(message), f"{method} {url}: error page says «{message}»"
    if response.status_code in (302, 303) and "/login" in response.headers.get("Location", ""):
        persona.login("owner", PASSWORDS["owner"])  # a form may end the session: sign in again


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_the_pages_have_forms_to_fuzz(world) -> None:  # type: ignore[no-untyped-def]
    _owner, pages, forms = world
    # The fuzzing below is only worth something if it reaches the screens' forms.
    assert len(pages) >= 25
    posts = {f.action for f in forms if f.method == "post"}
    assert len(posts) >= 20, posts
    assert any(p.endswith("/reply") for p in posts), "the thread's reply box was not reached"
    assert {f.action for f in forms if f.method == "get"}, "no filter or search form found"


@FUZZ
@given(data=st.data())
def test_every_form_takes_any_value_without_a_500(world, data) -> None:  # type: ignore[no-untyped-def]
    owner, _pages, forms = world
    form = data.draw(st.sampled_from(forms), label="form")
    values = {}
    for name, offered in form.fields.items():
        choices = [v for v in offered if v]
        strategy = st.one_of(st.sampled_from(choices), value) if choices else value
        if data.draw(st.booleans(), label=f"send {name}"):
            values[name] = data.draw(strategy, label=name)
    if form.method == "post":
        response = owner.post(form.action, values)
    else:
        response = owner.client.get(form.action, query_string=values)
    _check(owner, form.method.upper(), form.action, response)


@FUZZ
@given(data=st.data())
def test_every_query_parameter_takes_any_value_without_a_500(world, data) -> None:  # type: ignore[no-untyped-def]
    owner, pages, _forms = world
    page = data.draw(st.sampled_from(pages), label="page")
    names = data.draw(st.lists(st.sampled_from(QUERY_NAMES), min_size=1, max_size=4, unique=True))
    query = {name: data.draw(value, label=name) for name in names}
    response = owner.client.get(page, query_string=query)
    _check(owner, "GET", page, response)


# Fixed regressions: values the fuzzing above reaches only by chance.

TOO_BIG = 10**20  # past SQLite's and PostgreSQL's 64-bit integers
STORE_MAX = 2**63 - 1


def test_a_leaderboard_period_past_the_calendar_is_refused_in_russian(owner: Persona) -> None:
    for raw in ("9999-12-31:9999-12-31", "0001-01-01:0001-01-02", "2027-02-30:2027-03-01"):
        response = owner.get(f"/loyalty/leaderboard?period={raw}")
        assert response.status_code == 400, raw
        _check(owner, "GET", "/loyalty/leaderboard", response)
    page = owner.get("/loyalty/leaderboard?period=9999-12-31:9999-12-31").get_data(as_text=True)
    assert "Конец периода позже сегодняшнего дня" in page


@pytest.mark.clock
def test_a_leaderboard_period_of_past_days_is_shown(owner: Persona) -> None:
    today = utcnow().date()  # UTC or the clinic's: a few days back is past in both
    first, last = today - timedelta(days=9), today - timedelta(days=3)
    response = owner.get(f"/loyalty/leaderboard?period={first}:{last}")
    assert response.status_code == 200
    assert f"{first:%d.%m.%Y}–{last:%d.%m.%Y}" in response.get_data(as_text=True)


def _integer_routes(app) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    """Every rule of the URL map with an <int:...> part, and its GET and POST."""
    routes = []
    for rule in app.url_map.iter_rules():
        converters = rule._converters  # noqa: SLF001  (werkzeug keeps them)
        if any(isinstance(c, IntegerConverter) for c in converters.values()):
            methods = sorted({"GET", "POST"} & (rule.methods or set()))
            routes.append((rule, methods))
    return routes


def _build(rule, number: int) -> str:  # type: ignore[no-untyped-def]
    values = {
        name: number if isinstance(c, IntegerConverter) else "1"
        for name, c in rule._converters.items()  # noqa: SLF001
    }
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def test_an_id_past_the_store_range_is_a_404_on_every_integer_route(app, owner: Persona) -> None:  # type: ignore[no-untyped-def]
    routes = _integer_routes(app)
    assert len(routes) >= 25, [r.rule for r, _ in routes]  # the walk found the screens
    for rule, methods in routes:
        url = _build(rule, TOO_BIG)
        for method in methods:
            response = owner.get(url) if method == "GET" else owner.post(url)
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
            _check(owner, method, url, response)


def test_the_largest_id_the_store_holds_still_reaches_the_views(app, owner: Persona) -> None:  # type: ignore[no-untyped-def]
    # The bound is the store's own: 2**63 - 1 is routed (and found nowhere), not refused
    # by the URL map, and the views look it up without overflowing.
    for rule, methods in _integer_routes(app):
        url = _build(rule, STORE_MAX)
        assert app.url_map.bind("localhost").match(url, methods[0])[0] == rule.endpoint
        for method in methods:
            response = owner.get(url) if method == "GET" else owner.post(url)
            _check(owner, method, url, response)


def test_a_record_number_past_the_store_range_is_no_record(owner: Persona) -> None:
    for number in (TOO_BIG, -TOO_BIG, STORE_MAX):
        response = owner.get(f"/documents/verify?record={number}&hash=ab")
        assert response.status_code == 404, number
        assert f"Записи № {number} в журнале нет." in response.get_data(as_text=True)
        _check(owner, "GET", "/documents/verify", response)


def test_a_template_number_past_the_store_range_is_no_template(owner: Persona) -> None:
    response = owner.post("/documents/first-visit", {"template": str(TOO_BIG)})
    assert response.status_code == 400
    assert "Этот шаблон нельзя отправлять сам" in response.get_data(as_text=True)
    response = owner.post("/documents/send", {"patient": "1", "template": str(TOO_BIG)})
    assert response.status_code == 302
    page = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert "Документ не отправлен: Такого шаблона нет." in page


def test_the_check_wants_a_russian_message_on_a_refused_page(owner: Persona) -> None:
    from werkzeug.exceptions import NotFound
    from werkzeug.wrappers import Response

    english = NotFound().get_response()  # werkzeug's own page: «Not Found», no Russian
    with pytest.raises(AssertionError, match="no message"):
        _check(owner, "GET", "/x", english)
    # The error page's heading is Russian whatever the message: the message itself counts.
    card = '<main><div class="card" id="error"><h1>Ошибка 404</h1><p>Not Found</p></div></main>'
    with pytest.raises(AssertionError, match="error page says"):
        _check(owner, "GET", "/x", Response(card, 404, mimetype="text/html"))
    _check(owner, "GET", "/x", owner.get("/tasks/100000000000000000000"))  # the app's: passes


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/tasks/?n=²", None),
        ("/tasks/times?days=²", None),
        ("/campaigns/preview", {"last_visit_months": "²", "text": "Здравствуйте"}),
        ("/settings/", {"messaging__review_links__rows": "²"}),
        ("/settings/", {"messaging__reminder_days_before": "²"}),
    ],
)
def test_a_superscript_digit_is_no_number(owner: Persona, path: str, form: dict | None) -> None:
    """str.isdigit() takes «²», int() does not: each of these read it as a number once."""
    answer = owner.get(path) if form is None else owner.post(path, form)
    assert answer.status_code < 500, (path, answer.status_code)
