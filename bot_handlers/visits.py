"""Visits: the reminder's Confirm / Reschedule / Cancel (also on «Мои визиты», my_visits.py),
where Reschedule asks which days and part of the day suit and Cancel asks why (buttons, or
the patient's own words), each then a task for the staff; «Записаться снова» after a
no-show; the arrival offer's choice (bonuses: loyalty.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.chat import to_task
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.conversations.lines import record_event
from core.models import Appointment, OutboxMessage, Patient, Subscriber, Task
from core.outbox import PRIORITY_REPLY, enqueue, inline_keyboard
from core.patients.linking import is_linked
from core.reminders import cancel_asks, cancel_queued
from core.rules import doctor_label
from core.settings import store as settings
from core.tasks import create_task
from core.texts import menu_labels, on_date, render, when
from core.visits import arrival, no_show


def _unbutton(session: Session, press: Press, key: str) -> None:
    """Remove the buttons of an answered message so the answer cannot be given twice."""
    _unbutton_message(
        session, press.chat.id, press.message_id, press.message_text, key, press.channel
    )


def _unbutton_message(
    session: Session, chat_id: int, message_id: int, text: str, key: str, channel: str = "telegram"
) -> None:
    enqueue(
        session,
        key=f"{key}:unbutton",
        channel=channel,
        chat_id=chat_id,
        text=text,
        kind="edit_markup",
        priority=PRIORITY_REPLY,
        reply_markup={"inline_keyboard": []},
        edit_message_id=message_id,
        respect_quiet_hours=False,
    )


# Reschedule: which days, then which part of the day; cancel: why. Codes in the button data.
DAYS = {"wd": "days_weekdays", "we": "days_weekend", "any": "days_any"}
PARTS = {"m": "part_morning", "a": "part_afternoon", "e": "part_evening", "any": "part_any"}
REASONS = {
    "ill": "reason_ill",
    "plans": "reason_plans",
    "elsewhere": "reason_elsewhere",
    "better": "reason_better",
}
ASK = "ask"  # outbox key prefix of a question a typed answer may reply to


def days_keyboard(appointment_id: int, lang: str) -> dict[str, Any]:
    return inline_keyboard(
        [[(render(label, lang), f"rd:{appointment_id}:{code}")] for code, label in DAYS.items()]
    )


def parts_keyboard(appointment_id: int, days: str, lang: str) -> dict[str, Any]:
    row = [
        (render(label, lang), f"rt:{appointment_id}:{days}:{code}") for code, label in PARTS.items()
    ]
    return inline_keyboard([row[:3], row[3:]])


def reasons_keyboard(appointment_id: int, lang: str) -> dict[str, Any]:
    return inline_keyboard(
        [[(render(label, lang), f"xr:{appointment_id}:{code}")] for code, label in REASONS.items()]
    )


def _last_question(session: Session, event: Text) -> tuple[str, int, OutboxMessage] | None:
    """(what was asked, the visit's id, the question) if the bot's last message in this
    chat is a question of `ask` (nothing else came after it), else None."""
    last = session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == event.channel,
            OutboxMessage.chat_id == event.chat.id,
            OutboxMessage.kind.not_in(("edit_markup", "edit_text")),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    if last is None or not last.key.startswith(f"{ASK}:"):
        return None
    parts = last.key.split(":", 4)
    if len(parts) < 4 or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2]), last


def register(router: Router, ctx: BotContext) -> None:
    tz = ctx.config.clinic.tz

    def pressed_visit(session: Session, press: Press) -> tuple[Subscriber, Appointment | None]:
        """Who pressed, and the visit the button names if they may act on it (else None).

        The router has checked that the button was on this message in this chat; the
        pressing user must also be linked to the visit's patient now (a link can go)."""
        sub = ctx.subscriber(session, press)
        raw_id = (press.data.split(":") + [""])[1]  # "c:<id>", "rt:<id>:<days>:<part>"
        appt = session.get(Appointment, int(raw_id)) if raw_id.isdigit() else None
        if appt is None or not is_linked(session, sub, appt.patient_mis_id):
            return sub, None
        return sub, appt

    def current(appt: Appointment) -> bool:
        return not appt.deleted and appt.status == "scheduled" and appt.starts_at > utcnow()

    def visit_when(appt: Appointment, lang: str) -> str:
        return when(appt.starts_at.astimezone(tz), utcnow().astimezone(tz).date(), lang)

    @router.press("c", "r", "x")
    def reminder_answer(event: Press) -> None:
        action = event.data.partition(":")[0]
        notice = ""
        with ctx.session() as session:
            sub, appt = pressed_visit(session, event)
            if appt is None:
                notice = ctx.text("not_yours", sub)
            elif appt.confirmation:
                notice = ctx.text("already_answered", sub)
            elif not current(appt):
                # The reminder outlived its visit (cancelled, moved away, or begun):
                # nothing to confirm or move; «Мои визиты» shows what is booked now.
                notice = ctx.text("visit_not_current", sub)
                _unbutton(session, event, f"gone:{appt.mis_id}:{event.message_id}:{sub.id}")
            else:
                key = f"answer:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}"
                if action == "c":
                    appt.confirmation, appt.confirmed_at = "confirmed", utcnow()
                    # No more asking; a same-day «ждём вас» may still come (core.reminders).
                    cancel_asks(session, appt.mis_id)
                    shown = visit_when(appt, sub.language)
                    record_event(session, sub, "confirmed", f"✅ {shown}")
                    ctx.reply(session, sub, key, ctx.text("confirmed", sub, when=shown))
                else:
                    appt.confirmation = "reschedule" if action == "r" else "cancel"
                    cancel_queued(session, appt.mis_id)
                    if action == "r":
                        question = "reschedule_days", days_keyboard(appt.id, sub.language)
                    else:
                        question = "cancel_reason_ask", reasons_keyboard(appt.id, sub.language)
                    ask(session, sub, appt, action, ctx.text(question[0], sub), question[1])
                _unbutton(session, event, key)
        ctx.answer(event, notice)

    def ask(
        session: Session, sub: Subscriber, appt: Appointment, what: str, text: str, markup: Any
    ) -> None:
        """A question a typed answer may reply to: its key names the visit (`awaited`)."""
        key = f"{ASK}:{what}:{appt.id}:{sub.id}:{appt.starts_at.isoformat()}"
        ctx.reply(session, sub, key, text, markup)

    def request_key(appt: Appointment) -> str:
        kind = "reschedule" if appt.confirmation == "reschedule" else "cancel_visit"
        return f"{kind}:{appt.mis_id}:{appt.starts_at.isoformat()}"

    def requested(session: Session, appt: Appointment) -> bool:
        """The patient's reschedule or cancel request is already a task."""
        return session.scalar(select(Task.id).where(Task.key == request_key(appt))) is not None

    def open_request(
        session: Session, sub: Subscriber, appt: Appointment, what: str, wish: str
    ) -> bool:
        """The reschedule (`what` "r") or cancel ("x") task with the patient's words;
        False if the visit is no longer waiting for them."""
        kind = "reschedule" if what == "r" else "cancel_visit"
        key = f"{kind}:{appt.mis_id}:{appt.starts_at.isoformat()}"
        wanted = "reschedule" if what == "r" else "cancel"
        if appt.confirmation != wanted or not current(appt):
            return False
        if session.scalar(select(Task.id).where(Task.key == key)) is not None:
            return False
        patient = session.scalar(select(Patient).where(Patient.mis_id == appt.patient_mis_id))
        fields = {
            "patient": patient.full_name if patient else appt.patient_mis_id,
            "phone": sub.phone or "—",
            "when": on_date(appt.starts_at.astimezone(tz), ctx.config.clinic.language),
            "doctor": doctor_label(session, appt.doctor_mis_id),
        }
        if what == "r":
            text = ctx.text("task_reschedule_wish", None, wish=wish, **fields)
        else:
            text = ctx.text("task_cancel_visit", None, reason=wish, **fields)
        create_task(
            session,
            ctx.config,
            kind=kind,
            key=key,
            text=text,
            subscriber_id=sub.id,
            patient_mis_id=appt.patient_mis_id,
            appointment_mis_id=appt.mis_id,
            acknowledged=True,  # the patient is answered just below
        )
        done = "reschedule_requested" if what == "r" else "cancel_requested"
        ctx.reply(session, sub, f"{key}:{sub.id}:done", ctx.text(done, sub))
        return True

    @router.press("rd", "rt", "xr")
    def wish_pressed(event: Press) -> None:
        """Days, then the part of the day (reschedule); or the reason (cancel)."""
        action, _, rest = event.data.partition(":")
        choice = rest.partition(":")[2]
        notice = ""
        with ctx.session() as session:
            sub, appt = pressed_visit(session, event)
            if appt is None:
                notice = ctx.text("not_yours", sub)
            elif not current(appt):
                notice = ctx.text("visit_not_current", sub)
            elif requested(session, appt):
                notice = ctx.text("already_answered", sub)
            elif action == "rd" and choice in DAYS and appt.confirmation == "reschedule":
                markup = parts_keyboard(appt.id, choice, sub.language)
                ask(session, sub, appt, f"r{choice}", ctx.text("reschedule_parts", sub), markup)
            elif action == "rt" and appt.confirmation == "reschedule":
                days, _, part = choice.partition(":")
                if days not in DAYS or part not in PARTS:
                    notice = ctx.text("already_answered", sub)
                else:
                    wish = f"{ctx.text(DAYS[days], None)}, {ctx.text(PARTS[part], None).lower()}"
                    if not open_request(session, sub, appt, "r", wish):
                        notice = ctx.text("already_answered", sub)
            elif action == "xr" and choice in REASONS:
                if not open_request(session, sub, appt, "x", ctx.text(REASONS[choice], None)):
                    notice = ctx.text("already_answered", sub)
            else:
                notice = ctx.text("already_answered", sub)
            if not notice:
                _unbutton(session, event, f"wish:{event.data}:{event.message_id}")
        ctx.answer(event, notice)

    def awaited(event: Text) -> bool:
        """Is this text the answer to the bot's last question in the chat (`ask`)?"""
        if menu_labels.is_menu(event.text) or event.text.startswith("/"):
            return False
        with ctx.session() as session:
            return _last_question(session, event) is not None

    @router.on(Text, when=awaited)
    def wish_typed(event: Text) -> None:
        """Days and times, or a reason, in the patient's own words: the task gets them, and
        the thread keeps the message."""
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            question = _last_question(session, event)
            if question is None:
                return
            what, appt_id, message = question
            appt = session.get(Appointment, appt_id)
            if appt is not None and is_linked(session, sub, appt.patient_mis_id):
                opened = open_request(session, sub, appt, what[0], event.text.strip()[:1000])
                if opened and message.telegram_message_id:
                    _unbutton_message(
                        session,
                        message.chat_id,
                        message.telegram_message_id,
                        message.text,
                        f"wish-typed:{message.id}",
                        message.channel,
                    )
            to_task(ctx, session, sub, event)

    @router.press(arrival.OFFER_PREFIX)
    def offer_taken(event: Press) -> None:
        """The arrival welcome's offer: the choice is a task for the front desk."""
        _, _, rest = event.data.partition(":")
        index = rest.partition(":")[2]
        notice = ""
        with ctx.session() as session:
            offer = settings.effective(session, ctx.config).messaging.arrival_offer
            sub, appt = pressed_visit(session, event)
            if appt is None:
                notice = ctx.text("not_yours", sub)
            elif not index.isdigit() or int(index) >= len(offer) or appt.status != "arrived":
                # The offer changed in the settings, or the visit is over: nothing to bring.
                notice = ctx.text("visit_not_current", sub)
            else:
                choice = offer[int(index)]
                key = f"offer:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}"
                if session.scalar(select(Task.id).where(Task.key == key)) is not None:
                    notice = ctx.text("already_answered", sub)
                else:
                    patient = session.scalar(
                        select(Patient).where(Patient.mis_id == appt.patient_mis_id)
                    )
                    create_task(
                        session,
                        ctx.config,
                        kind="arrival_offer",
                        key=key,
                        text=ctx.text(
                            "task_arrival_offer",
                            None,
                            patient=patient.full_name if patient else appt.patient_mis_id,
                            choice=choice,
                        ),
                        subscriber_id=sub.id,
                        patient_mis_id=appt.patient_mis_id,
                        appointment_mis_id=appt.mis_id,
                        acknowledged=True,
                    )
                    ctx.reply(
                        session,
                        sub,
                        f"{key}:done",
                        ctx.text("arrival_offer_taken", sub, choice=choice),
                    )
                    _unbutton(session, event, key)
        ctx.answer(event, notice)

    @router.press(no_show.REBOOK_PREFIX)
    def rebook_answer(event: Press) -> None:
        """The no-show message's «Записаться снова»: the reminder's Reschedule, for a visit
        already missed (whatever it was answered before, so not through `confirmation`)."""
        notice = ""
        with ctx.session() as session:
            sub, appt = pressed_visit(session, event)
            if appt is None:
                notice = ctx.text("not_yours", sub)
            elif no_show.request_rebook(session, ctx.config, sub, appt) is None:
                notice = ctx.text("already_answered", sub)
            else:
                key = f"rebook:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}"
                ctx.reply(session, sub, key, ctx.text("reschedule_requested", sub))
                _unbutton(session, event, key)
        ctx.answer(event, notice)
