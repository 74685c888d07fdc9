"""Every value the panel shows is in Russian, in Russian format (issue #12 part 5).

Every page the owner can open (the URL map and what its pages link to, see crawl.py) is
read as a person reads it — the visible text, not the markup — on a store with a synced
clinic, a thread and a task. What must not be there: Python's own words (True, None),
the store's internal names (reminder, pending, taken…), dates in ISO order, a decimal
point where Russian writes a comma, and Latin words other than the names of things that
have no Russian name (Telegram, CSV…).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from tests.app.crawl import Crawled, crawl_panel

# Latin words a Russian panel rightly shows: products, formats, protocols, units, and the
# personas' logins. Anything else in Latin letters is a value that escaped translation.
ALLOWED_LATIN = {
    "telegram", "max", "sms", "csv", "svg", "pdf", "url", "http", "https", "html", "json",
    "nps", "mis", "ident", "open", "dental", "opendental", "id", "qr", "pep", "utc", "api",
    "owner", "admin", "manager", "kabinet", "excel", "sqlite", "postgresql", "firebird",
    "toml", "dsn", "ok", "pades", "sha", "whatsapp", "vk", "yandex", "google", "gis",
    "prodoctorov", "napopravku", "otzovik", "www", "ru", "en", "com", "bot", "start",
    "help", "link", "settings", "family", "visits", "balance", "language", "care",
    "healthz", "metrics", "mis_id", "web", "ms", "kb", "mb",
    "readme",  # the file clinic IT reads
    "air", "flow",  # a service in the demo clinic's MIS («Air Flow»): the clinic's own data
    # The Russian language-switch answer tells an English speaker, in English, how to
    # switch («For English: /language en»): shown as the text on «Тексты сообщений».
    "for", "english",
}  # fmt: skip

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?=T|\b)|\b\d{4}-W\d{2}\b")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # {name}: a template's placeholder, as typed
DECIMAL_POINT = re.compile(r"\b\d+\.\d+\s*(%|₽|руб|баллов)")
LATIN_WORD = re.compile(r"(?<![\w@./:-])[A-Za-z][A-Za-z_]{1,}(?![\w@./-])")


def offences(text: str) -> list[str]:
    text = PLACEHOLDER.sub("", text)
    found = [m.group(0) for m in ISO_DATE.finditer(text)]
    found += [m.group(0) for m in DECIMAL_POINT.finditer(text)]
    found += [
        m.group(0) for m in LATIN_WORD.finditer(text) if m.group(0).lower() not in ALLOWED_LATIN
    ]
    return found


@pytest.fixture
def crawled(config: Config, factory: sessionmaker[Session], demo_clinic, app) -> Crawled:  # type: ignore[no-untyped-def]
    return crawl_panel(config, factory, app)


def test_the_crawl_reads_the_screens(crawled: Crawled) -> None:
    # Worth something only if it read the real screens, with their values in them.
    assert len(crawled.text) >= 25
    everything = " ".join(" ".join(t) for t in crawled.text.values())
    assert "Задачи" in everything and "Пациенты" in everything


def test_every_value_on_every_page_is_russian(crawled: Crawled) -> None:
    wrong = {}
    for page, lines in crawled.text.items():
        bad = sorted({o for line in lines for o in offences(line)})
        if bad:
            wrong[page] = bad
    assert wrong == {}


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("Подтверждено: True", ["True"]),
        ("тип: reminder", ["reminder"]),
        ("с 2026-12-01 по 02.12.2026", ["2026-12-01"]),
        ("неделя 2027-W10", ["2027-W10"]),
        ("изменено: None → 2026-12-02T06:23:37+00:00", ["2026-12-02", "None"]),
        ("Текст: Здравствуйте, {name}!", []),
        ("доля 0.0 %", ["0.0 %"]),
        ("600 ₽ of a 3 000 ₽ bill", ["of", "bill"]),
        ("Бот в Telegram, выгрузка CSV, 12,5 %", []),
        ("owner@clinic.ru вошёл 02.12.2026 в 10:00", []),
    ],
)
def test_the_checker_itself(text: str, bad: list[str]) -> None:
    assert offences(text) == bad
