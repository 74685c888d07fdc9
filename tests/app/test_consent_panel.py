"""«Согласие»: owners and managers write the consent text, each save a new version the bot
shows from then on; administrators may not; a patient's card shows what they accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.db import transaction
from core.models import ConsentText, Patient, PatientLink, Subscriber
from core.patients import consent
from tests.conftest import Persona

TEXT = "Я соглашаюсь на обработку моих данных клиникой для записи и напоминаний."


def test_a_manager_saves_a_new_version_the_bot_then_shows(manager: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    page = manager.get("/consent/").get_data(as_text=True)
    assert 'href="/consent/"' in page and "текст по умолчанию (версия 2026-11)" in page
    assert manager.post("/consent/", {"text": TEXT}).status_code == 302
    assert (
        manager.post("/consent/", {"text": TEXT + " Согласие можно отозвать."}).status_code == 302
    )
    # The same text again is not a version.
    assert (
        manager.post("/consent/", {"text": TEXT + " Согласие можно отозвать."}).status_code == 302
    )
    with factory() as s:
        versions = [(v.version, v.created_by) for v in s.scalars(select(ConsentText))]
        shown = consent.current(s, "Клиника")
    assert [v for v, _ in versions] == ["1", "2"] and versions[0][1]
    assert (shown.version, shown.text) == ("2", TEXT + " Согласие можно отозвать.")
    assert "Сейчас бот показывает: <b>версию 2</b>" in manager.get("/consent/").get_data(
        as_text=True
    )


def test_an_empty_text_is_refused_and_an_administrator_may_not(
    owner: Persona, administrator: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    response = owner.post("/consent/", {"text": "   "})
    assert response.status_code == 400
    assert "Текст согласия не может быть пустым." in response.get_data(as_text=True)
    assert administrator.get("/consent/").status_code == 403
    assert administrator.post("/consent/", {"text": TEXT}).status_code == 403
    assert 'href="/consent/"' not in administrator.get("/").get_data(as_text=True)
    with factory() as s:
        assert s.scalars(select(ConsentText)).all() == []


def test_the_patient_card_shows_the_acceptance(administrator: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        s.add(Patient(mis_id="p-7", last_name="Орлова", first_name="Вера", middle_name="Игоревна"))
        sub = Subscriber(telegram_user_id=501, chat_id=501, first_name="Вера")
        sub.consent_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
        sub.consent_version = "3"
        s.add(sub)
        s.flush()
        s.add(PatientLink(subscriber_id=sub.id, patient_mis_id="p-7", phone="+79155557788"))
    html = administrator.get("/patients/p-7").get_data(as_text=True)
    assert "Согласие на обработку данных: 01.12.2026 12:30, версия 3, чат 501" in html


def test_malformed_text_is_refused_in_russian_and_saves_nothing(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    import io

    cases = [
        ({}, "Текст согласия не может быть пустым."),  # no text field at all
        ({"text": "ж" * (consent.MAX_TEXT + 1)}, f"длиннее {consent.MAX_TEXT} символов"),
        ({"text": "\r\n\t "}, "Текст согласия не может быть пустым."),
    ]
    for data, reason in cases:
        response = owner.post("/consent/", data)
        assert response.status_code == 400, data
        assert reason in response.get_data(as_text=True), data
    # A file where the text goes is not read as the text.
    response = owner.client.post(
        "/consent/",
        data={"csrf_token": owner.csrf(), "text": (io.BytesIO(TEXT.encode()), "text.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Текст согласия не может быть пустым." in response.get_data(as_text=True)
    # Nor is a text sent without the CSRF token.
    assert owner.client.post("/consent/", data={"text": TEXT}).status_code == 400
    with factory() as s:
        assert s.scalars(select(ConsentText)).all() == []
