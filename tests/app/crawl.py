"""The panel as a crawler sees it: every page the URL map lets the owner open, the pages
those link to, each page's visible text and its forms (action, method, fields, the options
of a select). Used by the fuzzing and by the test that every value shown is in Russian, so
neither keeps a hand-made list of screens that goes stale as screens are added."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter, Rule

from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import Config
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.tasks import create_task
from tests.conftest import Persona
from tests.core.people import chat_for, patient

# Not read as the panel's words: scripts and styles, and what is set as code on purpose (a
# command for IT, a configuration key, a placeholder, an internal name shown beside its
# Russian one).
HIDDEN = ("script", "style", "code", "kbd", "pre", "samp")


@dataclass
class Form:
    page: str
    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> offered values


class _Page(HTMLParser):
    """One page: its forms (where each goes and what it sends), links and visible text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._current: Form | None = None
        self._select: str | None = None
        self.text: list[str] = []  # what a person reads (HIDDEN aside)
        self._hidden = 0
        self._english_textareas = 0

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.text.append(data.strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in HIDDEN:
            self._hidden += 1
        if tag == "textarea" and a.get("lang", "").startswith("en"):
            # A text the clinic keeps in English on purpose (its English version, marked
            # lang="en"), as a person typed it.
            self._hidden += 1
            self._english_textareas += 1
        if a.get("title"):
            self.text.append(a["title"])
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
        if tag in HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        if tag == "textarea" and self._english_textareas:
            self._english_textareas -= 1
            self._hidden = max(0, self._hidden - 1)
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


@dataclass
class Crawled:
    owner: Persona
    pages: list[str]  # every path visited
    forms: list[Form]
    text: dict[str, list[str]]  # path -> the visible text of that page (HTML pages only)


def _crawl(persona: Persona, pages: list[str]) -> Crawled:
    """The pages of the URL map and those they link to (one level), and their forms; one
    form per route and field set, a few pages per route (forty patient cards add nothing)."""
    app = persona.client.application
    seen: list[str] = []
    text: dict[str, list[str]] = {}
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
        parser = _Page(page)
        parser.feed(response.get_data(as_text=True))
        text[page] = parser.text
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
    return Crawled(persona, seen, list(found.values()), text)


def crawl_panel(config: Config, factory: sessionmaker[Session], app: Flask) -> Crawled:
    """The demo clinic (already built at config.mis.dsn) synced, a task open on one of its
    patients and an episode of a real thread, crawled as the owner."""
    connector = open_connector(config)
    try:
        SyncEngine(connector, factory).run_once()
    finally:
        connector.close()
    with transaction(factory) as s:
        create_task(s, config, kind="message", key="fuzz:1", text="Вопрос", patient_mis_id="1")
        sub = chat_for(s, patient(s, "fuzz-patient"))
        # An episode of a real thread, so its page shows the reply box and the card.
        task_id = receive(
            s, config, sub, Incoming(telegram_message_id=1, text="Добрый день")
        ).task.id
    owner = Persona(app.test_client(), "owner")
    ids: dict[str, object] = {"mis_id": "1", "task_id": task_id, "patient_mis_id": "1"}
    return _crawl(owner, _pages(app, ids))
