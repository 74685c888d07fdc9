"""The owner's message texts (core/settings/templates.py) and render()'s override hook:
a checked text replaces the catalogue's for its key and language only; a text that no
longer passes the check, or fails to fill in, falls back to the built-in one."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core import texts
from core.config import Config
from core.settings import store, templates
from core.settings.models import PanelSetting


def test_render_uses_the_override_for_its_key_and_language_only() -> None:
    texts.set_panel_overrides({"birthday:ru": "{name}, поздравляем! Ваша «{clinic}»."})
    assert texts.render("birthday", "ru", name="Анна", clinic="Улыбка") == (
        "Анна, поздравляем! Ваша «Улыбка»."
    )
    assert texts.render("birthday", "en", name="Anna", clinic="Smile").startswith(
        "Anna, happy birthday!"
    )
    assert texts.render("reminder", "ru", name="А", when="завтра", doctor="Д").startswith(
        "А, напоминаем о визите"
    )
    # An explicit overrides= still wins over the panel's.
    assert texts.render("birthday", "ru", {"birthday:ru": "{name}!"}, name="Анна", clinic="") == (
        "Анна!"
    )


def test_an_override_that_cannot_be_filled_falls_back_to_the_catalogue() -> None:
    texts.set_panel_overrides({"birthday:ru": "{name} {nope}"})
    assert texts.render("birthday", "ru", name="Анна", clinic="Улыбка").startswith(
        "Анна, с днём рождения!"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{name}, {doctor} ждёт", "подстановки {doctor} здесь нет — можно: {name}, {clinic}."),
        ("{name, привет", "непарная фигурная скобка"),
        ("Привет }", "непарная фигурная скобка"),
        ("{name!r}", "не должно быть «:» или «!»"),
        ("{name:>40}", "не должно быть «:» или «!»"),
        ("{name.__class__}", "подстановки {name.__class__} здесь нет"),
        ("{}", "подстановки {} здесь нет"),
        ("   ", "текст пустой"),
        ("а" * 2001, "текст длиннее 2000 знаков (2001)"),
    ],
)
def test_a_broken_text_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(templates.TemplateRefused) as refused:
        templates.check(templates.BY_KEY["birthday"], "ru", text)
    assert reason in str(refused.value)
    assert str(refused.value).startswith("«С днём рождения» (по-русски): ")


def test_a_doubled_brace_is_a_brace() -> None:
    template = templates.BY_KEY["birthday"]
    assert templates.preview(Config(), template, "ru", "{{ {name} }}") == "{ Анна Петровна }"


def test_every_editable_text_exists_and_its_built_in_text_passes_its_own_check() -> None:
    for template in templates.TEMPLATES:
        for lang in templates.LANGS:
            text = templates.builtin(template.key, lang)
            assert templates.check(template, lang, text) == text
            assert templates.preview(Config(), template, lang, text)


def test_saved_texts_reach_render_through_the_settings_in_force(
    factory: sessionmaker[Session], config: Config
) -> None:
    with factory() as s:
        assert templates.save(s, "reminder", {"ru": "{name}, ждём {when}!"}, "owner") == ["ru"]
        # Equal to the built-in text: nothing kept, nothing changed.
        assert templates.save(s, "reminder", {"en": templates.builtin("reminder", "en")}, "o") == []
        s.commit()
        assert (
            texts.render("reminder", "ru", name="А", when="завтра", doctor="") != "А, ждём завтра!"
        )
        store.effective(s, config)
        assert (
            texts.render("reminder", "ru", name="А", when="завтра", doctor="") == "А, ждём завтра!"
        )
        # A stored text that a release's check no longer takes is not used.
        s.add(PanelSetting(key="template:birthday:ru", value="{name} {age}", updated_by="x"))
        s.commit()
        store.effective(s, config)
        assert texts.render("birthday", "ru", name="А", clinic="К").startswith("А, с днём")
        assert templates.reset(s, "reminder", "ru") is True
        assert templates.reset(s, "reminder", "ru") is False
        s.commit()
        store.effective(s, config)
        assert texts.render("reminder", "ru", name="А", when="завтра", doctor="Д").startswith(
            "А, напоминаем"
        )


def test_a_booking_notice_uses_the_owners_text(
    factory: sessionmaker[Session], config: Config
) -> None:
    with factory() as s:
        templates.save(s, "cancelled", {"ru": "{name}, визит {when} отменён. «{clinic}»"}, "owner")
        s.commit()
        store.effective(s, config)
    assert texts.render("cancelled", "ru", name="Анна", clinic="К", when="завтра") == (
        "Анна, визит завтра отменён. «К»"
    )
