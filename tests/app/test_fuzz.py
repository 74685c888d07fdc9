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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

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


def _check(persona: Persona, method: str, url: str, response) -> None:  # type: ignore[no-untyped-def]
    # /healthz answers 503 by design while the runner is down (no runner in this test).
    healthz_down = url == "/healthz" and response.status_code == 503
    assert response.status_code < 500 or healthz_down, f"{method} {url}: {response.status_code}"
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
