"""«Рекомендации»: the care instructions the patient was sent after recent visits."""

from __future__ import annotations

from bot_handlers.channels.base import Command, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core import care
from core.clock import utcnow
from core.outbox import PRIORITY_REPLY
from core.patients.linking import linked_patients
from core.texts import menu_labels


def register(router: Router, ctx: BotContext) -> None:
    tz = ctx.config.clinic.tz

    @router.command("care")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_care", e.text))
    def my_care(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"care-view:{event.chat.id}:{event.message_id}"
            patients = linked_patients(session, sub)
            if not patients:
                ctx.need_link(session, sub, key)
                return
            names = {p.mis_id: p.address_name for p in patients}
            rows = care.received(session, list(names), utcnow())
            if not rows:
                ctx.reply(session, sub, key, ctx.text("care_none", sub))
                return
            # One message each: an instruction may be nearly as long as Telegram allows.
            # In the chat's language (the English version where there is one), each with
            # its attachment again, as the bot's line of the thread.
            for row in rows:
                title, body = care.localized(
                    sub.language, row.title, row.text, row.title_en, row.text_en
                )
                if len(names) > 1:
                    title = f"{names[row.patient_mis_id]}: {title}"
                text = ctx.text(
                    "care_item",
                    sub,
                    date=row.visit_at.astimezone(tz).strftime("%d.%m.%Y"),
                    title=title,
                    text=body,
                )
                ctx.reply(session, sub, f"{key}:{row.id}", text[: care.TELEGRAM_LIMIT])
                care.attach(
                    session,
                    ctx.config,
                    sub,
                    row,
                    title=title,
                    patient_mis_id=row.patient_mis_id,
                    due_at=None,
                    priority=PRIORITY_REPLY,
                    respect_quiet_hours=False,
                )
