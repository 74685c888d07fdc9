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
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter, Rule

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import Config
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.tasks import create_task
from tests.conftest import PASSWORDS, Persona
from tests.core.people import chat_for, patient

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


@dataclass
class Form:
    page: str
    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> offered values


class _Forms(HTMLParser):
    """The forms of one page: where each goes and what it sends."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._current: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])
        if tag == "form":
            action = a.get("action") or self.page
            self._current = Form(self.page, action, (a.get("method") or "get").lower())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag in ("input", "button") and a.get("formaction"):
            # One form, several buttons sending it elsewhere (take / done / dismiss).
            variant = Form(self.page, a["formaction"], self._current.method)
            variant.fields = self._current.fields  # the same inputs, filled in alike
            self.forms.append(variant)
        elif tag in ("input", "textarea", "button") and a.get("name"):
            if a["name"] != "csrf_token":
                self._current.fields.setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._current.fields.setdefault(a["name"], [])
        elif tag == "option" and self._select is not None:
            self._current.fields[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def _url(rule: Rule, ids: dict[str, object]) -> str | None:
    values: dict[str, object] = {}
    # Only the parts of the path; an argument with a default (rule.defaults) is not one.
    for name, converter in rule._converters.items():  # noqa: SLF001  (werkzeug keeps them)
        if name in ids:
            values[name] = ids[name]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            return None  # a file name or a key we cannot guess: the page links to it
    built = rule.build(values, append_unknown=False)
    return built[1] if built else None


def _pages(app: Flask, ids: dict[str, object]) -> list[str]:
    pages = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or set()) or rule.endpoint in ("static", "auth.logout"):
            continue
        url = _url(rule, ids)
        if url is not None:
            pages.append(url)
    return pages


def _endpoint(app: Flask, path: str, method: str) -> str:
    try:
        endpoint, _args = app.url_map.bind("localhost").match(path, method.upper())
    except Exception:  # not ours (a 404 or 405): fuzzed all the same, under its path
        return path
    return str(endpoint)


PAGES_PER_ROUTE = 6  # every report, a few patient cards


def _crawl(persona: Persona, pages: list[str]) -> tuple[list[str], list[Form]]:
    """The pages of the URL map and those they link to (one level), and their forms; one
    form per route and field set, a few pages per route (forty patient cards add nothing)."""
    app = persona.client.application
    seen: list[str] = []
    routes: dict[str, int] = {}
    found: dict[tuple[str, str, tuple[str, ...]], Form] = {}
    queue = [(page, 0) for page in pages]
    while queue:
        page, depth = queue.pop(0)
        route = _endpoint(app, page, "GET")
        if page in seen or routes.get(route, 0) >= PAGES_PER_ROUTE or page.endswith("/logout"):
            continue
        seen.append(page)
        routes[route] = routes.get(route, 0) + 1
        response = persona.get(page)
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        parser = _Forms(page)
        parser.feed(response.get_data(as_text=True))
        if depth == 0:
            queue += [(urlsplit(link).path, 1) for link in parser.links]
        for form in parser.forms:
            path = urlsplit(form.action).path or page
            if path.endswith("/logout"):
                continue
            form.action = path
            # /tasks/7/done and /tasks/7/take are two forms; /patients/148 and /152, one.
            key = (form.method, re.sub(r"\d+", "N", path), tuple(sorted(form.fields)))
            found.setdefault(key, form)
    return seen, list(found.values())


@pytest.fixture
def world(config: Config, factory: sessionmaker[Session], demo_clinic, app):  # type: ignore[no-untyped-def]
    """The demo clinic synced, a task open on one of its patients, the owner logged in."""
    connector = open_connector(config)
    try:
        SyncEngine(connector, factory).run_once()
    finally:
        connector.close()
    with transaction(factory) as s:
        create_task(s, config, kind="question", key="fuzz:1", text="Вопрос", patient_mis_id="1")
        sub = chat_for(s, patient(s, "fuzz-patient"))
        # An episode of a real thread, so its page shows the reply box and the card.
        task_id = receive(
            s, config, sub, Incoming(telegram_message_id=1, text="Добрый день")
        ).task.id
    owner = Persona(app.test_client(), "owner")
    ids: dict[str, object] = {"mis_id": "1", "task_id": task_id, "patient_mis_id": "1"}
    pages, forms = _crawl(owner, _pages(app, ids))
    return owner, pages, forms


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
