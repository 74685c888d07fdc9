"""«👨‍👩‍👧 Семья»: the people linked to this chat, whose visits and bonuses it shows, whose
notices it gets, and a one-time invite for a family member (core.patients.family).

The invited member opens the link (``/start fam-<token>``), is recognised as anyone is —
the consent, then their own contact (onboarding.py) — and only then, under the family rule
(one family in the MIS) or after the staff confirm, appears in the inviting chat. Nothing
the invited person types can link anyone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Press, Start, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.models import Subscriber
from core.outbox import PRIORITY_REPLY, enqueue, inline_keyboard
from core.patients.family import (
    INVITE_DAYS,
    INVITE_PREFIX,
    apply_claims,
    claim,
    create_invite,
    members,
    set_member,
    start_link,
)
from core.patients.linking import linked_patients
from core.tasks import create_task
from core.texts import menu_labels

PREFIX = "fm"  # fm:s:<patient id>:<1 show | 0 hide> | fm:m:<patient id>:<1 mute | 0 not> | fm:inv
_NAME_LIMIT = 24


def family_text(ctx: BotContext, session: Session, sub: Subscriber) -> str:
    lines = []
    for m in members(session, sub):
        flags = ""
        if not m.link.shown:
            flags += ctx.text("family_flag_hidden", sub)
        if m.link.muted:
            flags += ctx.text("family_flag_muted", sub)
        lines.append(ctx.text("family_member", sub, name=m.patient.address_name, flags=flags))
    return ctx.text("family_screen", sub, lines="\n".join(lines))


def family_keyboard(ctx: BotContext, session: Session, sub: Subscriber) -> dict[str, Any]:
    rows: list[list[tuple[str, str]]] = []
    for m in members(session, sub):
        name = (m.patient.first_name or m.patient.address_name)[:_NAME_LIMIT]
        shown, muted, pid = m.link.shown, m.link.muted, m.patient.id
        rows.append(
            [
                (f"{'👁' if shown else '🙈'} {name}", f"{PREFIX}:s:{pid}:{0 if shown else 1}"),
                (f"{'🔕' if muted else '🔔'} {name}", f"{PREFIX}:m:{pid}:{0 if muted else 1}"),
            ]
        )
    rows.append([(ctx.text("btn_family_invite", sub), f"{PREFIX}:inv")])
    return inline_keyboard(rows)


def after_link(ctx: BotContext, session: Session, sub: Subscriber) -> None:
    """Invites `sub` opened or sent that can join now do; the others wait for the staff."""
    for result in apply_claims(session, sub):
        invite = result.invite
        invited = session.get(Subscriber, invite.claimed_by) if invite.claimed_by else None
        if invited is None:
            continue
        if result.joined:
            names = ", ".join(p.address_name for p in result.joined)
            ctx.reply(
                session,
                result.inviter,
                f"family-joined:{invite.id}:inviter",
                ctx.text("family_joined", result.inviter, names=names),
            )
            ctx.reply(
                session,
                invited,
                f"family-joined:{invite.id}:invited",
                ctx.text("family_joined_invited", invited),
            )
            continue
        create_task(
            session,
            ctx.config,
            kind="family_confirm",
            key=f"family-invite:{invite.id}",
            text=ctx.text(
                "task_family_invite",
                None,
                invited=", ".join(
                    f"{p.full_name} ({invited.phone})" for p in linked_patients(session, invited)
                ),
                inviter=", ".join(
                    f"{p.full_name} ({result.inviter.phone})"
                    for p in linked_patients(session, result.inviter)
                ),
            ),
            subscriber_id=invited.id,
            acknowledged=True,  # told just below
        )
        ctx.reply(
            session,
            invited,
            f"family-invite-staff:{invite.id}",
            ctx.text("family_invite_staff", invited),
        )


def register(router: Router, ctx: BotContext) -> None:

    @router.on(Start, when=lambda e: e.payload.startswith(INVITE_PREFIX))
    def invite_opened(event: Start) -> None:
        token = event.payload[len(INVITE_PREFIX) :]
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"family-invite-open:{event.chat.id}:{event.message_id}"
            outcome = claim(session, token, sub, utcnow())
            linked = bool(linked_patients(session, sub))
            if outcome == "gone":
                ctx.reply(session, sub, key, ctx.text("family_invite_gone", sub))
            elif outcome == "own":
                ctx.reply(session, sub, key, ctx.text("family_invite_own", sub))
            elif linked:
                after_link(ctx, session, sub)  # recognised already, by their own contact
            else:
                ctx.reply(session, sub, key, ctx.text("family_invite_opened", sub))
        if outcome != "own" and not linked:
            # On to the consent and the contact, as any /start (onboarding.py).
            router.dispatch(replace(event, payload=""))

    @router.command("family")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_family", e.text))
    def family_screen(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"family:{event.chat.id}:{event.message_id}"
            if not linked_patients(session, sub):
                ctx.need_link(session, sub, key)
                return
            after_link(ctx, session, sub)  # an invite the MIS family now allows
            ctx.reply(
                session,
                sub,
                key,
                family_text(ctx, session, sub),
                family_keyboard(ctx, session, sub),
            )

    @router.press(PREFIX)
    def family_press(event: Press) -> None:
        parts = event.data.split(":")
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            if not linked_patients(session, sub):
                ctx.answer(event, ctx.text("not_yours", sub))
                return
            stem = f"family-press:{event.chat.id}:{event.message_id}:{event.press_id}"
            if parts[1:] == ["inv"]:
                invite = create_invite(session, sub, utcnow())
                link = start_link(ctx.config, sub.channel, f"{INVITE_PREFIX}{invite.token}")
                ctx.reply(
                    session, sub, stem, ctx.text("family_invite", sub, link=link, days=INVITE_DAYS)
                )
                ctx.answer(event)
                return
            outcome = "not_linked"
            if len(parts) == 4 and parts[1] in ("s", "m") and parts[2].isdigit():
                flag = "shown" if parts[1] == "s" else "muted"
                outcome = set_member(session, sub, int(parts[2]), flag, parts[3] == "1")
            # The message shows the family as it is now, whatever was pressed.
            enqueue(
                session,
                key=stem,
                chat_id=event.chat.id,
                channel=event.channel,
                text=family_text(ctx, session, sub),
                kind="edit_text",
                priority=PRIORITY_REPLY,
                reply_markup=family_keyboard(ctx, session, sub),
                edit_message_id=event.message_id,
                respect_quiet_hours=False,
            )
            notice = {
                "changed": "family_saved",
                "same": "settings_unchanged",
                "last_shown": "family_last_shown",
            }.get(outcome, "not_yours")
            text = ctx.text(notice, sub)
        ctx.answer(event, text)
