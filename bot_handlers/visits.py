"""Visits: the menu, the reminder's Confirm / Reschedule buttons, and «Записаться снова» after a
no-show (bonuses: loyalty.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.conversations.lines import record_event
from core.models import Appointment, Patient, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients import is_linked, linked_patients
from core.rules import doctor_label
from core.tasks import create_task
from core.texts import CATALOGUE, when
from core.visits import no_show


def _menu_texts(key: str) -> set[str]:
    return set(CATALOGUE[key].values())


def _unbutton(session: Session, press: Press, key: str) -> None:
    """Remove the buttons of an answered message so the answer cannot be given twice."""
    enqueue(
        session,
        key=f"{key}:unbutton",
        chat_id=press.chat.id,
        text=press.message_text,
        kind="edit_markup",
        priority=PRIORITY_REPLY,
        reply_markup={"inline_keyboard": []},
        edit_message_id=press.message_id,
        respect_quiet_hours=False,
    )


def register(router: Router, ctx: BotContext) -> None:
    tz = ctx.config.clinic.tz

    @router.command("visits")
    @router.on(Text, when=lambda e: e.text in _menu_texts("menu_visits"))
    def my_visits(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"visits:{event.chat.id}:{event.message_id}"
            patients = linked_patients(session, sub)
            if not patients:
                ctx.need_link(session, sub, key)
                return
            names = {p.mis_id: p.address_name for p in patients}
            upcoming = session.scalars(
                select(Appointment)
                .where(
                    Appointment.patient_mis_id.in_(names),
                    Appointment.starts_at > utcnow(),
                    Appointment.status == "scheduled",
                    Appointment.deleted.is_(False),
                )
                .order_by(Appointment.starts_at)
                .limit(10)
            ).all()
            if not upcoming:
                ctx.reply(session, sub, key, ctx.text("no_visits", sub))
                return
            today = utcnow().astimezone(tz).date()
            lines = [ctx.text("visits_header", sub)]
            for appt in upcoming:
                mark = " ✅" if appt.confirmation == "confirmed" else ""
                who = f"{names[appt.patient_mis_id]}: " if len(names) > 1 else ""
                lines.append(
                    f"• {who}{when(appt.starts_at.astimezone(tz), today, sub.language)}, "
                    f"{doctor_label(session, appt.doctor_mis_id)}{mark}"
                )
            ctx.reply(session, sub, key, "\n".join(lines))

    def pressed_visit(session: Session, press: Press) -> tuple[Subscriber, Appointment | None]:
        """Who pressed, and the visit the button names if they may act on it (else None).

        The router has checked that the button was on this message in this chat; the
        pressing user must also be linked to the visit's patient now (a link can go)."""
        sub = ctx.subscriber(session, press)
        raw_id = press.data.partition(":")[2]
        appt = session.get(Appointment, int(raw_id)) if raw_id.isdigit() else None
        if appt is None or not is_linked(session, sub, appt.patient_mis_id):
            return sub, None
        return sub, appt

    @router.press("c", "r")
    def reminder_answer(event: Press) -> None:
        action = event.data.partition(":")[0]
        notice = ""
        with ctx.session() as session:
            sub, appt = pressed_visit(session, event)
            if appt is None:
                notice = ctx.text("not_yours", sub)
            elif appt.confirmation:
                notice = ctx.text("already_answered", sub)
            elif appt.deleted or appt.status != "scheduled" or appt.starts_at <= utcnow():
                # The reminder outlived its visit (cancelled, moved away, or begun):
                # nothing to confirm or move; «Мои визиты» shows what is booked now.
                notice = ctx.text("visit_not_current", sub)
                _unbutton(session, event, f"gone:{appt.mis_id}:{event.message_id}:{sub.id}")
            else:
                today = utcnow().astimezone(tz).date()
                visit_when = when(appt.starts_at.astimezone(tz), today, sub.language)
                key = f"answer:{appt.mis_id}:{appt.starts_at.isoformat()}:{sub.id}"
                if action == "c":
                    appt.confirmation, appt.confirmed_at = "confirmed", utcnow()
                    record_event(session, sub, "confirmed", f"✅ {visit_when}")
                    ctx.reply(session, sub, key, ctx.text("confirmed", sub, when=visit_when))
                else:
                    appt.confirmation = "reschedule"
                    patient = session.scalar(
                        select(Patient).where(Patient.mis_id == appt.patient_mis_id)
                    )
                    create_task(
                        session,
                        ctx.config,
                        kind="reschedule",
                        key=f"reschedule:{appt.mis_id}:{appt.starts_at.isoformat()}",
                        text=ctx.text(
                            "task_reschedule",
                            None,
                            patient=patient.full_name if patient else appt.patient_mis_id,
                            phone=sub.phone or "—",
                            when=visit_when,
                            doctor=doctor_label(session, appt.doctor_mis_id),
                        ),
                        subscriber_id=sub.id,
                        patient_mis_id=appt.patient_mis_id,
                        appointment_mis_id=appt.mis_id,
                        acknowledged=True,  # the patient was just answered
                    )
                    ctx.reply(session, sub, key, ctx.text("reschedule_requested", sub))
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
