"""«Отчёты» in the panel: who may open them, periods refused with a message (never a 500),
the charts as accessible SVG, the CSV in Russian with the page's numbers."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from app.views.reports import REPORTS
from core.db import transaction
from core.models import Doctor, VisitRating
from tests.conftest import PASSWORDS, Persona
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

# Thursday 2027-03-11, noon in Moscow: the panel's "today" in these tests.
NOW = datetime(2027, 3, 11, 9, 0, tzinfo=UTC)


def _ratings(factory: sessionmaker[Session]) -> None:
    """Four ratings of Dr Petrov on 1-10 on 10.03.2027 (NPS 25), one 1-5 of nobody's."""
    answered = datetime(2027, 3, 10, 8, 0, tzinfo=UTC)
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров Пётр"))
        sub = chat_for(s, patient(s, "p"))
        for n, (doctor, scale, score) in enumerate(
            (("d1", "10", 10), ("d1", "10", 9), ("d1", "10", 7), ("d1", "10", 6), ("", "5", 4))
        ):
            s.add(
                VisitRating(
                    appointment_mis_id=f"v{n}",
                    patient_mis_id="p",
                    subscriber_id=sub.id,
                    doctor_mis_id=doctor,
                    asked_at=answered,
                    scale=scale,
                    score=score,
                    answered_at=answered,
                )
            )


@pytest.fixture
def at_now():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False):
        yield


def _fresh(persona: Persona) -> Persona:
    """Logged in again under the travelled clock (a session from the real today is stale)."""
    assert persona.login_name is not None
    persona.login(persona.login_name, PASSWORDS[persona.login_name])
    return persona


def test_reports_are_for_the_owner_and_manager_not_the_front_desk(
    at_now, owner: Persona, manager: Persona, administrator: Persona
) -> None:  # type: ignore[no-untyped-def]
    for slug in REPORTS:
        for url in (f"/reports/{slug}", f"/reports/{slug}.csv"):
            assert _fresh(owner).get(url).status_code == 200, url
            assert _fresh(manager).get(url).status_code == 200, url
            assert _fresh(administrator).get(url).status_code == 403, url
    index = _fresh(manager).get("/reports").get_data(as_text=True)
    assert all(f'href="/reports/{slug}"' in index for slug in REPORTS)
    assert 'href="/tasks/times"' in index  # response times stay the inbox's report
    assert ">Отчёты</a>" in _fresh(owner).get("/").get_data(as_text=True)
    assert ">Отчёты</a>" not in _fresh(administrator).get("/").get_data(as_text=True)
    assert _fresh(owner).get("/reports/nothing").status_code == 404
    assert _fresh(owner).get("/reports/nothing.csv").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=вчера", "Начало периода: «вчера» — не дата"),
        ("to=9999-12-31", "Конец периода позже сегодняшнего дня (11.03.2027)"),
        ("from=2027-03-10&to=2027-03-01", "Начало периода позже его конца"),
        ("from=1e400", "не дата"),
        ("from=1999-01-01", "раньше 01.01.2000"),
        ("from=2020-01-01&to=2027-03-01", "длиннее трёх лет"),
        ("from=2027-02-31", "не дата"),
    ],
)
def test_a_period_that_cannot_be_is_a_400_with_the_reason(
    at_now, owner: Persona, query: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    _fresh(owner)
    page = owner.get(f"/reports/ratings?{query}")
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)
    assert 'id="period-form"' in page.get_data(as_text=True)  # the picker to try again
    download = owner.get(f"/reports/ratings.csv?{query}")
    assert download.status_code == 400 and message in download.get_data(as_text=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(sorted(REPORTS)),
    st.one_of(st.text(max_size=30), st.dates().map(str), st.just("")),
    st.one_of(st.text(max_size=30), st.dates().map(str), st.just("")),
)
def test_any_period_text_is_served_or_refused_never_a_500(
    owner: Persona, slug: str, first: str, last: str
) -> None:
    for suffix in ("", ".csv"):
        response = owner.client.get(
            f"/reports/{slug}{suffix}", query_string={"from": first, "to": last}
        )
        assert response.status_code in (200, 400), (slug, first, last, response.status_code)


def test_ratings_page_draws_the_chart_and_the_csv_has_the_same_numbers(
    at_now, owner: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    _ratings(factory)
    _fresh(owner)
    query = "from=2027-03-01&to=2027-03-11"
    page = owner.get(f"/reports/ratings?{query}").get_data(as_text=True)
    assert re.search(
        r'<svg [^>]*role="img" aria-labelledby="nps-chart-title" aria-describedby="nps-chart-desc"',
        page,
    )
    assert '<title id="nps-chart-title">NPS по отрезкам периода</title>' in page
    assert "<title>10.03: NPS — 20,0</title>" in page  # the point's tooltip: (3 − 2) of 5
    assert 'id="figure-nps">20,0<' in page and 'id="figure-average">4,0<' in page
    assert re.search(
        r"<td>Петров Пётр</td><td class=\"num\">4</td><td class=\"num\">4,0</td>", page
    )
    assert "Период: 01.03.2027 — 11.03.2027" in page

    response = owner.get(f"/reports/ratings.csv?{query}")
    assert response.mimetype == "text/csv"
    assert "ratings-20270301-20270311.csv" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["Оценки и NPS", "01.03.2027", "11.03.2027"]
    header = rows.index(["По врачам"]) + 1
    assert rows[header] == [
        "Врач", "Оценок", "Средняя из 5", "Промоутеры", "Нейтральные", "Критики", "NPS",
    ]  # fmt: skip
    assert rows[header + 1] == ["Петров Пётр", "4", "4,0", "2", "1", "1", "25,0"]
    assert rows[header + 2] == ["врач не указан", "1", "4,0", "0", "1", "0", "0,0"]
    by_day = {r[0]: r for r in rows if r and r[0].endswith(".2027") and len(r) > 2}
    assert by_day["10.03.2027"][1:4] == ["5", "5", "4,0"]
    assert by_day["09.03.2027"][1:4] == ["0", "0", ""]
    assert Decimal(by_day["10.03.2027"][-1].replace(",", ".")) == Decimal("20.0")


def test_an_empty_period_says_so_in_the_chart_and_the_tables(at_now, manager: Persona) -> None:  # type: ignore[no-untyped-def]
    _fresh(manager)
    page = manager.get("/reports/referrals?from=2027-03-01&to=2027-03-11").get_data(as_text=True)
    assert "Нет данных за период" in page
    assert 'id="figure-revenue">0\u00a0₽<' in page
    assert "Как считается" in page


def test_economics_report_in_russian_format(at_now, owner: Persona) -> None:  # type: ignore[no-untyped-def]
    _fresh(owner)
    page = owner.get(
        "/reports/economics?from=" + (NOW - timedelta(days=60)).date().isoformat()
    ).get_data(as_text=True)
    assert "январь 2027" in page and "март 2027" in page
    assert "True" not in page and "None" not in page


def test_the_economics_screen_writes_its_numbers_in_russian_and_links_the_chart(
    owner: Persona,
) -> None:
    page = owner.get("/loyalty/economics").get_data(as_text=True)
    assert "прежней скидкой 5\u00a0% на все оплаты" in page
    assert 'href="/reports/economics"' in page
    assert not re.search(r"\d\.\d %", page)  # no «0.0 %»
