"""The patient-facing texts a clinic changes, editable on «Настройки → Тексты сообщений».

An owner's text is kept in panel_settings under "template:<key>:<lang>" (the catalogue in
core/texts/ stays the built-in text; «вернуть исходный текст» drops the row). The
texts in force are handed to core.texts.render() through its override hook each time
`core.settings.store.effective` reads the overrides (every job that sends one of these
texts asks it first, and the dispatcher asks on every pass), and at once after a change
in the panel's own process.

A text is checked before it is kept: only the placeholders its sender fills ({name},
{when}, ...), braces balanced (a literal brace is written twice), not empty, not longer
than a message may be. A refused text raises TemplateRefused with the reason in Russian.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.clock import utcnow
from core.config import Config
from core.models import Appointment, Doctor, Patient
from core.settings.models import PanelSetting

PREFIX = "template:"
LANGS = ("ru", "en")
MAX_LENGTH = 2000  # a Telegram message holds 4096; an SMS reminder should be far shorter


class TemplateRefused(ValueError):
    """A text the screen does not take; the message is for the owner, in Russian."""


@dataclass(frozen=True)
class Template:
    key: str  # the catalogue key (core/texts/)
    group: str
    label: str
    fields: tuple[str, ...]  # the placeholders its sender fills


# What each placeholder means (shown beside the text), and the sample values of the preview.
FIELD_HELP = {
    "name": "как обращаться к пациенту",
    "when": "день и время визита",
    "time": "время визита",
    "doctor": "специальность и ФИО врача",
    "clinic": "название клиники",
    "address": "строка с адресом клиники (пусто, если адрес не задан)",
    "phone": "телефон клиники через запятую (пусто, если не задан)",
    "opens": "когда клиника откроется",
}

_SAMPLES = {
    "ru": {
        "name": "Анна Петровна",
        "when": "завтра, 26 ноября, в 10:00",
        "time": "10:00",
        "doctor": "Стоматолог-терапевт Иванова Мария Сергеевна",
        "opens": "завтра в 09:00",
    },
    "en": {
        "name": "Anna",
        "when": "tomorrow, 26 November at 10:00",
        "time": "10:00",
        "doctor": "Dentist Maria Ivanova",
        "opens": "tomorrow at 09:00",
    },
}

_VISIT = ("name", "when", "doctor")

_NOTICE = ("name", "clinic", "when", "doctor")  # core/rules.py notify_patient

TEMPLATES: tuple[Template, ...] = (
    Template("booked", "Запись на приём", "Пациент записан", _NOTICE),
    Template("moved", "Запись на приём", "Визит перенесён", _NOTICE),
    Template("cancelled", "Запись на приём", "Визит отменён", ("name", "clinic", "when")),
    Template("reminder", "Напоминания о визите", "Напоминание (за дни или часы)", _VISIT),
    Template(
        "awaiting",
        "Напоминания о визите",
        "В день визита («ждём вас сегодня»)",
        ("name", "time", "doctor", "address"),
    ),
    Template(
        "reminder_sms",
        "Напоминания о визите",
        "Напоминание по SMS",
        ("name", "when", "doctor", "clinic", "phone"),
    ),
    Template("confirmed", "Напоминания о визите", "Ответ на «Подтверждаю»", ("when",)),
    Template(
        "message_received_open",
        "Сообщение в клинику",
        "Ответ на сообщение в рабочее время",
        (),
    ),
    Template(
        "message_received_closed",
        "Сообщение в клинику",
        "Ответ на сообщение в нерабочее время",
        ("opens",),
    ),
    Template("rating_request", "Оценка визита", "Просьба оценить визит (1–5)", _VISIT),
    Template("rating_request_10", "Оценка визита", "Просьба оценить визит (1–10)", _VISIT),
    Template("rating_request_smileys", "Оценка визита", "Просьба оценить визит (смайлики)", _VISIT),
    Template("rating_review_invite", "Оценка визита", "Приглашение оставить отзыв", ()),
    Template("rating_thanks", "Оценка визита", "Спасибо за оценку", ()),
    Template("rating_thanks_low", "Оценка визита", "Ответ на низкую оценку", ()),
    Template("arrival_welcome", "Приход в клинику", "Приветствие в холле", ("name", "clinic")),
    Template(
        "arrival_offer",
        "Приход в клинику",
        "Приветствие в холле с предложением",
        ("name", "clinic"),
    ),
    Template(
        "no_show_message",
        "Неявка",
        "Пациент не пришёл: предложение записаться снова",
        ("name", "when", "doctor", "clinic"),
    ),
    Template("birthday", "Поздравления", "С днём рождения", ("name", "clinic")),
)

BY_KEY = {t.key: t for t in TEMPLATES}


def row_key(key: str, lang: str) -> str:
    return f"{PREFIX}{key}:{lang}"


def builtin(key: str, lang: str) -> str:
    entry = texts.CATALOGUE[key]
    return entry.get(lang) or entry["ru"]


def samples(config: Config, lang: str) -> dict[str, str]:
    """The preview's values: a made-up patient and visit, the clinic's own name and
    address as the sender fills them."""
    values = dict(_SAMPLES[lang])
    values["clinic"] = config.clinic.name
    address = config.clinic.address or ("ул. Ленина, 5" if lang == "ru" else "5 Lenin St")
    values["address"] = texts.render("awaiting_address", lang, address=address)
    values["phone"] = f", {config.clinic.phone}" if config.clinic.phone else ""
    return values


def patient_samples(
    session: Session, config: Config, mis_id: str, lang: str, *, now: datetime | None = None
) -> dict[str, str] | None:
    """The preview's values for a real patient (by MIS card number): their name, and the
    time and doctor of their next visit, else their last one; None if there is no such
    patient. Nothing is sent."""
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
    return values


def check(template: Template, lang: str, text: str) -> str:
    """The text as it will be kept (line ends normalised), or TemplateRefused with why."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    where = f"«{template.label}» ({'по-русски' if lang == 'ru' else 'по-английски'})"
    if not text:
        raise TemplateRefused(f"{where}: текст пустой — напишите текст или верните исходный.")
    if len(text) > MAX_LENGTH:
        raise TemplateRefused(
            f"{where}: текст длиннее {MAX_LENGTH} знаков ({len(text)}) — сократите его."
        )
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
    return text


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
    return kept.format(**(values or samples(config, lang)))


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
    """Hand the texts in force to render() (core.texts' override hook)."""
    texts.set_panel_overrides(in_force(stored(session)))


def save(session: Session, key: str, values: dict[str, str], user: str) -> list[str]:
    """Check and keep the owner's texts for `key` ({lang: text}); a text equal to the
    built-in one is not kept. Returns the languages whose text changed; a refused text
    raises TemplateRefused and nothing is kept."""
    template = BY_KEY[key]
    checked = {lang: check(template, lang, text) for lang, text in values.items()}
    changed = []
    now = utcnow()
    for lang, text in checked.items():
        row = session.get(PanelSetting, row_key(key, lang))
        before = row.value if row is not None else builtin(key, lang)
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


def reset(session: Session, key: str, lang: str) -> bool:
    """Back to the built-in text; False if the panel had not changed it."""
    row = session.get(PanelSetting, row_key(key, lang))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
