"""«Отчёты» in a real headless Chromium: the owner opens the ratings report, sees the SVG
chart drawn (under the panel's CSP: no script draws it), picks a period that cannot be
and is told why, and downloads the CSV with the page's numbers."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from core.clock import local_now, utcnow
from core.config import Config
from core.db import transaction
from core.models import Doctor, VisitRating
from tests.app.test_browser import _screenshot, browser, page  # noqa: F401  (fixtures)
from tests.conftest import PASSWORDS
from tests.core.people import chat_for, patient

pytestmark = [pytest.mark.browser, pytest.mark.clock]


@pytest.fixture
def reports_url(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="panel", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def test_owner_sees_the_nps_chart_and_downloads_its_csv(
    page: Any,  # noqa: F811
    reports_url: str,
    factory: sessionmaker[Session],
    config: Config,
) -> None:
    from playwright.sync_api import expect

    # Yesterday in the clinic (the default period is the last twelve weeks): Dr Petrov's
    # 10, 9, 7 and 6 on the 1-10 scale: two promoters, a passive, a detractor — NPS 25.
    answered = utcnow() - timedelta(days=1)
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров Пётр"))
        sub = chat_for(s, patient(s, "p"))
        for n, score in enumerate((10, 9, 7, 6)):
            s.add(
                VisitRating(
                    appointment_mis_id=f"v{n}",
                    patient_mis_id="p",
                    subscriber_id=sub.id,
                    doctor_mis_id="d1",
                    asked_at=answered,
                    scale="10",
                    score=score,
                    answered_at=answered,
                )
            )

    page.goto(reports_url + "/login")
    page.fill("#login", "owner")
    page.fill("#password", PASSWORDS["owner"])
    page.click("#login-submit")
    page.get_by_role("link", name="Отчёты").click()
    page.get_by_role("link", name="Оценки и NPS").click()
    expect(page.locator("h1")).to_have_text("Оценки и NPS")

    chart = page.get_by_role("img", name="NPS по врачам")
    expect(chart).to_be_visible()
    bar = chart.locator("rect.bar")
    expect(bar).to_have_count(1)
    box = bar.bounding_box()
    assert box is not None and box["height"] > 20  # drawn, not an empty element
    expect(page.locator("svg#nps-chart circle.point")).to_have_count(1)
    expect(page.locator("#figure-nps")).to_have_text("25,0")
    expect(page.locator("#table-by-doctor")).to_contain_text("Петров Пётр")
    _screenshot(page, "reports-ratings.png")

    # A period whose start is after its end: refused, with the reason and the picker.
    today = local_now(config.clinic.tz).date()
    page.fill("#period-from", f"{today:%d.%m.%Y}")
    page.fill("#period-to", f"{today - timedelta(days=3):%d.%m.%Y}")
    with page.expect_response(lambda r: "/reports/ratings?" in r.url) as answer:
        page.click("#period-submit")
    assert answer.value.status == 400
    expect(page.locator("#period-error")).to_have_text("Начало периода позже его конца.")

    page.fill("#period-from", f"{today - timedelta(days=6):%d.%m.%Y}")
    page.fill("#period-to", f"{today:%d.%m.%Y}")
    page.click("#period-submit")
    expect(page.locator("#period-label")).to_contain_text(f"{today:%d.%m.%Y}")
    expect(page.locator("#period-from")).to_have_value(f"{today - timedelta(days=6):%d.%m.%Y}")
    with page.expect_download() as download_info:
        page.click("#csv")
    download = download_info.value
    assert download.suggested_filename == (
        f"ratings-{today - timedelta(days=6):%Y%m%d}-{today:%Y%m%d}.csv"
    )
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][0] == "Оценки и NPS"
    doctors = rows.index(["По врачам"])
    assert rows[doctors + 1][0] == "Врач" and rows[doctors + 1][-1] == "NPS"
    assert rows[doctors + 2] == ["Петров Пётр", "4", "4,0", "2", "1", "1", "25,0"]
