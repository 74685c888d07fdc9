"""Start, consent and recognition: /start <payload>, then the patient's own contact."""

from __future__ import annotations

import re

from bot_handlers.channels.base import Contact, Start, Text
from bot_handlers.channels.router import Router
from bot_handlers.chat import to_task
from bot_handlers.context import BotContext, contact_keyboard, menu_keyboard
from core.clock import utcnow
from core.loyalty import on_linked as loyalty_linked
from core.loyalty import parse_payload
from core.patients import link_by_phone, linked_patients
from core.phones import normalize
from core.tasks import create_task

_LOOKS_LIKE_PHONE = re.compile(r"^[\s+()\-\d]{10,20}$")


def register(router: Router, ctx: BotContext) -> None:
    @router.on(Start)
    def start(event: Start) -> None:
        payload = event.payload
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            # Only the first link counts (it names who brought the patient), and only a
            # payload of the grammar in core.loyalty.referrals is kept.
            if not sub.start_payload and parse_payload(payload).kind not in ("none", "invalid"):
                sub.start_payload = payload
            patients = linked_patients(session, sub)
            key = f"start:{event.chat.id}:{event.message_id}"
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

    @router.on(Contact)
    def contact(event: Contact) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"contact:{event.chat.id}:{event.message_id}"
            # Whether the number is the sender's own is the adapter's word (Telegram: the
            # card's user_id set by its server); a forwarded card never links anyone.
            if not event.own:
                ctx.reply(
                    session, sub, key, ctx.text("contact_not_own", sub), contact_keyboard(ctx, sub)
                )
                return
            phone = normalize(event.phone, ctx.config.clinic.phone_region)
            patients = link_by_phone(session, sub, phone) if phone else []
            if not patients:
                ctx.reply(
                    session,
                    sub,
                    key,
                    ctx.text("not_found", sub, phone=phone or event.phone),
                )
                create_task(
                    session,
                    ctx.config,
                    kind="unknown_patient",
                    key=f"unknown:{sub.id}:{phone}",
                    text=ctx.text(
                        "task_unknown_patient",
                        None,
                        phone=phone or event.phone,
                        tg_name=event.user.full_name,
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

    @router.on(Text, when=lambda e: bool(_LOOKS_LIKE_PHONE.match(e.text)))
    def typed_phone(event: Text) -> None:
        # A typed number proves nothing about who types it; ask for the button instead.
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            if linked_patients(session, sub):
                to_task(ctx, session, sub, event)
                return
            ctx.reply(
                session,
                sub,
                f"typed-phone:{event.chat.id}:{event.message_id}",
                ctx.text("typed_phone_refused", sub),
                contact_keyboard(ctx, sub),
            )
