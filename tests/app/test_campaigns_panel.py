"""The campaigns screen without a browser: the builder's preview, the confirmation it takes
to send, a campaign's page and its progress poll, presets, bad input and permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import campaigns
from core.campaigns.segments import Segment
from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, Campaign, Doctor
from tests.conftest import Persona
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock


def _world(factory) -> None:  # type: ignore[no-untyped-def]
    long_ago = utcnow() - timedelta(days=300)
    with transaction(factory) as s:
        s.add(Doctor(mis_id="hyg", full_name="Смирнова Анна", specialty="Гигиенист"))
        for i, first in enumerate(("Анна", "Борис", "Вера")):
            p = patient(s, f"p{i}", first=first, last="Кузнецова" if i != 1 else "Кузнецов")
            chat_for(s, p)
            s.add(
                Appointment(
                    mis_id=f"a{i}",
                    patient_mis_id=p.mis_id,
                    doctor_mis_id="hyg",
                    starts_at=long_ago if i else utcnow() - timedelta(days=20),
                    ends_at=long_ago,
                    status="completed",
                )
            )


BUILDER = {
    "last_visit_months": "6",
    "service": "гигиен",
    "no_future_visit": "1",
    "title": "Гигиена",
    "text": "{name}, пора на гигиену",
    "when": "now",
}


def test_preview_counts_and_samples_and_sending_needs_the_confirmation(
    owner: Persona, factory, config, clock
) -> None:  # type: ignore[no-untyped-def]
    _world(factory)
    page = owner.post("/campaigns/preview", BUILDER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<b id="preview-count">2</b>' in html
    assert "Кузнецов Борис" in html and "Кузнецова Вера" in html
    assert "Кузнецова Анна" not in html  # her hygiene was 20 days ago
    assert "Борис Сергеевна, пора на гигиену" in html or "Вера Сергеевна, пора на гигиену" in html
    assert ">Отправить сейчас<" in html
    # Straight to sending, skipping the preview's confirmation: refused, nothing created.
    refused = owner.post("/campaigns/", BUILDER)
    assert refused.status_code == 400
    assert "подтвердите отправку" in refused.get_data(as_text=True)
    with factory() as s:
        assert s.scalars(select(Campaign)).all() == []
    sent = owner.post("/campaigns/", {**BUILDER, "confirm": "now"})
    assert sent.status_code == 302
    with factory() as s:
        campaign = s.scalars(select(Campaign)).one()
        assert campaigns.segment_of(s, campaign) == Segment(
            last_visit_months=6, service="гигиен", no_future_visit=True
        )
        assert campaign.send_at <= utcnow()
    assert sent.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    campaigns.advance(factory, config)
    shown = owner.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="campaign-bar"' in shown and "обработано 0 из 2" in shown
    poll = owner.get(f"/campaigns/{campaign.id}/progress?v=").get_json()
    assert poll["changed"] is True and "campaign-progress" in poll["parts"]
    clock.advance(timedelta(seconds=5))  # the cancel form's CSRF token is signed anew
    again = owner.get(f"/campaigns/{campaign.id}/progress?v={poll['version']}").get_json()
    assert again == {"changed": False, "version": poll["version"], "parts": {}}


def test_a_scheduled_campaign_in_the_clinics_time(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    _world(factory)
    when = (utcnow() + timedelta(days=3)).astimezone(UTC).strftime("%Y-%m-%dT10:00")
    form = {**BUILDER, "when": "later", "send_at": when}
    html = owner.post("/campaigns/preview", form).get_data(as_text=True)
    assert "Запланировать на" in html
    assert owner.post("/campaigns/", {**form, "confirm": "now"}).status_code == 400
    assert owner.post("/campaigns/", {**form, "confirm": "schedule"}).status_code == 302
    with factory() as s:
        campaign = s.scalars(select(Campaign)).one()
    # 10:00 in the clinic (Moscow) is 07:00 UTC.
    assert campaign.send_at.hour == 7 and campaign.state == "scheduled"


def test_presets_fill_the_builder(manager: Persona) -> None:
    html = manager.get("/campaigns/?preset=hygiene_recall").get_data(as_text=True)
    assert 'name="last_visit_months" value="6"' in html
    assert 'name="service" value="гигиен"' in html
    assert 'name="booking" value="1" checked' in html
    html = manager.get("/campaigns/?preset=bonus_reminder").get_data(as_text=True)
    assert 'name="balance_above" value="500"' in html and "потратьте их на" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("last_visit_months", "1e400", "целое"),
        ("last_visit_months", "0", "от 1"),
        ("expiring_by", "2027-02-30", "непонятная дата"),
        ("last_visit_to", "9999-12-31", "вне разумных"),
        ("text", "{name} {discount}", "Неизвестная подстановка"),
        ("text", "  ", "нет текста"),
    ],
)
def test_bad_input_is_refused_with_the_reason(owner: Persona, field, value, message) -> None:  # type: ignore[no-untyped-def]
    response = owner.post("/campaigns/preview", {**BUILDER, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_schedule_must_be_a_moment_ahead(owner: Persona) -> None:
    for when in ("", "вчера", "2000-01-01T10:00", "9999-12-31T23:59"):
        response = owner.post("/campaigns/preview", {**BUILDER, "when": "later", "send_at": when})
        assert response.status_code == 400


def test_administrators_may_not_send(administrator: Persona, manager: Persona) -> None:
    assert administrator.get("/campaigns/").status_code == 403
    assert administrator.post("/campaigns/preview", BUILDER).status_code == 403
    assert administrator.post("/campaigns/", {**BUILDER, "confirm": "now"}).status_code == 403
    assert manager.get("/campaigns/").status_code == 200


def test_an_older_campaign_by_a_fixed_segment_still_shows(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        old = campaigns.create_campaign(s, title="Старая", text="x", segment="all", created_by="o")
        old.send_at = datetime(2026, 1, 1, tzinfo=UTC)
    html = owner.get(f"/campaigns/{old.id}").get_data(as_text=True)
    assert "все подключённые пациенты" in html


# Malformed input on the builder's and a campaign's forms (app/views/campaign_forms.py):
# refused with every reason in Russian at once, the values as typed kept, nothing created.

MALFORMED = {
    "last_visit_months": "шесть",
    "balance_above": "²",
    "rating_min": "1234567890",
    "last_visit_from": "01.02.2026",
    "expiring_by": "2026-13-01",
    "text": "  ",
}
REASONS = (
    "«Последний визит, месяцев назад»: нужно целое неотрицательное число.",
    "«Баланс больше»: нужно целое неотрицательное число.",
    "«Оценка от»: нужно целое неотрицательное число.",
    "«Последний визит с»: непонятная дата.",
    "«Баллы сгорают до»: непонятная дата.",
    "У рассылки нет текста.",
)


@pytest.mark.parametrize(("path", "confirm"), [("/campaigns/preview", ""), ("/campaigns/", "now")])
def test_a_malformed_builder_shows_every_reason_and_keeps_what_was_typed(
    owner: Persona, factory, path: str, confirm: str
) -> None:  # type: ignore[no-untyped-def]
    _world(factory)
    response = owner.post(path, {**BUILDER, **MALFORMED, "confirm": confirm})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for reason in REASONS:
        assert reason in html, reason
    assert 'name="last_visit_months" value="шесть"' in html
    assert 'name="last_visit_from" value="01.02.2026"' in html
    assert 'id="preview-count"' not in html  # no preview of a segment that was not built
    with factory() as s:
        assert s.scalars(select(Campaign)).all() == []


@pytest.mark.parametrize("confirm", ["", "NOW", "schedule", "now now"])
def test_a_campaign_without_the_confirmation_it_needs_is_not_created(
    owner: Persona, factory, confirm: str
) -> None:  # type: ignore[no-untyped-def]
    _world(factory)
    response = owner.post("/campaigns/", {**BUILDER, "confirm": confirm})
    assert response.status_code == 400
    assert "подтвердите отправку после просмотра" in response.get_data(as_text=True)
    with factory() as s:
        assert s.scalars(select(Campaign)).all() == []
    # Spaces around the pressed button's value are the form's to strip, as before.
    assert owner.post("/campaigns/", {**BUILDER, "confirm": " now "}).status_code == 302


def test_a_cancel_without_the_pages_token_stops_nothing(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        later = campaigns.create_campaign(
            s,
            title="Позже",
            text="x",
            segment=Segment(last_visit_months=6),
            created_by="o",
            send_at=utcnow() + timedelta(days=1),
        )
    url = f"/campaigns/{later.id}/cancel"
    for data in ({}, {"csrf_token": "forged"}):
        assert owner.client.post(url, data=data).status_code == 400
    with factory() as s:
        assert s.get(Campaign, later.id).state == "scheduled"
    assert owner.post(url).status_code == 302
    with factory() as s:
        assert s.get(Campaign, later.id).state == "cancelled"
