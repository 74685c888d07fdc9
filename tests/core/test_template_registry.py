"""«Тексты сообщений» covers the whole catalogue (core/settings/template_registry.py): every
key of core.texts.CATALOGUE is editable or excluded with a reason, so a new text cannot be
forgotten; an editable text's Russian and English fields agree, its placeholders are ones
its senders fill, each has a Russian explanation and ru/en samples; a button's label is
short and one line; the main menu's labels are editable as buttons, in their own group,
and the bot matches each button on the keys the screen edits."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from core import texts
from core.config import Config
from core.settings import templates
from core.settings.template_fields import FIELD_HELP
from core.settings.template_registry import COMMAND_LENGTH, EXCLUDED, TEMPLATES, builtin_fields
from core.texts import menu_labels

ROOT = Path(__file__).resolve().parents[2]


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_catalogue_text_is_editable_or_excluded_with_a_reason() -> None:
    editable = [t.key for t in TEMPLATES]
    assert len(editable) == len(set(editable))
    both = set(editable) & set(EXCLUDED)
    assert not both, f"both editable and excluded: {sorted(both)}"
    forgotten = set(texts.CATALOGUE) - set(editable) - set(EXCLUDED)
    assert not forgotten, (
        f"new catalogue texts neither on «Тексты сообщений» nor in EXCLUDED: {sorted(forgotten)}"
    )
    assert not (set(editable) | set(EXCLUDED)) - set(texts.CATALOGUE)
    for key, reason in EXCLUDED.items():
        assert reason.strip() and "\n" not in reason, key
    # Hundreds of texts, a few dozen excluded: the screen is most of the catalogue.
    assert len(editable) > 3 * len(EXCLUDED) / 2


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_an_editable_text_agrees_in_both_languages_and_explains_its_placeholders(
    template: templates.Template, config: Config
) -> None:
    entry = texts.CATALOGUE[template.key]
    assert _fields(entry["ru"]) == _fields(entry["en"])
    assert set(builtin_fields(template.key)) <= set(template.fields)
    assert template.label and template.group
    for field in template.fields:
        assert templates.field_help(template, field), field
        assert field in FIELD_HELP
        # clinic, address and phone come from the clinic's configuration.
        assert all(field in templates.samples(config, lang) for lang in templates.LANGS)
    for lang in templates.LANGS:
        built = templates.builtin(template.key, lang)
        # The built-in text passes its own check unchanged (blanks at its edges too) and
        # fills in with the samples.
        assert templates.check(template, lang, built) == built
        assert templates.preview(config, template, lang, built)
        if template.line_limit:
            assert len(built) <= template.line_limit and "\n" not in built


def _sender_calls() -> dict[str, list[tuple[str, set[str] | None]]]:
    """key -> [(where, the keywords passed, or None when some come by **)] for every call
    whose first argument is a catalogue key, in core/ and bot_handlers/. A bot reply made
    with BotContext.text (`ctx.text`) gets {clinic} besides."""
    found: dict[str, list[tuple[str, set[str] | None]]] = {}
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("bot_handlers/**/*.py")]:
        if "core/settings" in path.as_posix():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and first.value in texts.CATALOGUE):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in ("render", "text"):
                continue
            names = {k.arg for k in node.keywords if k.arg}
            if any(k.arg is None for k in node.keywords):
                passed = None
            else:
                passed = names | ({"clinic"} if isinstance(func, ast.Attribute) else set())
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found.setdefault(first.value, []).append((where, passed))
    return found


def test_the_placeholders_allowed_are_ones_every_sender_fills() -> None:
    calls = _sender_calls()
    assert len(calls) > 100  # the scan found the senders
    for template in TEMPLATES:
        for where, passed in calls.get(template.key, []):
            if passed is None:
                continue
            missing = set(template.fields) - passed
            assert not missing, f"{template.key}: {where} does not fill {sorted(missing)}"


def test_the_menu_labels_are_editable_buttons_the_bot_matches_on() -> None:
    menu = [b["text"] for row in texts.menu_keyboard("ru")["keyboard"] for b in row]
    keys = [k for k, v in texts.CATALOGUE.items() if v["ru"] in menu and k.startswith("menu_")]
    assert len(keys) == len(menu) == len(set(menu))
    assert sorted(keys) == sorted(menu_labels.MENU_KEYS)  # the keys the bot matches on
    for key in keys:
        template = templates.BY_KEY[key]
        assert key not in EXCLUDED and template.button and template.group == "Кнопки меню"
    note = templates.GROUP_OF["Кнопки меню"].note
    assert "в следующий раз пришлёт ему меню" in note
    assert "consent_default_text" in EXCLUDED and "«Согласие»" in EXCLUDED["consent_default_text"]


def test_every_command_of_the_menu_has_its_editable_description() -> None:
    from bot_handlers.commands import MENU

    group = [t for t in TEMPLATES if t.group == "Команды бота"]
    assert [t.key for t in group] == [f"cmd_{name}" for name in MENU]
    assert all(t.command and not t.button and t.fields == () for t in group)
    assert all(t.line_limit == COMMAND_LENGTH == 128 for t in group)
    # /messenger answers but is not in the menu: its description is sent nowhere.
    assert "«Настройках»" in EXCLUDED["cmd_messenger"]
    command = templates.BY_KEY["cmd_help"]
    assert templates.check(command, "ru", "Что я умею") == "Что я умею"
    with pytest.raises(templates.TemplateRefused) as refused:
        templates.check(command, "ru", "а" * 129)
    assert str(refused.value) == (
        "«Команда /help» (по-русски): описание команды длиннее 128 знаков (129) — сократите его."
    )
    with pytest.raises(templates.TemplateRefused, match="описание команды пишется в одну"):
        templates.check(command, "en", "What\nthe bot does")
    with pytest.raises(templates.TemplateRefused, match="подстановки {name} здесь нет"):
        templates.check(command, "ru", "{name}, что я умею")


def test_a_broken_new_text_is_refused_with_the_reason() -> None:
    bonus = templates.BY_KEY["bonus_accrued"]
    with pytest.raises(templates.TemplateRefused) as refused:
        templates.check(bonus, "ru", "{name}, +{points} за {visit}")
    assert str(refused.value) == (
        "«Начислены бонусы за оплату» (по-русски): подстановки {visit} здесь нет — можно: "
        "{name}, {points}, {amount}, {balance}, {clinic}."
    )
    button = templates.BY_KEY["btn_doc_sign"]
    with pytest.raises(templates.TemplateRefused, match="длиннее 64 знаков \\(65\\)"):
        templates.check(button, "ru", "а" * 65)
    with pytest.raises(templates.TemplateRefused, match="в одну строку"):
        templates.check(button, "en", "Sign\nhere")
    assert templates.check(button, "ru", "✍️ Подписать сейчас") == "✍️ Подписать сейчас"


def test_a_fragment_keeps_its_own_blanks() -> None:
    """The address line is joined to «ждём вас сегодня» by its leading line break; a
    textarea drops a leading line break, so the kept text gets it back."""
    line = templates.BY_KEY["awaiting_address"]
    assert templates.check(line, "ru", "Адрес клиники: {address}") == "\nАдрес клиники: {address}"
    flag = templates.BY_KEY["family_flag_muted"]
    assert templates.check(flag, "ru", "— тихо") == " — тихо"
