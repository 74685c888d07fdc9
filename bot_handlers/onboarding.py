"""Start, consent and recognition: /start <payload>, the consent step, the patient's own
contact, and «Кто вы?» when a number has several patients.

1. /start (a staff link, a referral, a QR tag: the payload is kept only once consent is
   given) → the consent text, the latest version from the panel (core.patients.consent), with
   accept / decline. A decline keeps nothing that identifies the person and says how else
   to reach the clinic.
2. «Поделиться номером» (the sender's own contact only) → one patient: greeted by first
   name and patronymic; several: «Кто вы?» with their first names and «Мы семья — все»
   (linked together only when the MIS has them in one family, else the staff confirm);
   none: told so, the button stays, the staff get a task.
A chat already linked is told so; a second chat claiming a linked patient is linked too,
and the staff are told.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from bot_handlers import family, phone_code
from bot_handlers.channels.base import Contact, Press, Start, Text
from bot_handlers.channels.router import Router
from bot_handlers.chat import to_task
from bot_handlers.context import BotContext, contact_keyboard, menu_keyboard
from core.clock import utcnow
from core.loyalty import on_linked as loyalty_linked
from core.loyalty import parse_payload
from core.models import Patient, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients import consent
from core.patients.gone import reach
from core.patients.linking import candidates, link_patients, linked_patients
from core.phones import normalize
from core.tasks import create_task

_LOOKS_LIKE_PHONE = re.compile(r"^[\s+()\-\d]{10,20}$")
CONSENT = "cs"  # cs:yes:<version> | cs:no
WHO = "who"  # who:<patient mis id> | who:all
_NAME_LIMIT = 40  # a button label's patient name, cut so a row stays readable


def register(router: Router, ctx: BotContext) -> None:
    def ask_consent(session: Session, sub: Subscriber, key: str) -> None:
        text = consent.current(session, ctx.config.clinic.name, sub.language)
        buttons = [
            [
                {
                    "text": ctx.text("btn_consent_accept", sub),
                    "callback_data": f"{CONSENT}:yes:{text.version}",
                },
                {"text": ctx.text("btn_consent_decline", sub), "callback_data": f"{CONSENT}:no"},
            ]
        ]
        ctx.reply(
            session,
            sub,
            key,
            ctx.text("consent_request", sub, text=text.text),
            {"inline_keyboard": buttons},
        )

    def drop_buttons(session: Session, event: Press, key: str) -> None:
        enqueue(
            session,
            key=key,
            chat_id=event.chat.id,
            channel=event.channel,
            text="",
            kind="edit_markup",
            priority=PRIORITY_REPLY,
            reply_markup={"inline_keyboard": []},
            edit_message_id=event.message_id,
            respect_quiet_hours=False,
        )

    def greet(
        session: Session, sub: Subscriber, key: str, patients: list[Patient], event: Any
    ) -> None:
        """Link `patients` (the first is the one greeted), tell the staff of any patient
        another chat already had, and carry out what the /start link promised."""
        for patient, _other in link_patients(session, sub, patients, sub.phone):
            create_task(
                session,
                ctx.config,
                kind="second_account",
                key=f"second-account:{patient.mis_id}:{sub.id}",
                text=ctx.text(
                    "task_second_account",
                    None,
                    tg_name=event.user.full_name or str(event.user.id),
                    patient=patient.full_name,
                    phone=sub.phone,
                ),
                subscriber_id=sub.id,
                patient_mis_id=patient.mis_id,
                acknowledged=True,  # the patient is greeted below; nothing to ask them
            )
        loyalty_linked(session, ctx.config, sub, patients, utcnow())
        main, others = patients[0], patients[1:]
        text = ctx.text("greeting", sub, name=main.address_name)
        if others:
            names = ", ".join(p.address_name for p in others)
            text = ctx.text("greeting_family", sub, name=main.address_name, others=names)
        ctx.reply(session, sub, key, text, menu_keyboard(ctx, sub))
        family.after_link(ctx, session, sub)  # an invite this chat opened before linking

    @router.on(Start)
    def start(event: Start) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"start:{event.chat.id}:{event.message_id}"
            patients = linked_patients(session, sub)
            if patients:
                text = ctx.text("greeting", sub, name=patients[0].address_name)
                ctx.reply(session, sub, key, text, menu_keyboard(ctx, sub))
                return
            # Only the first link counts (it names who brought the patient), and only a
            # payload of the grammar in core.loyalty.referrals is kept. Before consent it
            # is kept too, but a decline takes it away with the rest (core.patients.consent.forget).
            if not sub.start_payload and parse_payload(event.payload).kind not in (
                "none",
                "invalid",
            ):
                sub.start_payload = event.payload
            if sub.consent_at is None:
                ask_consent(session, sub, key)
                return
            ctx.need_link(session, sub, key)

    @router.press(CONSENT)
    def consent_press(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            if sub.consent_at is not None or linked_patients(session, sub):
                ctx.answer(event, ctx.text("consent_done_already", sub))
                return
            parts = event.data.split(":")
            key = f"consent-answer:{event.chat.id}:{event.message_id}"
            drop_buttons(session, event, f"consent-unbutton:{event.chat.id}:{event.message_id}")
            if parts[1:2] == ["yes"] and len(parts) == 3:
                # The version on the button is the text this person read.
                consent.accept(sub, parts[2], utcnow())
                ctx.reply(
                    session, sub, key, ctx.text("consent_accepted", sub), contact_keyboard(ctx, sub)
                )
            else:
                text = ctx.text("consent_declined", sub, reach=reach(ctx.config, sub.language))
                ctx.reply(session, sub, key, text, {"remove_keyboard": True})
                consent.forget(session, sub)
        ctx.answer(event)

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
            linked = linked_patients(session, sub)
            if linked:
                text = ctx.text("already_linked", sub, name=linked[0].address_name)
                ctx.reply(session, sub, key, text, menu_keyboard(ctx, sub))
                return
            if sub.consent_at is None:
                # Not even the number is kept before the consent.
                ctx.reply(session, sub, key, ctx.text("consent_first", sub))
                ask_consent(session, sub, f"{key}:consent")
                return
            phone = normalize(event.phone, ctx.config.clinic.phone_region)
            patients = candidates(session, phone) if phone else []
            if phone and patients and not event.number_proven:
                # MAX: an own card proves the account, not the number (channels/max.py).
                # A one-time code to the MIS number first; it comes back here proven.
                phone_code.ask(ctx, session, sub, key, phone)
                return
            sub.phone = phone or ""
            if not patients:
                not_found(session, sub, key, phone or event.phone, event)
            elif len(patients) == 1:
                greet(session, sub, key, patients, event)
            else:
                ask_who(session, sub, key, patients)

    def not_found(session: Session, sub: Subscriber, key: str, phone: str, event: Any) -> None:
        # The button stays, for a patient who has another number at the clinic.
        text = ctx.text("not_found_keep", sub, phone=phone)
        ctx.reply(session, sub, key, text, contact_keyboard(ctx, sub))
        create_task(
            session,
            ctx.config,
            kind="unknown_patient",
            key=f"unknown:{sub.id}:{phone}",
            text=ctx.text("task_unknown_patient", None, phone=phone, tg_name=event.user.full_name),
            subscriber_id=sub.id,
            acknowledged=True,  # the patient was just answered
        )

    def ask_who(session: Session, sub: Subscriber, key: str, patients: list[Patient]) -> None:
        names = [p.first_name or p.address_name for p in patients]

        def label(p: Patient, name: str) -> str:
            # Two of one name (a mother and daughter both Мария): the birth year tells them apart.
            if names.count(name) > 1 and p.birth_date is not None:
                return f"{name}, {p.birth_date.year}"
            return name

        rows: list[list[dict[str, str]]] = [
            [{"text": label(p, name)[:_NAME_LIMIT], "callback_data": f"{WHO}:{p.mis_id}"}]
            for p, name in zip(patients, names, strict=True)
        ]
        rows.append([{"text": ctx.text("btn_family_all", sub), "callback_data": f"{WHO}:all"}])
        ctx.reply(session, sub, key, ctx.text("who_are_you", sub), {"inline_keyboard": rows})

    @router.press(WHO)
    def who_press(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            linked = linked_patients(session, sub)
            if linked:
                ctx.answer(event, ctx.text("already_linked", sub, name=linked[0].address_name))
                return
            # The choice is among the patients the number has *now*: one archived or moved
            # to another number since the question was asked is no longer offered.
            patients = candidates(session, sub.phone) if sub.phone else []
            choice = event.data.split(":", 1)[1]
            key = f"who:{event.chat.id}:{event.message_id}:{choice}"
            if choice == "all" and len(patients) > 1:
                families = {p.family_id for p in patients}
                if len(families) == 1 and None not in families and "" not in families:
                    drop_buttons(session, event, f"who-unbutton:{event.chat.id}:{event.message_id}")
                    greet(session, sub, key, patients, event)
                else:
                    family_task(session, sub, patients, event)
                    ctx.reply(session, sub, key, ctx.text("family_pending", sub))
            else:
                chosen = [p for p in patients if p.mis_id == choice]
                if not chosen:
                    ctx.answer(event, ctx.text("who_stale", sub))
                    return
                drop_buttons(session, event, f"who-unbutton:{event.chat.id}:{event.message_id}")
                greet(session, sub, key, chosen, event)
        ctx.answer(event)

    def family_task(session: Session, sub: Subscriber, patients: list[Patient], event: Any) -> None:
        create_task(
            session,
            ctx.config,
            kind="family_confirm",
            key=f"family:{sub.id}:{sub.phone}",
            text=ctx.text(
                "task_family_confirm",
                None,
                phone=sub.phone,
                tg_name=event.user.full_name or str(event.user.id),
                names=", ".join(p.full_name for p in patients),
            ),
            subscriber_id=sub.id,
            acknowledged=True,
        )

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
