"""Care instructions after treatment: what the patient should do after a visit.

The clinic's staff write instructions in the panel («Рекомендации после лечения»), each
saying what it applies to: service fragments (a code or part of a name, matched against
the services the MIS lists on the visit), doctor's specialty fragments, or neither (every
completed visit). When the MIS marks a visit completed, every enabled instruction that
matches goes to each reachable chat of the patient, `delay_minutes` later, keyed
`care:<visit>:<instruction>:<chat>`, so a repeated event sends nothing twice. What was
queued is also kept (CareSent) for the bot's «Рекомендации» screen.

An instruction may have an English version (`title_en`, `text_en`), which a chat whose
language is English gets instead; without an English text it gets the Russian one. It may
also carry an attachment, a PDF or an image (core.care.attachments), sent right after the
text as the bot's line of the patient's thread with the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.care import attachments
from core.config import Config
from core.models import Appointment, CareInstruction, CareSent, Doctor, Patient, Subscriber
from core.outbox import PRIORITY_NOTICE, enqueue
from core.patients.linking import reachable_subscribers
from core.patients.notice_prefs import wants
from core.texts import render, when

# Telegram refuses a message longer than this (in characters).
TELEGRAM_LIMIT = 4096
# What the message adds before the title: the greeting with the patient's name and the
# visit's time (about 60 characters, plus the name). Title and text share the rest.
GREETING_ROOM = 200
MAX_TITLE = 200
MAX_TEXT = TELEGRAM_LIMIT - GREETING_ROOM - 2  # with a one-character title


def max_text(title: str) -> int:
    """The longest text that, with this title and the greeting, fits one message."""
    return MAX_TEXT + 1 - len(title)


MAX_DELAY_MINUTES = 7 * 24 * 60
DEFAULT_DELAY_MINUTES = 30
# A completion the sync learns of later than this after the visit's end (after an outage,
# or a visit closed in the MIS days later) sends nothing: the advice is for the first hours.
SEND_WITHIN = timedelta(days=1)
# How far back the bot's «Рекомендации» looks.
SHOW_DAYS = 90


def fragments(raw: str) -> list[str]:
    """'Удаление, A16.07.001 ,' -> ['Удаление', 'A16.07.001']."""
    return [
        part.strip() for part in raw.replace(";", ",").replace("\n", ",").split(",") if part.strip()
    ]


def _fold(value: str) -> str:
    return value.casefold().replace("ё", "е")


def matches(instruction: CareInstruction, services: list[str], specialty: str) -> bool:
    """Every criterion the instruction sets must match; one with none matches any visit."""
    wanted_services = [_fold(f) for f in fragments(instruction.services)]
    if wanted_services:
        have = [_fold(s) for s in services]
        if not any(w in s for w in wanted_services for s in have):
            return False
    wanted_specialties = [_fold(f) for f in fragments(instruction.specialties)]
    return not wanted_specialties or any(w in _fold(specialty) for w in wanted_specialties)


@dataclass
class Form:
    """An instruction as typed in the panel, checked; `errors` are for the person typing."""

    title: str
    text: str
    services: str
    specialties: str
    delay_minutes: int
    enabled: bool
    errors: list[str]
    raw_delay: str = ""
    title_en: str = ""
    text_en: str = ""


def _length_errors(title: str, text: str, english: bool) -> list[str]:
    which = "Английский текст" if english else "Текст"
    what = "английским названием" if english else "этим названием"
    if len(text) <= max_text(title[:MAX_TITLE]):
        return []
    return [
        f"{which} слишком длинный: {len(text)} символов. Telegram принимает сообщение до "
        f"{TELEGRAM_LIMIT} символов; обращение к пациенту и название занимают до "
        f"{TELEGRAM_LIMIT - max_text(title[:MAX_TITLE])}, поэтому текст с {what} — "
        f"не длиннее {max_text(title[:MAX_TITLE])} символов."
    ]


def check_form(data: Any) -> Form:
    """Validate the panel's form (a mapping of strings). Errors are in Russian."""
    title = str(data.get("title", "")).strip()
    text = str(data.get("text", "")).replace("\r\n", "\n").strip()
    services = ", ".join(fragments(str(data.get("services", ""))))
    specialties = ", ".join(fragments(str(data.get("specialties", ""))))
    raw_delay = str(data.get("delay_minutes", "")).strip()
    title_en = str(data.get("title_en", "")).strip()
    text_en = str(data.get("text_en", "")).replace("\r\n", "\n").strip()
    enabled = str(data.get("enabled", "")) in ("1", "on", "true", "yes")
    errors: list[str] = []
    if not title:
        errors.append("Укажите название — например, «После удаления зуба».")
    elif len(title) > MAX_TITLE:
        errors.append(f"Название длиннее {MAX_TITLE} символов ({len(title)}); сократите его.")
    if not text:
        errors.append("Текст рекомендации пуст — напишите, что делать пациенту.")
    else:
        errors.extend(_length_errors(title, text, english=False))
    if len(title_en) > MAX_TITLE:
        errors.append(
            f"Английское название длиннее {MAX_TITLE} символов ({len(title_en)}); сократите его."
        )
    if title_en and not text_en:
        errors.append(
            "Есть английское название, но нет английского текста: напишите текст или уберите "
            "название (без английского текста пациент с английским языком получит русский)."
        )
    elif text_en:
        errors.extend(_length_errors(title_en or title, text_en, english=True))
    if len(services) > 1000:
        errors.append("Список услуг длиннее 1000 символов; сократите его.")
    if len(specialties) > 500:
        errors.append("Список специальностей длиннее 500 символов; сократите его.")
    delay = DEFAULT_DELAY_MINUTES
    if raw_delay:
        try:
            delay = int(raw_delay)
        except ValueError:
            errors.append(
                f"Задержка «{raw_delay}» — не число. Укажите целое число минут, например 30."
            )
        else:
            if not 0 <= delay <= MAX_DELAY_MINUTES:
                errors.append(
                    f"Задержка {delay} мин. вне допустимого: от 0 до {MAX_DELAY_MINUTES} "
                    "минут (неделя)."
                )
    return Form(
        title, text, services, specialties, delay, enabled, errors, raw_delay, title_en, text_en
    )


def apply_form(instruction: CareInstruction, form: Form, user: str, now: datetime) -> None:
    instruction.title = form.title
    instruction.text = form.text
    instruction.services = form.services
    instruction.specialties = form.specialties
    instruction.delay_minutes = form.delay_minutes
    instruction.enabled = form.enabled
    instruction.title_en = form.title_en
    instruction.text_en = form.text_en
    instruction.updated_by = user
    instruction.updated_at = now


def localized(lang: str, title: str, text: str, title_en: str, text_en: str) -> tuple[str, str]:
    """(title, text) for a chat in `lang`: the English version for English when it has a
    text (its title falls back to the Russian one), else the Russian."""
    if lang == "en" and text_en:
        return title_en or title, text_en
    return title, text


def attach(
    session: Session,
    config: Config,
    sub: Subscriber,
    row: CareInstruction | CareSent,
    *,
    title: str,
    patient_mis_id: str,
    due_at: datetime | None,
    priority: int,
    respect_quiet_hours: bool,
) -> bool:
    """The instruction's attachment (if it has one) to this chat, captioned by its title."""
    if not row.file_path:
        return False
    return attachments.send(
        session,
        config,
        sub,
        relative=row.file_path,
        file_name=row.file_name,
        mime_type=row.file_type,
        caption=f"📎 {title}"[:1024],
        priority=priority,
        due_at=due_at,
        respect_quiet_hours=respect_quiet_hours,
        patient_mis_id=patient_mis_id,
    )


def message_text(lang: str, name: str, visit_when: str, title: str, text: str, clinic: str) -> str:
    message = render(
        "care_notice", lang, name=name, when=visit_when, title=title, text=text, clinic=clinic
    )
    if len(message) > TELEGRAM_LIMIT:  # an unusually long name: never let Telegram refuse it
        message = message[: TELEGRAM_LIMIT - 1] + "…"
    return message


def on_completed(
    session: Session,
    config: Config,
    appointment_mis_id: str,
    now: datetime,
    completed_at: datetime | None = None,
) -> int:
    """Queue the matching instructions for a visit just completed; returns messages queued.

    `completed_at` is when the sync noticed the completion (the event's time); the delay
    counts from it."""
    appt = session.scalar(select(Appointment).where(Appointment.mis_id == appointment_mis_id))
    if appt is None or appt.deleted or appt.status != "completed":
        return 0
    if appt.ends_at < now - SEND_WITHIN:
        return 0
    patient = session.scalar(select(Patient).where(Patient.mis_id == appt.patient_mis_id))
    # The MIS's "no messages" flag is the patient's word: nothing is sent, nothing kept.
    if patient is None or not patient.messaging_allowed or patient.status == "deleted":
        return 0
    instructions = list(
        session.scalars(
            select(CareInstruction)
            .where(CareInstruction.enabled.is_(True))
            .order_by(CareInstruction.id)
        )
    )
    if not instructions:
        return 0
    doctor = session.scalar(select(Doctor).where(Doctor.mis_id == appt.doctor_mis_id))
    specialty = doctor.specialty if doctor is not None else ""
    start = completed_at or now
    tz = config.clinic.tz
    # Care instructions are optional in the chat's «Настройки» (core.patients.notice_prefs).
    subscribers = [s for s in reachable_subscribers(session, patient.mis_id) if wants(s, "care")]
    queued = 0
    for instruction in instructions:
        if not matches(instruction, list(appt.services or []), specialty):
            continue
        due = start + timedelta(minutes=instruction.delay_minutes)
        exists = session.scalar(
            select(CareSent.id).where(
                CareSent.appointment_mis_id == appt.mis_id,
                CareSent.instruction_id == instruction.id,
            )
        )
        if exists is None:
            session.add(
                CareSent(
                    appointment_mis_id=appt.mis_id,
                    patient_mis_id=patient.mis_id,
                    instruction_id=instruction.id,
                    title=instruction.title,
                    text=instruction.text,
                    title_en=instruction.title_en,
                    text_en=instruction.text_en,
                    file_path=instruction.file_path,
                    file_name=instruction.file_name,
                    file_type=instruction.file_type,
                    visit_at=appt.starts_at,
                    sent_at=due,
                )
            )
        for sub in subscribers:
            title, body = localized(
                sub.language,
                instruction.title,
                instruction.text,
                instruction.title_en,
                instruction.text_en,
            )
            text = message_text(
                sub.language,
                patient.address_name,
                when(appt.starts_at.astimezone(tz), now.astimezone(tz).date(), sub.language),
                title,
                body,
                config.clinic.name,
            )
            if enqueue(
                session,
                key=f"care:{appt.mis_id}:{instruction.id}:{sub.id}",
                chat_id=sub.chat_id,
                channel=sub.channel,
                patient_mis_id=patient.mis_id,
                text=text,
                kind="care",
                priority=PRIORITY_NOTICE,
                due_at=due,
            ):
                queued += 1
                # Right after the text, in its turn (same chat, priority and due time).
                attach(
                    session,
                    config,
                    sub,
                    instruction,
                    title=title,
                    patient_mis_id=patient.mis_id,
                    due_at=due,
                    priority=PRIORITY_NOTICE,
                    respect_quiet_hours=True,
                )
    session.flush()
    return queued


def received(session: Session, patient_mis_ids: list[str], now: datetime) -> list[CareSent]:
    """The instructions for these patients' visits of the last SHOW_DAYS, newest visit
    first (at most 5). A patient who asks sees them at once, also while the message itself
    still waits for its delay: the delay only spares an unasked message."""
    return list(
        session.scalars(
            select(CareSent)
            .where(
                CareSent.patient_mis_id.in_(patient_mis_ids),
                CareSent.visit_at >= now - timedelta(days=SHOW_DAYS),
            )
            .order_by(CareSent.visit_at.desc(), CareSent.id)
            .limit(5)
        )
    )
