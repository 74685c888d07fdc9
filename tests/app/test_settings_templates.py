"""«Тексты сообщений» (app/views/settings.py): the owner's alone; the preview fills a text
in with sample values (live, and with the «Предпросмотр» button); a text with an unknown
placeholder is refused with the reason and nothing is kept; a saved text is what the next
rating request says; «вернуть исходный текст» brings the built-in one back."""

from __future__ import annotations

import html

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import texts
from core.ratings.survey import plan_rating_requests
from core.settings.models import PanelSetting
from tests.conftest import Persona
from tests.core.test_ratings import _requests, _setup


def _rows(factory: sessionmaker[Session]) -> dict[str, object]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_only_the_owner_opens_it(owner: Persona, administrator: Persona) -> None:
    assert administrator.get("/settings/templates").status_code == 403
    data = {"key": "birthday", "text_ru": "{name}!"}
    assert administrator.post("/settings/templates", data).status_code == 403
    assert (
        administrator.post("/settings/templates/preview", {**data, "lang": "ru"}).status_code == 403
    )
    assert (
        administrator.post(
            "/settings/templates/reset", {"key": "birthday", "lang": "ru"}
        ).status_code
        == 403
    )
    page = _text(owner.get("/settings/templates"))
    assert "Напоминание (за дни или часы)" in page and "С днём рождения" in page
    # The preview of the built-in text, with the sample patient, in both languages.
    assert "Анна Петровна, с днём рождения!" in page and "Anna, happy birthday!" in page
    assert "изменено в панели" not in page
    assert "settings.js" in page and "<script>" not in page  # no inline script under the CSP


def test_the_live_preview_fills_in_or_says_why_not(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    ok = owner.post(
        "/settings/templates/preview",
        {"key": "rating_request", "lang": "ru", "text": "{name}, как {doctor}?"},
    )
    assert ok.get_json() == {
        "ok": True,
        "text": "Анна Петровна, как Стоматолог-терапевт Иванова Мария Сергеевна?",
    }
    bad = owner.post(
        "/settings/templates/preview", {"key": "rating_request", "lang": "en", "text": "{age}"}
    ).get_json()
    assert bad["ok"] is False
    assert "подстановки {age} здесь нет — можно: {name}, {when}, {doctor}." in bad["error"]
    assert (
        owner.post("/settings/templates/preview", {"key": "nope", "lang": "ru"}).status_code == 400
    )
    assert (
        owner.post("/settings/templates/preview", {"key": "birthday", "lang": "de"}).status_code
        == 400
    )
    # The «Предпросмотр» button: the page shows the typed text filled in, and keeps nothing.
    page = owner.post(
        "/settings/templates",
        {
            "key": "birthday",
            "text_ru": "С праздником, {name}!",
            "text_en": "Hi {name}",
            "action": "preview",
        },
    )
    assert page.status_code == 200
    assert "С праздником, Анна Петровна!" in _text(page) and "Hi Anna" in _text(page)
    assert _rows(factory) == {}


def test_an_unknown_placeholder_is_refused_and_nothing_is_kept(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    response = owner.post(
        "/settings/templates",
        {
            "key": "birthday",
            "text_ru": "{name}, вам {age}!",
            "text_en": "Hi {name}",
            "action": "save",
        },
    )
    assert response.status_code == 400
    page = _text(response)
    assert (
        "Не сохранено: «С днём рождения» (по-русски): подстановки {age} здесь нет — можно: "
        "{name}, {clinic}." in page
    )
    assert "{name}, вам {age}!" in page  # what was typed stays to be corrected
    assert _rows(factory) == {}  # not even the good English one
    assert owner.post("/settings/templates", {"key": "nope", "text_ru": "x"}).status_code == 400


def test_a_saved_text_is_used_shown_and_reverted(owner: Persona, tmp_path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory)
    response = owner.post(
        "/settings/templates",
        {
            "key": "rating_request",
            "text_ru": "{name}, оцените визит {when}, пожалуйста!",
            "text_en": texts.CATALOGUE["rating_request"]["en"],
            "action": "save",
        },
    )
    assert response.status_code == 302
    assert _rows(factory) == {
        "template:rating_request:ru": "{name}, оцените визит {when}, пожалуйста!"
    }
    page = _text(owner.get("/settings/templates"))
    assert "Сохранено: «Просьба оценить визит (1–5)»." in page
    assert page.count("изменено в панели") == 1 and "вернуть исходный текст" in page
    texts.set_panel_overrides({})  # the job's own reading of the settings brings it back
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    assert request.text.startswith("Анна Сергеевна, оцените визит ")
    assert request.text.split("\n")[0].endswith(", пожалуйста!")
    reset = owner.post("/settings/templates/reset", {"key": "rating_request", "lang": "ru"})
    assert reset.status_code == 302
    assert _rows(factory) == {}
    page = _text(owner.get("/settings/templates"))
    assert "«Просьба оценить визит (1–5)» (русский): снова действует исходный текст." in page
    assert texts.render("rating_request", "ru", name="А", when="w", doctor="d").startswith(
        "А, как прошёл визит"
    )
    again = owner.post("/settings/templates/reset", {"key": "rating_request", "lang": "ru"})
    assert again.status_code == 302
    assert "и так исходный текст" in _text(owner.get("/settings/templates"))
    assert (
        owner.post("/settings/templates/reset", {"key": "rating_request", "lang": "xx"}).status_code
        == 400
    )


def test_the_preview_on_a_real_patient(owner: Persona, factory, config) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from core.clock import utcnow
    from core.db import transaction
    from core.models import Appointment, Doctor
    from tests.core.people import patient

    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
        patient(s, "p77", first="Ольга", middle="Ивановна")
        starts = utcnow() + timedelta(days=30)
        s.add(
            Appointment(
                mis_id="v77",
                patient_mis_id="p77",
                doctor_mis_id="d1",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                status="scheduled",
            )
        )
    page = _text(owner.get("/settings/templates?patient=p77"))
    assert "Ольга Ивановна, как прошёл визит " in page and "Терапевт Петров П. П." in page
    assert 'name="patient" value="p77"' in page  # the forms keep to this patient
    live = owner.post(
        "/settings/templates/preview",
        {"key": "reminder", "lang": "ru", "text": "{name}: {doctor}", "patient": "p77"},
    ).get_json()
    assert live == {"ok": True, "text": "Ольга Ивановна: Терапевт Петров П. П."}
    missing = _text(owner.get("/settings/templates?patient=nobody"))
    assert "Пациента с номером карты «nobody» нет — пример на вымышленном пациенте." in missing
    assert "Анна Петровна, с днём рождения!" in missing
    assert _rows(factory) == {}


def test_the_new_texts_are_grouped_and_a_broken_one_is_refused(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    page = _text(owner.get("/settings/templates"))
    for group in ("Знакомство и согласие", "Бонусы", "Памятки после визита", "Семья"):
        assert f"<h2>{group}</h2>" in page
    assert 'id="g-bonuses" open' not in page  # the groups start closed
    assert "хранится версиями на странице «Согласие»" in page  # the consent itself is not here
    assert 'id="t-menu_visits"' in page  # the menu's labels are editable (own group)
    assert 'id="t-consent_default_text"' not in page
    opened = _text(owner.get("/settings/templates?group=bonuses"))
    assert 'id="g-bonuses" open' in opened and 'id="g-family" open' not in opened
    response = owner.post(
        "/settings/templates",
        {
            "key": "family_screen",
            "text_ru": "Ваша семья: {lines} ({count})",
            "text_en": texts.CATALOGUE["family_screen"]["en"],
            "action": "save",
        },
    )
    assert response.status_code == 400
    refused = _text(response)
    assert (
        "Не сохранено: «Экран «Семья»» (по-русски): подстановки {count} здесь нет — можно: "
        "{lines}, {clinic}." in refused
    )
    assert 'id="g-family" open' in refused  # the text to correct is in view
    assert _rows(factory) == {}
    button = owner.post(
        "/settings/templates/preview",
        {"key": "btn_doc_sign", "lang": "ru", "text": "✍️ " + "подписать " * 7},
    ).get_json()
    assert button["ok"] is False and "надпись на кнопке длиннее 64 знаков" in button["error"]
    saved = owner.post(
        "/settings/templates",
        {"key": "family_screen", "text_ru": "Ваша семья:\n{lines}", "action": "save"},
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith("/settings/templates?group=family#t-family_screen")
    assert _rows(factory) == {"template:family_screen:ru": "Ваша семья:\n{lines}"}


def test_a_new_text_previewed_on_a_real_patient(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    from core.db import transaction
    from core.models import LoyaltyAccount
    from tests.core.people import patient

    with transaction(factory) as s:
        patient(s, "p88", first="Ольга", middle="Ивановна")
        s.add(LoyaltyAccount(owner_kind="patient", owner_id="p88", balance=430))
    live = owner.post(
        "/settings/templates/preview",
        {
            "key": "bonus_spent",
            "lang": "ru",
            "text": "{name}, минус {points}, осталось {balance}. {clinic}",
            "patient": "p88",
        },
    ).get_json()
    # Her name and balance; the points are the sample's, the clinic the configuration's.
    assert live == {"ok": True, "text": "Ольга Ивановна, минус 250, осталось 430. Тестовая клиника"}
    page = _text(owner.get("/settings/templates?patient=p88"))
    assert "Ольга Ивановна: 430 бонусов (1 бонус = 1 ₽)." in page  # «Мои бонусы»
    # A review button's {name} is the platform's, never the patient's.
    assert "✍️ Оставить отзыв: Отзовик" in page and "Оставить отзыв: Ольга" not in page
    assert _rows(factory) == {}
