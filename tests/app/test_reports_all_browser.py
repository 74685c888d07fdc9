"""Every report of «Отчёты» (and the inbox's «Время ответа») in a real headless Chromium:
the owner opens it from the list, sees its server-drawn chart with a mark for the data the
test put in and the table beside it, changes the period with a preset and with dates, and
downloads the CSV in Russian; the manager may open them, the administrator may not. Then
«Настройки → Подключение к МИС»: «Проверить» shows `kabinet mis check`'s report, a DSN
that does not connect shows the reason in Russian and nothing is kept."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.views.reports import REPORTS
from core.clock import local_now, utcnow
from core.config import Config
from core.db import transaction
from core.loyalty.referrals import payload_for
from core.models import Appointment, Doctor, OutboxMessage, StaffUser, VisitRating
from core.ratings.models import ReviewOffer
from core.reports.period import MONTHS
from core.settings import mis_check
from tests.app.test_access_browser import _log_in
from tests.app.test_browser import _screenshot, browser, page  # noqa: F401  (fixtures)
from tests.app.test_reports_browser import reports_url  # noqa: F401  (fixture)
from tests.app.test_response_times import _answered
from tests.app.test_settings_mis import _rows
from tests.conftest import PASSWORDS, add_manager
from tests.core.loyalty_world import World
from tests.core.people import chat_for, patient

pytestmark = [pytest.mark.browser, pytest.mark.clock]

DATA_MARKS = "rect.bar, circle.point"


@dataclass(frozen=True)
class Seeded:
    today: date  # the clinic's today
    day: date  # the clinic day everything happened on, two days ago
    month: str  # its month as the economics table names it


def _seed(factory: sessionmaker[Session], config: Config) -> Seeded:
    """Two days ago, something for every report: a patient who came by the administrator's
    link, one by another patient's who then paid 3 000 ₽ for a visit, a reminded visit that
    was confirmed, Dr Petrov's four ratings (NPS 25), a review button offered, and an
    episode Ольга answered in 5 minutes and closed in 15."""
    at = utcnow() - timedelta(days=2)
    tz = config.clinic.tz
    with World(factory, config, now=at) as w:
        with transaction(factory) as t:
            admin = t.query(StaffUser).filter_by(login="admin").one()
            staff_link = payload_for(t, "staff", str(admin.id))
        for p, name in (("anna", "Анна"), ("olga", "Ольга"), ("new", "Нина")):
            w.patient(p, name=name)
        w.connect("anna", payload=staff_link)
        w.connect("olga")
        with transaction(factory) as t:
            friend_link = payload_for(t, "patient", "olga")
        w.connect("new", payload=friend_link)
        w.pay("new", "3000", visit=w.visit("new"))
        with transaction(factory) as t:
            t.add(Appointment(mis_id="vc", patient_mis_id="anna", starts_at=at, ends_at=at,
                              confirmation="confirmed"))  # fmt: skip
            t.add(
                OutboxMessage(
                    key=f"reminder:vc:{at.isoformat()}:1d:1",
                    chat_id=1,
                    kind="reminder",
                    text="Напоминание",
                    state="sent",
                    sent_at=at - timedelta(hours=1),
                )
            )
            t.add(Doctor(mis_id="d1", full_name="Петров Пётр"))
            sub = chat_for(t, patient(t, "p"))
            for n, score in enumerate((10, 9, 7, 6)):
                t.add(
                    VisitRating(
                        appointment_mis_id=f"r{n}",
                        patient_mis_id="p",
                        subscriber_id=sub.id,
                        doctor_mis_id="d1",
                        asked_at=at,
                        scale="10",
                        score=score,
                        answered_at=at,
                    )  # fmt: skip
                )
            offered = VisitRating(appointment_mis_id="rv", patient_mis_id="p",
                                  subscriber_id=sub.id, asked_at=at, review_link_offered=True)  # fmt: skip
            t.add(offered)
            t.flush()
            t.add(ReviewOffer(rating_id=offered.id, patient_mis_id="p", platform="yandex",
                              url="https://yandex.ru/maps/org/1", token="tok-1", offered_at=at))  # fmt: skip
    _answered(factory, config, at, "Ольга", 5, 15)
    day = at.astimezone(tz).date()
    return Seeded(today=local_now(tz).date(), day=day, month=f"{MONTHS[day.month - 1]} {day.year}")


def _row(rows: list[list[str]], first: str) -> list[str]:
    return next(r for r in rows if r and r[0] == first)


def _check_csv(slug: str, rows: list[list[str]], seeded: Seeded) -> None:
    """The seeded numbers in the download, in Russian: dd.mm.yyyy, a decimal comma."""
    day = f"{seeded.day:%d.%m.%Y}"
    if slug == "connections":
        # By a staff link, a patient's, another tag, none (Ольга, the rater, the writer), all.
        assert _row(rows, day)[1:] == ["1", "1", "0", "3", "5"]
        assert _row(rows, "Ольга Админова") == ["Ольга Админова", "1", "0", "100"]
    elif slug == "confirmations":
        assert _row(rows, day) == [day, "1", "1", "0", "0", "0", "100,0", "0"]
    elif slug == "ratings":
        assert _row(rows, "Петров Пётр") == ["Петров Пётр", "4", "4,0", "2", "1", "1", "25,0"]
    elif slug == "referrals":
        assert _row(rows, day)[-1] == "3000,00"
        assert _row(rows, "Иванова Ольга") == ["Иванова Ольга", "1", "1", "3000,00"]
    elif slug == "reviews":
        assert _row(rows, day)[1:3] == ["5", "1"]  # rating requests, of them with the link
    elif slug == "response-times":
        assert _row(rows, "Ольга") == ["Ольга", "1", "1", "5,0", "5,0", "1", "15,0", "15,0"]
    elif slug == "economics":
        month = _row(rows, seeded.month)
        assert month[6] == "3000,00" and month[9] == "150,00" and month[10] == "3000,00"
    else:  # a report added to REPORTS needs its data and its numbers here
        pytest.fail(f"no data seeded for the report {slug!r}")


@pytest.mark.parametrize("slug", sorted(REPORTS))
def test_the_owner_reads_each_report_changes_its_period_and_downloads_it(
    page: Any,  # noqa: F811
    reports_url: str,  # noqa: F811
    factory: sessionmaker[Session],
    config: Config,
    slug: str,
) -> None:
    from playwright.sync_api import expect

    seeded = _seed(factory, config)
    entry = REPORTS[slug]
    _log_in(page, reports_url, "owner", PASSWORDS["owner"])
    page.get_by_role("link", name="Отчёты").click()
    page.locator(f"#reports a[href='/reports/{slug}']").click()
    expect(page.locator("h1")).to_have_text(entry.title)

    def drawn() -> None:
        charts = page.locator("svg.chart[role=img]")
        expect(charts.first).to_be_visible()
        # A mark with a size: a stacked bar of 0 is a rect too, but draws nothing.
        marks = page.locator(f"svg.chart :is({DATA_MARKS})").evaluate_all(
            "els => els.filter(e => e.tagName === 'circle' || e.getBBox().height > 0).length"
        )
        assert marks >= 1, f"{slug}: no data drawn"
        expect(page.locator("svg.chart .no-data")).to_have_count(0)
        tables = page.locator("table.report-table")
        expect(tables.first).to_be_visible()
        expect(tables.first.locator("tbody tr").first).not_to_contain_text("Нет данных")

    drawn()
    _screenshot(page, f"reports-{slug}.png")

    # A preset: the last four weeks.
    four_weeks = seeded.today - timedelta(days=27)
    page.locator("#period-form").get_by_role("link", name="4 недели").click()
    expect(page.locator("#period-label")).to_contain_text(
        f"Период: {four_weeks:%d.%m.%Y} — {seeded.today:%d.%m.%Y}"
    )
    expect(page.locator("#period-from")).to_have_value(f"{four_weeks:%d.%m.%Y}")
    drawn()

    # Dates typed as the clinic writes them: the last week.
    week = seeded.today - timedelta(days=6)
    page.fill("#period-from", f"{week:%d.%m.%Y}")
    page.fill("#period-to", f"{seeded.today:%d.%m.%Y}")
    page.click("#period-submit")
    expect(page.locator("#period-label")).to_contain_text(
        f"Период: {week:%d.%m.%Y} — {seeded.today:%d.%m.%Y}"
    )
    drawn()
    headers = [
        page.locator(f"#table-{key} thead th").all_inner_texts()
        for key in page.locator("table.report-table").evaluate_all(
            "ts => ts.map(t => t.id.slice('table-'.length))"
        )
    ]
    titles = page.locator("h2").all_inner_texts()

    with page.expect_download() as download_info:
        page.click("#csv")
    download = download_info.value
    assert download.suggested_filename == f"{slug}-{week:%Y%m%d}-{seeded.today:%Y%m%d}.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the Cyrillic right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [entry.title, f"{week:%d.%m.%Y}", f"{seeded.today:%d.%m.%Y}"]
    # Each table of the page, under its Russian title, with the page's column names (the
    # unit, ₽ or %, added to the CSV's header).
    for header in headers:
        written = next(r for r in rows if r and r[0] == header[0])
        assert len(written) == len(header)
        assert all(w.startswith(h) for w, h in zip(written, header, strict=True)), written
        assert rows[rows.index(written) - 1][0] in titles
    _check_csv(slug, rows, seeded)
    # No decimal point, no ISO date anywhere: Excel in Russian would misread either.
    cells = [cell for r in rows for cell in r]
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d+|\d{4}-\d\d-\d\d.*", c)]


def test_the_owner_reads_the_inboxs_response_times(
    page: Any,  # noqa: F811
    reports_url: str,  # noqa: F811
    factory: sessionmaker[Session],
    config: Config,
) -> None:
    """«Время ответа» of the inbox: a table, no chart (the chart is «Отчёты → Время
    ответа»), a period of the last N days, and its CSV for Excel in Russian (minutes)."""
    from playwright.sync_api import expect

    _seed(factory, config)
    _log_in(page, reports_url, "owner", PASSWORDS["owner"])
    page.get_by_role("link", name="Отчёты").click()
    page.locator("#response-times").click()
    expect(page.locator("h1")).to_have_text("Время ответа")
    expect(page.locator("a.active")).to_have_text("56 дн.")
    olga = page.locator("#by-admin tbody tr", has_text="Ольга")
    expect(olga.locator("td")).to_have_text(["Ольга", "1", "1", "5", "5", "1", "15", "15"])
    expect(page.locator("#by-week tbody tr")).to_have_count(1)

    page.get_by_role("link", name="7 дн.").click()
    expect(page.locator("a.active")).to_have_text("7 дн.")
    expect(page.locator("p.filters")).to_contain_text("задач: 1")
    with page.expect_download() as download_info:
        page.click("#csv")
    download = download_info.value
    assert download.suggested_filename == "response-times-7d.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Задача", "Вид", "Открыта"]
    assert rows[1][5:9] == ["Ольга", "5,0", "Ольга", "15,0"]


def test_the_manager_opens_every_report_and_the_administrator_none(
    browser: Any,  # noqa: F811
    app: Any,
    reports_url: str,  # noqa: F811
    factory: sessionmaker[Session],
    config: Config,
) -> None:
    from playwright.sync_api import expect

    _seed(factory, config)
    add_manager(app)
    context = browser.new_context(locale="ru-RU")
    context.set_default_timeout(10_000)
    maria = context.new_page()
    _log_in(maria, reports_url, "manager", PASSWORDS["manager"])
    maria.get_by_role("link", name="Отчёты").click()
    for slug, entry in REPORTS.items():
        maria.goto(reports_url + "/reports")
        maria.locator(f"#reports a[href='/reports/{slug}']").click()
        expect(maria.locator("h1")).to_have_text(entry.title)
        expect(maria.locator(f"svg.chart :is({DATA_MARKS})").first).to_be_attached()
        with maria.expect_download() as download_info:
            maria.click("#csv")
        assert download_info.value.suggested_filename.startswith(f"{slug}-")
    context.close()

    context = browser.new_context(locale="ru-RU")
    context.set_default_timeout(10_000)
    olga = context.new_page()
    _log_in(olga, reports_url, "admin", PASSWORDS["admin"])
    expect(olga.locator("h1")).to_have_text("Сводка")
    expect(olga.get_by_role("link", name="Отчёты")).to_have_count(0)
    for path in ("/reports", *(f"/reports/{slug}" for slug in REPORTS)):
        response = olga.goto(reports_url + path)
        assert response is not None and response.status == 403, path
        expect(olga.locator("#error h1")).to_have_text("Ошибка 403")
        expect(olga.locator("svg.chart")).to_have_count(0)
    for slug in REPORTS:
        response = olga.request.get(reports_url + f"/reports/{slug}.csv")
        assert response.status == 403, slug
    # The inbox's own «Время ответа» is every staff member's (tasks.work in
    # app/permissions.py): the administrator measures herself.
    response = olga.goto(reports_url + "/tasks/times")
    assert response is not None and response.status == 200
    context.close()


def test_the_owner_checks_the_mis_connection_and_a_wrong_one_is_refused(
    page: Any,  # noqa: F811
    reports_url: str,  # noqa: F811
    factory: sessionmaker[Session],
    config: Config,
    demo_clinic: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    expected = mis_check.run(config)  # what `kabinet mis check` reports on the same MIS
    assert expected.ok
    _log_in(page, reports_url, "owner", PASSWORDS["owner"])
    page.goto(reports_url + "/settings")
    page.get_by_role("link", name="Подключение к МИС").click()
    expect(page.locator("h1")).to_have_text("Подключение к МИС")
    expect(page.locator("#f-mis__dsn")).to_have_value(config.mis.dsn)
    expect(page.locator("#row-mis__dsn .source")).to_have_text("из файла")

    page.select_option("#f-mis__profile", "demo")
    page.fill("#f-mis__dsn", config.mis.dsn)
    page.get_by_role("button", name="Проверить").click()
    report = page.locator("#mis-report")
    expect(report).to_have_class("ok")
    expect(report).to_contain_text("✓ Подключение работает: все запросы профиля выполнены.")
    shown = report.locator("pre").inner_text().splitlines()
    # The command's lines, one for one (timings aside: they differ run to run).
    assert [line.split("(")[0] for line in shown] == [line.split("(")[0] for line in expected.lines]
    assert any(line.startswith("✓ patient: OK (5 rows read") for line in shown)
    assert _rows(factory) == {}  # a check keeps nothing

    # A DSN with a wrong password, to a server that is not there.
    wrong = f"{tmp_path}/PWD=wrong-pw;none.sqlite3"
    page.fill("#f-mis__dsn", wrong)
    page.get_by_role("button", name="Проверить").click()
    expect(report).to_have_class("error")
    expect(report).to_contain_text("✗ Подключиться не удалось: сервер базы МИС")
    expect(report).to_contain_text("недоступен")
    expect(page.locator("body")).not_to_contain_text("wrong-pw")
    with page.expect_response(lambda r: r.url.endswith("/settings/mis")) as answer:
        page.get_by_role("button", name="Сохранить").click()
    assert answer.value.status == 400
    expect(page.locator("body")).to_contain_text("Не сохранено: проверка не прошла.")
    expect(page.locator("body")).not_to_contain_text("wrong-pw")
    assert _rows(factory) == {}
    page.goto(reports_url + "/settings/mis")
    expect(page.locator("#f-mis__dsn")).to_have_value(config.mis.dsn)
    expect(page.locator("#row-mis__dsn .source")).to_have_text("из файла")
    _screenshot(page, "settings-mis.png")
