"""Response times in the panel and as CSV; linking a Telegram account with a code."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.conversations import response_times, staff_links
from core.conversations.threads import Incoming, receive, reply
from core.db import transaction
from core.models import StaffUser
from core.tasks import transition
from tests.conftest import PASSWORDS, Persona
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

# Monday 2027-03-08 10:00 in Moscow, and the next Monday.
WEEK1 = datetime(2027, 3, 8, 7, 0, tzinfo=UTC)
WEEK2 = WEEK1 + timedelta(days=7)


def _answered(
    factory: sessionmaker[Session], config: Config, at: datetime, who: str, after: int, close: int
) -> None:
    """An episode opened at `at`, answered by `who` `after` minutes later, done at `close`."""
    with time_machine.travel(at, tick=False) as clock, transaction(factory) as s:
        sub = chat_for(s, patient(s, f"p{at.timestamp()}{who}{after}"))
        task = receive(s, config, sub, Incoming(telegram_message_id=1, text="Вопрос")).task
        clock.shift(timedelta(minutes=after))
        reply(s, task, "Ответ", author=who)
        clock.shift(timedelta(minutes=close - after))
        transition(s, task, "done", who)


def test_percentile_is_a_value_that_occurred() -> None:
    assert response_times.percentile([], 0.5) is None
    assert response_times.percentile([5], 0.9) == 5
    values = list(range(1, 11))  # 1..10
    assert response_times.percentile(values, 0.5) == 5
    assert response_times.percentile(values, 0.9) == 9
    assert response_times.percentile([30, 10, 20], 0.5) == 20


def test_median_and_p90_per_administrator_and_week_in_the_panel_and_csv(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    for n, minutes in enumerate((2, 4, 6, 8, 100)):
        _answered(factory, config, WEEK1 + timedelta(hours=n), "Ольга", minutes, minutes + 10)
    _answered(factory, config, WEEK2, "Мария", 30, 60)
    with factory() as s:
        items = response_times.episodes(s, WEEK1, WEEK2 + timedelta(days=1))
    people = {f.label: f for f in response_times.by_administrator(items)}
    olga = people["Ольга"]
    assert (olga.episodes, olga.responses, olga.resolved) == (5, 5, 5)
    assert (olga.first_median, olga.first_p90) == (6 * 60, 100 * 60)
    assert (olga.resolution_median, olga.resolution_p90) == (16 * 60, 110 * 60)
    weeks = response_times.by_week(items, config.clinic.tz)
    assert [w.label for w in weeks] == ["2027-W10", "2027-W11"]
    assert weeks[1].first_median == 30 * 60 and weeks[1].resolution_p90 == 60 * 60

    with time_machine.travel(WEEK2 + timedelta(days=1), tick=False):
        administrator.login("admin", PASSWORDS["admin"])  # a session from today is stale then
        page = administrator.get("/tasks/times?days=28").get_data(as_text=True)
        response = administrator.get("/tasks/times.csv?days=28")
    assert re.search(r"<td>Ольга</td><td>5</td><td>5</td>\s*<td>6</td><td>100</td>", page)
    assert "неделя с 15.03.2027" in page and "2027-W11" not in page
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Задача", "Вид", "Открыта"] and len(rows[1:7]) == 6
    assert rows[1][5:7] == ["Ольга", "2,0"]  # minutes, a decimal comma
    assert re.fullmatch(r"\d\d\.\d\d\.2027 \d\d:\d\d", rows[1][2])
    assert rows[1][3].startswith("неделя с ") and "W1" not in text
    summary = rows[rows.index([]) + 2 :]
    assert ["Мария", "1", "1", "30,0", "30,0", "1", "60,0", "60,0"] in summary


def test_a_staff_member_links_telegram_with_a_one_time_code(
    administrator: Persona, factory: sessionmaker[Session]
) -> None:
    page = administrator.get("/tasks/telegram").get_data(as_text=True)
    assert "Получить код" in page and 'id="linked"' not in page
    page = administrator.post("/tasks/telegram/code", {}).get_data(as_text=True)
    code = re.search(r"/link ([0-9A-Z]{4}-[0-9A-Z]{4})", page).group(1)
    with transaction(factory) as s:
        user = staff_links.redeem(s, code, 5555, "Ольга", utcnow())
        assert user is not None and user.login == "admin"
    page = administrator.get("/tasks/telegram").get_data(as_text=True)
    assert 'id="linked"' in page and "Ольга" in page
    administrator.post("/tasks/telegram/unlink", {})
    with factory() as s:
        admin = s.scalars(select(StaffUser).where(StaffUser.login == "admin")).one()
        assert staff_links.link_of(s, admin) is None and staff_links.staff_for(s, 5555) is None


def test_the_response_times_report_has_its_chart_and_a_russian_csv(
    manager: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    """«Отчёты → Время ответа»: the same episodes over a picked period, in minutes with a
    decimal comma, per stretch and per staff member; an episode outside the period does
    not count."""
    for n, minutes in enumerate((2, 4, 6, 8, 100)):
        _answered(factory, config, WEEK1 + timedelta(hours=n), "Ольга", minutes, minutes + 10)
    _answered(factory, config, WEEK2, "Мария", 30, 60)
    _answered(factory, config, WEEK2 + timedelta(days=14), "Мария", 1, 2)  # after the period
    period = "?from=2027-03-08&to=2027-03-21"
    assert manager.login_name is not None
    with time_machine.travel(WEEK2 + timedelta(days=20), tick=False):
        manager.login(manager.login_name, PASSWORDS[manager.login_name])
        page = manager.get("/reports/response-times" + period)
        download = manager.get("/reports/response-times.csv" + period)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "Первый ответ, минуты" in html
    # Six episodes: first responses 2, 4, 6, 8, 30, 100 min: median 6, p90 100.
    assert '<b id="figure-episodes">6</b>' in html
    assert '<b id="figure-first-median">6,0</b>' in html
    assert '<b id="figure-first-p90">100,0</b>' in html
    rows = list(
        csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert rows[0] == ["Время ответа", "08.03.2027", "21.03.2027"]
    assert ["Ольга", "5", "5", "6,0", "100,0", "5", "16,0", "110,0"] in rows
    assert ["Мария", "1", "1", "30,0", "30,0", "1", "60,0", "60,0"] in rows
    stretches = rows[rows.index(["По отрезкам периода"]) + 2 : rows.index(["По сотрудникам"]) - 1]
    assert sum(int(r[1]) for r in stretches) == 6
