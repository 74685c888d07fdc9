"""Free text from a patient: it becomes a task for the staff, and the patient is told so."""

from __future__ import annotations

from sqlalchemy.orm import Session
from telebot import TeleBot, types

from bot_handlers.context import BotContext
from core.models import Subscriber
from core.patients import linked_patients
from core.tasks import create_task


def to_task(ctx: BotContext, session: Session, sub: Subscriber, message: types.Message) -> None:
    patients = linked_patients(session, sub)
    who = (
        patients[0].full_name
        if patients
        else " ".join(filter(None, [sub.first_name, sub.last_name]))
    )
    text = message.text or message.caption or "(фото)"
    create_task(
        session,
        ctx.config,
        kind="message",
        key=f"message:{message.chat.id}:{message.message_id}",
        text=ctx.text("task_message", None, patient=who, phone=sub.phone or "—", text=text),
        subscriber_id=sub.id,
        patient_mis_id=patients[0].mis_id if patients else "",
    )
    ctx.reply(
        session,
        sub,
        f"message-ack:{message.chat.id}:{message.message_id}",
        ctx.text("message_received", sub),
    )


def register(bot: TeleBot, ctx: BotContext) -> None:
    @bot.message_handler(chat_types=["private"], content_types=["text", "photo", "document"])
    def any_message(message: types.Message) -> None:
        if message.text and message.text.startswith("/"):
            return  # an unknown command is not a question for the front desk
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            to_task(ctx, session, sub, message)
