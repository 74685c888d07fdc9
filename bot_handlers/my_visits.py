"""«🗓 Мои визиты»: the upcoming visits of the people this chat shows (core.patients.family), each
with its doctor, time in the clinic's zone, the branch's address and a map link, and the
reminder's own Confirm / Reschedule / Cancel buttons where the visit still waits for an
answer; then the past twelve months.

The buttons carry the reminder's data (``c:<visit>``, ``r:<visit>``, ``x:<visit>``), so a
press is the reminder's flow in bot_handlers/visits.py, not a copy of it: the same checks
(the presser is linked to the visit's patient now, the visit is still current, not already
answered), the same reschedule and cancel questions, the same tasks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.models import Appointment, Subscriber
from core.outbox import inline_keyboard
from core.patients.family import shown_patients
from core.patients.linking import linked_patients
from core.rules import doctor_label
from core.texts import menu_labels, on_date, when

UPCOMING_LIMIT = 10
PAST_LIMIT = 20
PAST_DAYS = 365
_STATES = {
    "confirmed": "visit_state_confirmed",
    "reschedule": "visit_state_reschedule",
    "cancel": "visit_state_cancel",
}


def map_link(address: str) -> str:
    return f"https://yandex.ru/maps/?text={quote_plus(address)}"


def visits_screen(
    ctx: BotContext, session: Session, sub: Subscriber
) -> tuple[str, dict[str, Any] | None]:
    tz = ctx.config.clinic.tz
    now = utcnow()
    patients = shown_patients(session, sub)
    names = {p.mis_id: p.address_name for p in patients}
    several = len(names) > 1
    upcoming = session.scalars(
        select(Appointment)
        .where(
            Appointment.patient_mis_id.in_(names),
            Appointment.starts_at > now,
            Appointment.status == "scheduled",
            Appointment.deleted.is_(False),
        )
        .order_by(Appointment.starts_at)
        .limit(UPCOMING_LIMIT)
    ).all()
    today = now.astimezone(tz).date()
    lines: list[str] = []
    rows: list[list[tuple[str, str]]] = []
    if upcoming:
        lines.append(ctx.text("visits_upcoming", sub))
        open_ones = [a for a in upcoming if not a.confirmation]
        for n, appt in enumerate(upcoming, 1):
            address = ctx.config.clinic.branch_address(appt.branch_id)
            state = (
                ctx.text(_STATES[appt.confirmation], sub) if appt.confirmation in _STATES else ""
            )
            where = ctx.text("visit_where", sub, address=address, map=map_link(address))
            lines.append(
                ctx.text(
                    "visit_item",
                    sub,
                    n=n,
                    who=f"{names[appt.patient_mis_id]}: " if several else "",
                    when=when(appt.starts_at.astimezone(tz), today, sub.language),
                    doctor=doctor_label(session, appt.doctor_mis_id),
                    state=state,
                )
                + (where if address else "")
            )
            if not appt.confirmation:
                mark = f"{n}. " if len(open_ones) > 1 else ""
                rows.append(
                    [
                        (f"{mark}{ctx.text('btn_confirm', sub)}", f"c:{appt.id}"),
                        (f"{mark}{ctx.text('btn_reschedule', sub)}", f"r:{appt.id}"),
                        (f"{mark}{ctx.text('btn_cancel_visit', sub)}", f"x:{appt.id}"),
                    ]
                )
    else:
        lines.append(ctx.text("no_visits", sub))
    past = session.scalars(
        select(Appointment)
        .where(
            Appointment.patient_mis_id.in_(names),
            Appointment.starts_at <= now,
            Appointment.starts_at > now - timedelta(days=PAST_DAYS),
            Appointment.status != "cancelled",
            Appointment.deleted.is_(False),
        )
        .order_by(Appointment.starts_at.desc())
        .limit(PAST_LIMIT)
    ).all()
    lines.append("")
    if past:
        lines.append(ctx.text("visits_past", sub))
        for appt in past:
            lines.append(
                ctx.text(
                    "visit_past_item",
                    sub,
                    who=f"{names[appt.patient_mis_id]}: " if several else "",
                    date=on_date(appt.starts_at.astimezone(tz), sub.language),
                    doctor=doctor_label(session, appt.doctor_mis_id),
                    state=ctx.text("visit_past_no_show", sub) if appt.status == "no_show" else "",
                )
            )
    else:
        lines.append(ctx.text("visits_past_none", sub))
    return "\n".join(lines), inline_keyboard(rows) if rows else None


def register(router: Router, ctx: BotContext) -> None:

    @router.command("visits")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_visits", e.text))
    def my_visits(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"visits:{event.chat.id}:{event.message_id}"
            if not linked_patients(session, sub):
                ctx.need_link(session, sub, key)
                return
            text, keyboard = visits_screen(ctx, session, sub)
            ctx.reply(session, sub, key, text, keyboard)
