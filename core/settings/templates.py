"""The patient-facing texts a clinic changes, editable on «Настройки → Тексты сообщений».

An owner's text is kept in panel_settings under "template:<key>:<lang>" (the catalogue in
core/texts/ stays the built-in text; «вернуть исходный текст» drops the row). The
texts in force are handed to core.texts.render() through its override hook each time
`core.settings.store.effective` reads the overrides (every job that sends one of these
texts asks it first, and the dispatcher asks on every pass), and at once after a change
in the panel's own process.

Which texts are on the screen, in which group, and which are not (with the reason) is
core/settings/template_registry.py; what each placeholder means and the preview's samples,
core/settings/template_fields.py.

A text is checked before it is kept: only the placeholders its sender fills ({name},
{when}, ...), braces balanced (a literal brace is written twice), not empty, not longer
than a message may be (a button's label: one line of 64 at most; a «/» command's
description: one line of 128); a main-menu label also
unlike every other menu button's (core/settings/menu_templates.py, which keeps the labels
the owner replaced: a patient's old buttons keep working). A refused text raises
TemplateRefused with the reason in Russian.
"""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.clock import utcnow
from core.config import Config
from core.loyalty.accounts import read_account
from core.models import Appointment, Doctor, Patient
from core.settings import menu_templates
from core.settings.models import PanelSetting
from core.settings.template_fields import FIELD_HELP, FIELD_HELP_FOR, SAMPLES, SAMPLES_FOR
from core.settings.template_registry import (
    BY_KEY,
    EXCLUDED,
    GROUP_OF,
    GROUPS,
    TEMPLATES,
    Group,
    Template,
)
from core.texts import menu_labels

__all__ = [
    "BY_KEY",
    "EXCLUDED",
    "FIELD_HELP",
    "GROUPS",
    "GROUP_OF",
    "TEMPLATES",
    "Group",
    "Template",
    "TemplateRefused",
]

PREFIX = "template:"
LANGS = ("ru", "en")
MAX_LENGTH = 2000  # a Telegram message holds 4096; an SMS reminder should be far shorter


class TemplateRefused(ValueError):
    """A text the screen does not take; the message is for the owner, in Russian."""


def row_key(key: str, lang: str) -> str:
    return f"{PREFIX}{key}:{lang}"


def builtin(key: str, lang: str) -> str:
    entry = texts.CATALOGUE[key]
    return entry.get(lang) or entry["ru"]


def field_help(template: Template, field: str) -> str:
    return FIELD_HELP_FOR.get((template.key, field)) or FIELD_HELP[field]


def _own(config: Config, template: Template, lang: str) -> dict[str, str]:
    """The sample values of placeholders that mean something of their own in this text;
    they win over a real patient's (a review button's {name} is never the patient's)."""
    values = {
        field: SAMPLES_FOR[(template.key, field)][lang]
        for field in template.fields
        if (template.key, field) in SAMPLES_FOR
    }
    if "address" in template.fields and template.key != "awaiting":
        values["address"] = _address(config, lang)  # the bare address, not «awaiting»'s line
    if template.key == "consent_reach_phone":
        values["phone"] = config.clinic.phone or "+7 900 000-00-00"
    return values


def _address(config: Config, lang: str) -> str:
    return config.clinic.address or ("ул. Ленина, 5" if lang == "ru" else "5 Lenin St")


def samples(config: Config, lang: str) -> dict[str, str]:
    """The preview's values: a made-up patient and visit, the clinic's own name and
    address as the sender fills them."""
    values = dict(SAMPLES[lang])
    values["clinic"] = config.clinic.name
    values["address"] = texts.render("awaiting_address", lang, address=_address(config, lang))
    values["phone"] = f", {config.clinic.phone}" if config.clinic.phone else ""
    return values


def patient_samples(
    session: Session, config: Config, mis_id: str, lang: str, *, now: datetime | None = None
) -> dict[str, str] | None:
    """The preview's values for a real patient (by MIS card number): their name, the
    time and doctor of their next visit, else their last one, and their bonus balance;
    None if there is no such patient. Nothing is sent."""
    patient = session.scalar(
        select(Patient).where(Patient.mis_id == mis_id, Patient.status != "deleted")
    )
    if patient is None:
        return None
    values = samples(config, lang)
    values["name"] = patient.address_name
    now = now or utcnow()
    visits = select(Appointment).where(Appointment.patient_mis_id == mis_id)
    visit = session.scalar(
        visits.where(Appointment.starts_at >= now).order_by(Appointment.starts_at)
    ) or session.scalar(visits.order_by(Appointment.starts_at.desc()))
    if visit is not None:
        starts = visit.starts_at.astimezone(config.clinic.tz)
        values["when"] = texts.when(starts, now.astimezone(config.clinic.tz).date(), lang)
        values["time"] = starts.strftime("%H:%M")
        doctor = session.scalar(select(Doctor).where(Doctor.mis_id == visit.doctor_mis_id))
        if doctor is not None:
            values["doctor"] = f"{doctor.specialty} {doctor.full_name}".strip()
    account = read_account(session, mis_id)
    if account is not None:
        values["balance"] = str(account.balance)  # as the notices say it: a plain number
    return values


def _edges(text: str) -> tuple[str, str]:
    """The leading and trailing blanks of a text: a fragment joined into a longer message
    (the address line of «ждём вас сегодня», « — не показываем») keeps its own."""
    if not text.strip():
        return "", ""
    return text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]


def check(template: Template, lang: str, text: str) -> str:
    """The text as it will be kept (line ends normalised, the built-in text's leading and
    trailing blanks), or TemplateRefused with why."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    where = f"«{template.label}» ({'по-русски' if lang == 'ru' else 'по-английски'})"
    if not text:
        raise TemplateRefused(f"{where}: текст пустой — напишите текст или верните исходный.")
    what = "надпись на кнопке" if template.button else "описание команды"
    limit = template.line_limit or MAX_LENGTH
    if len(text) > limit:
        raise TemplateRefused(
            f"{where}: {what if template.line_limit else 'текст'} длиннее {limit} знаков "
            f"({len(text)}) — сократите его."
        )
    if template.line_limit and "\n" in text:
        raise TemplateRefused(f"{where}: {what} пишется в одну строку.")
    allowed = ", ".join(f"{{{f}}}" for f in template.fields) or "никаких"
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        raise TemplateRefused(
            f"{where}: непарная фигурная скобка — подстановка пишется как {{name}}, а сама "
            "скобка в тексте удваивается: {{ или }}."
        ) from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in template.fields:
            shown = "{" + field + "}" if field else "{}"
            raise TemplateRefused(f"{where}: подстановки {shown} здесь нет — можно: {allowed}.")
        if spec or conversion:
            raise TemplateRefused(
                f"{where}: в подстановке {{{field}}} не должно быть «:» или «!» — пишите "
                f"просто {{{field}}}."
            )
    lead, trail = _edges(builtin(template.key, lang))
    return lead + text + trail


def preview(
    config: Config,
    template: Template,
    lang: str,
    text: str,
    values: dict[str, str] | None = None,
) -> str:
    """The checked text filled in with `values` (a real patient's), else the sample ones
    (TemplateRefused if it does not pass)."""
    kept = check(template, lang, text)
    filled = {**(values or samples(config, lang)), **_own(config, template, lang)}
    return kept.format(**filled)


def stored(session: Session) -> dict[str, PanelSetting]:
    """ "<key>:<lang>" -> the owner's row, for the templates of this screen."""
    found: dict[str, PanelSetting] = {}
    rows = session.scalars(select(PanelSetting).where(PanelSetting.key.startswith(PREFIX)))
    for row in rows:
        key, _, lang = row.key.removeprefix(PREFIX).rpartition(":")
        if key in BY_KEY and lang in LANGS and isinstance(row.value, str):
            found[f"{key}:{lang}"] = row
    return found


def in_force(rows: dict[str, PanelSetting] | dict[str, Any]) -> dict[str, str]:
    """The owner's texts that still pass the check (a release may have dropped a
    placeholder): render() gets only these; the others fall back to the built-in text."""
    good: dict[str, str] = {}
    for name, row in rows.items():
        value = row.value if isinstance(row, PanelSetting) else row
        key, _, lang = name.rpartition(":")
        try:
            good[name] = check(BY_KEY[key], lang, value)
        except (TemplateRefused, KeyError):
            continue
    return good


def publish(session: Session) -> None:
    """Hand the texts in force to render() (core.texts' override hook), and the menu's
    earlier labels to the bot's matching (core.texts.menu_labels)."""
    texts.set_panel_overrides(in_force(stored(session)))
    menu_labels.set_former(menu_templates.former(session))


def save(session: Session, key: str, values: dict[str, str], user: str) -> list[str]:
    """Check and keep the owner's texts for `key` ({lang: text}); a text equal to the
    built-in one is not kept. Returns the languages whose text changed; a refused text
    raises TemplateRefused and nothing is kept."""
    template = BY_KEY[key]
    checked = {lang: check(template, lang, text) for lang, text in values.items()}
    if key in menu_labels.MENU_KEYS:
        refused = menu_templates.clash(template, checked, in_force(stored(session)))
        if refused:
            raise TemplateRefused(refused)
    changed = []
    now = utcnow()
    for lang, text in checked.items():
        row = session.get(PanelSetting, row_key(key, lang))
        before = row.value if row is not None else builtin(key, lang)
        if row is not None and row.value != text:
            menu_templates.remember(session, key, row.value, user, now)
        if text == builtin(key, lang):
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                PanelSetting(key=row_key(key, lang), value=text, updated_by=user, updated_at=now)
            )
        elif row.value != text:
            row.value, row.updated_by, row.updated_at = text, user, now
        if text != before:
            changed.append(lang)
    session.flush()
    return changed


def reset(session: Session, key: str, lang: str, user: str = "") -> bool:
    """Back to the built-in text; False if the panel had not changed it."""
    row = session.get(PanelSetting, row_key(key, lang))
    if row is None:
        return False
    menu_templates.remember(session, key, row.value, user, utcnow())
    session.delete(row)
    session.flush()
    return True
