"""The delivery screen (what needs a person, who is unreachable) and campaigns (owner and manager)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.models import Campaign, OutboxMessage
from core.outbox import enqueue
from tests.conftest import Persona
from tests.core.people import chat_for, patient


def _setup(factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        anna = patient(s, "11", last="Иванова", first="Анна")
        oleg = patient(s, "12", last="Петров", first="Олег", middle="Ильич")
        chat_for(s, anna)
        blocked = chat_for(s, oleg)
        blocked.unreachable_at, blocked.unreachable_reason = (
            utcnow(),
            "Forbidden: bot was blocked by the user",
        )
        ids = {}
        for key, state in (("held", "unknown"), ("gave-up", "failed"), ("fine", "sent")):
            m = enqueue(
                s, key=key, chat_id=1, text=f"text {key}", kind="reminder", patient_mis_id="11"
            )
            assert m is not None
            m.state = state
            ids[key] = m.id
    return ids


def test_the_delivery_screen_shows_what_needs_a_person(administrator: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(factory)
    page = administrator.get("/delivery/").get_data(as_text=True)
    assert 'data-key="held"' in page and 'data-key="gave-up"' in page
    assert 'data-key="fine"' not in page
    assert "неизвестно, дошло ли" in page and "Иванова Анна Сергеевна" in page
    # The unreachable patient, with Telegram's reason.
    assert "Петров Олег Ильич" in page and "bot was blocked by the user" in page
    assert 'id="stat-unreachable">1<' in page
    response = administrator.post(f"/delivery/{ids['held']}/resend")
    assert response.status_code == 302
    with factory() as s:
        row = s.get(OutboxMessage, ids["held"])
    assert row.state == "pending" and "Ольга Админова" in row.last_error
    # A sent message cannot be "resent" from here.
    administrator.post(f"/delivery/{ids['fine']}/resend")
    with factory() as s:
        assert s.get(OutboxMessage, ids["fine"]).state == "sent"


def test_campaigns_are_for_the_owner_only(
    administrator: Persona, outsider: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    assert administrator.get("/campaigns/").status_code == 403
    response = administrator.post("/campaigns/", {"text": "x", "segment": "all"})
    assert response.status_code == 403
    assert outsider.get("/campaigns/").status_code == 302
    assert "Рассылки" not in administrator.get("/").get_data(as_text=True)
    with factory() as s:
        assert s.scalars(select(Campaign)).all() == []


def test_the_owner_plans_and_cancels_a_campaign(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    _setup(factory)
    # Anna allows mailings; Oleg is unreachable. (The builder: tests/app/test_campaigns_panel.py.)
    when = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT10:00")
    form = {"title": "Весна", "text": "{name}, весенняя акция", "when": "later", "send_at": when}
    page = owner.post("/campaigns/preview", form).get_data(as_text=True)
    assert '<b id="preview-count">1</b>' in page
    owner.post("/campaigns/", {**form, "confirm": "schedule"})
    with factory() as s:
        campaign = s.scalars(select(Campaign)).one()
    assert (campaign.title, campaign.state, campaign.created_by) == (
        "Весна",
        "scheduled",
        "Владелец Клиники",
    )
    # 10:00 in the clinic (Moscow) is 07:00 UTC.
    assert campaign.send_at.hour == 7
    assert "Весна" in owner.get("/campaigns/").get_data(as_text=True)
    owner.post(f"/campaigns/{campaign.id}/cancel")
    with factory() as s:
        assert s.get(Campaign, campaign.id).state == "cancelled"
    owner.post("/campaigns/", {"text": "   ", "when": "now", "confirm": "now"})
    owner.post("/campaigns/", {"text": "x", "when": "now"})  # not confirmed
    with factory() as s:
        assert len(s.scalars(select(Campaign)).all()) == 1
