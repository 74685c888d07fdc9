"""Which catalogue texts (core/texts/) «Настройки → Тексты сообщений» lets the owner edit,
grouped as the screen shows them (core/settings/template_groups.py), and which it does not,
each with the reason (core/settings/template_exclusions.py).

Every key of core.texts.CATALOGUE is in exactly one of TEMPLATES and EXCLUDED
(tests/core/test_template_registry.py): a new text is a decision, never forgotten. A
text's placeholders are its built-in text's str.format fields, plus what its sender passes
besides (every bot reply made with BotContext.text gets {clinic}; so does a bonus notice,
core.loyalty.notices.notify_account); the same test reads the senders to check it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from core import texts
from core.settings.template_commands import COMMAND_ENTRIES
from core.settings.template_exclusions import EXCLUDED
from core.settings.template_groups import BUTTON, COMMAND, EXPLICIT, GROUP_ENTRIES, Group

BUTTON_LENGTH = 64  # an inline button's label: the messenger cuts a longer one
# A command's description: Telegram takes 1-256 characters, MAX 1-128 (its api-schema's
# BotCommand), and the same text goes to both.
COMMAND_LENGTH = 128


@dataclass(frozen=True)
class Template:
    key: str  # the catalogue key (core/texts/)
    group: str
    label: str
    fields: tuple[str, ...]  # the placeholders its sender fills
    button: bool = False  # an inline button's label: one short line
    command: bool = False  # a «/» menu command's description: one line

    @property
    def line_limit(self) -> int | None:
        """The length of the one line a button's label or a command's description may be;
        None for a message, which may have several lines."""
        if self.button:
            return BUTTON_LENGTH
        if self.command:
            return COMMAND_LENGTH
        return None


def builtin_fields(key: str) -> tuple[str, ...]:
    """The str.format fields of the built-in Russian text, in order of appearance."""
    seen: list[str] = []
    for _literal, field, _spec, _conv in string.Formatter().parse(texts.CATALOGUE[key]["ru"]):
        if field and field not in seen:
            seen.append(field)
    return tuple(seen)


def _template(group: Group, key: str, label: str, *marks: object) -> Template:
    fields = list(EXPLICIT.get(key, builtin_fields(key)))
    for mark in marks:
        if isinstance(mark, tuple):
            fields += [f for f in mark if f not in fields]
    return Template(
        key,
        group.name,
        label,
        tuple(fields),
        button=BUTTON in marks,
        command=COMMAND in marks,
    )


_ENTRIES = [*GROUP_ENTRIES, *COMMAND_ENTRIES]
GROUPS: tuple[Group, ...] = tuple(group for group, _ in _ENTRIES)
TEMPLATES: tuple[Template, ...] = tuple(
    _template(group, *entry) for group, entries in _ENTRIES for entry in entries
)
BY_KEY = {t.key: t for t in TEMPLATES}
GROUP_OF = {g.name: g for g in GROUPS}

__all__ = [
    "BUTTON_LENGTH",
    "BY_KEY",
    "COMMAND_LENGTH",
    "EXCLUDED",
    "GROUPS",
    "GROUP_OF",
    "TEMPLATES",
    "Group",
    "Template",
]
