"""Which main-menu button a patient's text is: the menu's labels are editable on «Настройки →
Тексты сообщений», and the bot knows a press of one of these buttons (Telegram's keyboard
under the input field, MAX's «message» button under a message) only by the text it sends.

A patient's buttons are the ones the bot last sent them (core.texts.menu_keyboard: at
/start, on linking, on a change of language), so after the owner renames a button a patient
may press any label it has had. Each button answers to its label in force in either
language, its built-in Russian and English labels, and the owner's earlier labels
(core/settings/menu_templates.py keeps them; core.settings.templates.publish hands them
here). One text names at most one button: a label in force wins over a built-in one, and
a built-in one over an earlier one (the screen refuses a label another button has now or
had built in, so only an earlier label can be taken over, and then the new owner of the
text is the one the patient sees on a fresh menu).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core import texts

MENU_KEYS = (
    "menu_visits",
    "menu_balance",
    "menu_family",
    "menu_friend",
    "menu_ask",
    "menu_care",
    "menu_settings",
    "menu_documents",
)
LANGS = ("ru", "en")

# key -> the owner's earlier labels as the patient saw them, oldest first; replaced whole.
_FORMER: dict[str, tuple[str, ...]] = {}


def shown(kept: str) -> str:
    """A kept label as the keyboard showed it (a literal brace is kept doubled)."""
    try:
        return kept.format()
    except (KeyError, IndexError, ValueError):
        return kept


def set_former(labels: Mapping[str, Sequence[str]]) -> None:
    global _FORMER
    _FORMER = {key: tuple(shown(t) for t in found) for key, found in labels.items()}


def builtin_labels(key: str) -> set[str]:
    return {texts.CATALOGUE[key][lang] for lang in LANGS}


def current_labels(key: str) -> set[str]:
    """As the menu sent now shows the button (the owner's label, else the built-in one)."""
    return {texts.render(key, lang) for lang in LANGS}


def owners() -> dict[str, str]:
    """Every text a menu button answers to -> that button's key."""
    found: dict[str, str] = {}
    for key in MENU_KEYS:
        for text in _FORMER.get(key, ()):
            found[text] = key
    for key in MENU_KEYS:
        found.update(dict.fromkeys(builtin_labels(key), key))
    for key in MENU_KEYS:
        found.update(dict.fromkeys(current_labels(key), key))
    return found


def key_of(text: str) -> str | None:
    """The menu button `text` presses, or None if it is no menu label."""
    return owners().get(text)


def is_label(key: str, text: str) -> bool:
    return key_of(text) == key


def is_menu(text: str) -> bool:
    """A menu button's press: never a question, an answer or a comment."""
    return key_of(text) is not None
