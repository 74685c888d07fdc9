"""Start, consent and recognition: /start <payload>, then the patient's own contact."""

from __future__ import annotations

import re
from typing import Any

from telebot import TeleBot, types

from bot_handlers.chat import to_task
from bot_handlers.context import BotContext, menu_keyboard
from core.clock import utcnow
from core.loyalty import on_linked as loyalty_linked
from core.loyalty import parse_payload
from core.models import Subscriber
from core.patients import link_by_phone, linked_patients
from core.phones import normalize
from core.tasks import create_task

_LOOKS_LIKE_PHONE = re.compile(r"^[\s+()\-\d]{10,20}$")


def register(bot: TeleBot, ctx: BotContext) -> None:
    @bot.message_handler(commands=["start"], chat_types=["private"])
    def start(message: types.Message) -> None:
        parts = (message.text or "").split(maxsplit=1)
        payload = parts[1].strip() if len(parts) > 1 else ""
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            # Only the first link counts (it names who brought the patient), and only a
            # payload of the grammar in core.loyalty.referrals is kept.
            if not sub.start_payload and parse_payload(payload).kind not in ("none", "invalid"):
                sub.start_payload = payload
            patients = linked_patients(session, sub)
            key = f"start:{message.chat.id}:{message.message_id}"
            if patients:
                ctx.reply(
                    session,
                    sub,
                    key,
                    ctx.text("greeting", sub, name=patients[0].address_name),
                    menu_keyboard(ctx, sub),
                )
                return
            ctx.reply(session, sub, key, ctx.text("welcome", sub), contact_keyboard(ctx, sub))

    @bot.message_handler(content_types=["contact"], chat_types=["private"])
    def contact(message: types.Message) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            key = f"contact:{message.chat.id}:{message.message_id}"
            shared, sender = message.contact, message.from_user
            assert sender is not None  # private chats always have a sender
            # Anyone can forward someone else's card; only Telegram's own user_id proves
            # the number belongs to the sender.
            if shared is None or shared.user_id is None or shared.user_id != sender.id:
                ctx.reply(
                    session, sub, key, ctx.text("contact_not_own", sub), contact_keyboard(ctx, sub)
                )
                return
            phone = normalize(shared.phone_number, ctx.config.clinic.phone_region)
            patients = link_by_phone(session, sub, phone) if phone else []
            if not patients:
                ctx.reply(
                    session,
                    sub,
                    key,
                    ctx.text("not_found", sub, phone=phone or shared.phone_number),
                )
                tg_name = " ".join(filter(None, [sender.first_name, sender.last_name]))
                create_task(
                    session,
                    ctx.config,
                    kind="unknown_patient",
                    key=f"unknown:{sub.id}:{phone}",
                    text=ctx.text(
                        "task_unknown_patient",
                        None,
                        phone=phone or shared.phone_number,
                        tg_name=tg_name,
                    ),
                    subscriber_id=sub.id,
                    acknowledged=True,  # the patient was just answered
                )
                return
            main, others = patients[0], patients[1:]
            loyalty_linked(session, ctx.config, sub, patients, utcnow())
            text = ctx.text("greeting", sub, name=main.address_name)
            if others:
                names = ", ".join(p.address_name for p in others)
                text = ctx.text("greeting_family", sub, name=main.address_name, others=names)
            ctx.reply(session, sub, key, text, menu_keyboard(ctx, sub))

    @bot.message_handler(
        chat_types=["private"],
        func=lambda m: bool(m.text and _LOOKS_LIKE_PHONE.match(m.text)),
    )
    def typed_phone(message: types.Message) -> None:
        # A typed number proves nothing about who types it; ask for the button instead.
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            if linked_patients(session, sub):
                to_task(ctx, session, sub, message)
                return
            ctx.reply(
                session,
                sub,
                f"typed-phone:{message.chat.id}:{message.message_id}",
                ctx.text("typed_phone_refused", sub),
                contact_keyboard(ctx, sub),
            )


def contact_keyboard(ctx: BotContext, sub: Subscriber) -> dict[str, Any]:
    return {
        "keyboard": [[{"text": ctx.text("share_contact_button", sub), "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
