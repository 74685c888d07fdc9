"""The main menu's labels on «Тексты сообщений»: what the screen checks beyond one button's
rule, and the owner's earlier labels it keeps (core/texts/menu_labels.py matches on them).

The bot knows which menu button was pressed by its text alone, so two buttons never share
a label: a new label may not be another button's label in force nor its built-in one (in
either language). It may not start with «/» either: the bot takes such a text for a command.

A patient keeps the buttons the bot last sent them, so a label the owner replaces is kept
under "template_former:<key>" (a list, oldest first, at most FORMER_KEPT) and still opens
its button; the built-in labels always do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.settings.models import PanelSetting
from core.settings.template_registry import Template
from core.texts.menu_labels import LANGS, MENU_KEYS, shown

FORMER_PREFIX = "template_former:"
FORMER_KEPT = 20  # a keyboard months old still works; a longer tail is not worth keeping


def _builtin(key: str, lang: str) -> str:
    return texts.CATALOGUE[key][lang]


def clash(template: Template, checked: dict[str, str], in_force: dict[str, str]) -> str | None:
    """Why the checked labels of a menu button cannot be kept (Russian), or None.
    `in_force` is the owner's texts in force, "<key>:<lang>" -> text."""
    for lang, text in checked.items():
        where = f"«{template.label}» ({'по-русски' if lang == 'ru' else 'по-английски'})"
        label = shown(text)
        if label.startswith("/"):
            return (
                f"{where}: надпись кнопки меню не может начинаться с «/» — бот принял бы "
                "нажатие за команду."
            )
        for other in MENU_KEYS:
            if other == template.key:
                continue
            now = {shown(in_force.get(f"{other}:{lg}") or _builtin(other, lg)) for lg in LANGS}
            built = {_builtin(other, lg) for lg in LANGS}
            if label in now or label in built:
                name = f"«{_builtin(other, 'ru')}»"
                said = (
                    f"«{label}» уже стоит на кнопке меню {name}"
                    if label in now
                    else f"«{label}» — исходная надпись кнопки меню {name}"
                )
                return (
                    f"{where}: {said}. Бот узнаёт кнопку по тексту, поэтому надписи кнопок "
                    "меню должны различаться — выберите другую."
                )
    return None


def former(session: Session) -> dict[str, list[str]]:
    """key -> the owner's earlier labels of that menu button, oldest first."""
    found: dict[str, list[str]] = {}
    rows = session.scalars(select(PanelSetting).where(PanelSetting.key.startswith(FORMER_PREFIX)))
    for row in rows:
        key = row.key.removeprefix(FORMER_PREFIX)
        if key in MENU_KEYS and isinstance(row.value, list):
            found[key] = [t for t in row.value if isinstance(t, str)]
    return found


def remember(session: Session, key: str, label: str, user: str, now: datetime) -> None:
    """Keep `label`, which the owner is replacing, as one the button still answers to."""
    if key not in MENU_KEYS or label in {_builtin(key, lg) for lg in LANGS}:
        return  # a built-in label is matched anyway
    row = session.get(PanelSetting, FORMER_PREFIX + key)
    if row is None:
        session.add(
            PanelSetting(key=FORMER_PREFIX + key, value=[label], updated_by=user, updated_at=now)
        )
        session.flush()  # the other language's label, replaced in the same save, finds it
        return
    kept = [t for t in (row.value if isinstance(row.value, list) else []) if t != label]
    # A new list, not the old one changed in place: the JSON column notices only that.
    row.value = [*kept, label][-FORMER_KEPT:]
    row.updated_by, row.updated_at = user, now
