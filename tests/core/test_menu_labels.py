"""The main menu's labels, editable on «Тексты сообщений» (core/texts/menu_labels.py,
core/settings/menu_templates.py): a button answers to its edited label in either language,
to its built-in Russian and English ones and to the labels the owner replaced, never to
another button's; a label another button has now or had built in is refused with the
reason, as is one starting with «/», and nothing is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import texts
from core.db import transaction
from core.settings import templates
from core.settings.models import PanelSetting
from core.texts import menu_labels


def _save(factory: sessionmaker[Session], key: str, **values: str) -> None:
    with transaction(factory) as s:
        templates.save(s, key, values, "owner")
        templates.publish(s)


def _reset(factory: sessionmaker[Session], key: str, lang: str) -> None:
    with transaction(factory) as s:
        assert templates.reset(s, key, lang, "owner")
        templates.publish(s)


def _rows(factory: sessionmaker[Session]) -> dict[str, object]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def test_the_menu_keys_are_the_keyboards_buttons() -> None:
    shown = [b["text"] for row in texts.menu_keyboard("en")["keyboard"] for b in row]
    assert sorted(menu_labels.key_of(label) or "" for label in shown) == sorted(
        menu_labels.MENU_KEYS
    )


def test_a_button_answers_to_its_edited_built_in_and_earlier_labels(
    factory: sessionmaker[Session],
) -> None:
    assert menu_labels.key_of("🗓 Мои визиты") == "menu_visits"
    assert menu_labels.key_of("🗓 My visits") == "menu_visits"
    assert menu_labels.key_of("Мои визиты") is None  # the exact text only
    assert menu_labels.key_of("Здравствуйте") is None

    _save(factory, "menu_visits", ru="🦷 Приёмы", en="🦷 Appointments")
    assert texts.menu_keyboard("ru")["keyboard"][0][0]["text"] == "🦷 Приёмы"
    for label in ("🦷 Приёмы", "🦷 Appointments", "🗓 Мои визиты", "🗓 My visits"):
        assert menu_labels.is_label("menu_visits", label), label
    # Another button's label is that button's, never this one's.
    assert not menu_labels.is_label("menu_visits", "🎁 Мои бонусы")
    assert menu_labels.is_label("menu_balance", "🎁 Мои бонусы")
    assert menu_labels.is_menu("🎁 My bonuses") and not menu_labels.is_menu("🦷")

    # Renamed again, then back to the built-in text: every label it had still opens it.
    _save(factory, "menu_visits", ru="🦷 Мои приёмы")
    _reset(factory, "menu_visits", "ru")
    assert texts.menu_keyboard("ru")["keyboard"][0][0]["text"] == "🗓 Мои визиты"
    for label in ("🦷 Приёмы", "🦷 Мои приёмы", "🦷 Appointments", "🗓 Мои визиты"):
        assert menu_labels.key_of(label) == "menu_visits", label
    assert _rows(factory)["template_former:menu_visits"] == ["🦷 Приёмы", "🦷 Мои приёмы"]

    # An earlier label is free to take: then it is the new button's, as a fresh menu shows.
    _save(factory, "menu_balance", ru="🦷 Приёмы")
    assert menu_labels.key_of("🦷 Приёмы") == "menu_balance"
    assert menu_labels.key_of("🦷 Мои приёмы") == "menu_visits"

    # Another process reads what the panel kept (the appliance's reading of the settings).
    menu_labels.set_former({})
    texts.set_panel_overrides({})
    with factory() as s:
        templates.publish(s)
    assert menu_labels.key_of("🦷 Мои приёмы") == "menu_visits"


def test_a_label_that_would_make_two_buttons_alike_is_refused(
    factory: sessionmaker[Session],
) -> None:
    _save(factory, "menu_care", ru="📋 Памятки")
    refusals = {
        ("menu_balance", "ru", "🗓 Мои визиты"): "«Кнопка меню «Мои бонусы»» (по-русски): "
        "«🗓 Мои визиты» уже стоит на кнопке меню «🗓 Мои визиты». Бот узнаёт кнопку по "
        "тексту, поэтому надписи кнопок меню должны различаться — выберите другую.",
        # The built-in label a patient's old keyboard still shows is taken too.
        ("menu_balance", "ru", "📋 Рекомендации"): "«Кнопка меню «Мои бонусы»» (по-русски): "
        "«📋 Рекомендации» — исходная надпись кнопки меню «📋 Рекомендации». Бот узнаёт "
        "кнопку по тексту, поэтому надписи кнопок меню должны различаться — выберите другую.",
        ("menu_family", "en", "📋 Памятки"): "«Кнопка меню «Семья»» (по-английски): "
        "«📋 Памятки» уже стоит на кнопке меню «📋 Рекомендации». Бот узнаёт кнопку по "
        "тексту, поэтому надписи кнопок меню должны различаться — выберите другую.",
        ("menu_friend", "ru", "/friend"): "«Кнопка меню «Пригласить друга»» (по-русски): "
        "надпись кнопки меню не может начинаться с «/» — бот принял бы нажатие за команду.",
    }
    before = _rows(factory)
    for (key, lang, label), reason in refusals.items():
        with factory() as s, pytest.raises(templates.TemplateRefused) as refused:
            templates.save(s, key, {"ru": texts.CATALOGUE[key]["ru"], lang: label}, "owner")
        assert str(refused.value) == reason
    assert _rows(factory) == before  # nothing kept
    button = templates.BY_KEY["menu_ask"]
    with pytest.raises(templates.TemplateRefused, match="длиннее 64 знаков \\(65\\)"):
        templates.check(button, "ru", "а" * 65)
    with pytest.raises(templates.TemplateRefused, match="в одну строку"):
        templates.check(button, "en", "Ask\nus")
    # The same button may say the same in both languages; its own built-in label is its own.
    _save(factory, "menu_care", ru="📋 Care", en="📋 Care")
    _save(factory, "menu_care", ru="📋 Рекомендации")
    assert menu_labels.key_of("📋 Care") == "menu_care"
