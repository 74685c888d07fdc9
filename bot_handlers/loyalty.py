"""The patient's bonuses: balance, nearest expiry, family, referral link, notice mute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot_handlers import bonus_screenshots
from bot_handlers.channels.base import Command, Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core import ledger
from core.clock import utcnow
from core.loyalty.accounts import family_members, member_row, owner_of
from core.loyalty.notices import day
from core.loyalty.referrals import deep_link, payload_for
from core.loyalty.settings import effective
from core.models import LedgerEntry, LoyaltyLot, LoyaltyMember, Patient, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue, inline_keyboard
from core.patients.family import shown_patients
from core.patients.linking import linked_patients
from core.texts import CATALOGUE, menu_labels

MUTE, UNMUTE = "lm:on", "lm:off"


def _muted(session: Session, patient_ids: list[str]) -> bool:
    """Muted when every linked patient has muted: then no notice reaches this chat."""
    muted = session.scalar(
        select(func.count(LoyaltyMember.id)).where(
            LoyaltyMember.patient_mis_id.in_(patient_ids), LoyaltyMember.muted.is_(True)
        )
    )
    return bool(patient_ids) and muted == len(patient_ids)


def mute_keyboard(
    ctx: BotContext, sub: Subscriber, muted: bool, above: list[list[tuple[str, str]]] | None = None
) -> dict[str, Any]:
    """The mute toggle, under `above` (the bonuses screen's other buttons)."""
    toggle = (ctx.text("btn_unmute", sub), UNMUTE) if muted else (ctx.text("btn_mute", sub), MUTE)
    return inline_keyboard([*(above or []), [toggle]])


def balance_screen(ctx: BotContext, session: Session, sub: Subscriber) -> str | None:
    """The text of the bonuses screen, or None if the subscriber is not linked yet."""
    if not linked_patients(session, sub):
        return None
    patients = shown_patients(session, sub)  # whose bonuses «Семья» shows here
    config = ctx.config
    settings = effective(session, config)
    value = f"{settings.point_value_rub:g}"
    tz = config.clinic.tz
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for patient in patients:
        owner = owner_of(session, patient.mis_id)
        if owner in seen:
            continue
        seen.add(owner)
        account = ledger.find_account(session, *owner)
        points = account.balance if account is not None else 0
        if owner[0] == "family":
            names = [
                p.address_name
                for p in session.scalars(
                    select(Patient).where(
                        Patient.mis_id.in_(family_members(session, int(owner[1])))
                    )
                )
            ]
            lines.append(
                ctx.text(
                    "balance_family", sub, members=", ".join(names), balance=points, value=value
                )
            )
        else:
            lines.append(
                ctx.text("balance", sub, name=patient.address_name, balance=points, value=value)
            )
        if account is None:
            continue
        nearest = session.scalar(
            select(func.min(LoyaltyLot.expires_at)).where(
                LoyaltyLot.account_id == account.id,
                LoyaltyLot.is_open.is_(True),
                LoyaltyLot.expires_at.is_not(None),
            )
        )
        if nearest is not None and points:
            expiring = session.scalar(
                select(func.sum(LoyaltyLot.remaining)).where(
                    LoyaltyLot.account_id == account.id,
                    LoyaltyLot.is_open.is_(True),
                    LoyaltyLot.expires_at < nearest + timedelta(days=1),
                )
            )
            lines.append(
                ctx.text(
                    "balance_expiry",
                    sub,
                    points=int(expiring or 0),
                    date=day(nearest.astimezone(tz).date(), sub.language),
                )
            )
        if account.tier:
            lines.append(ctx.text("balance_tier", sub, tier=account.tier))
        lines.extend(history_lines(ctx, session, sub, account.id))
    if settings.enabled and settings.referrer_points:
        link = deep_link(config, payload_for(session, "patient", patients[0].mis_id))
        lines.append("")
        lines.append(
            ctx.text(
                "referral_invite",
                sub,
                link=link,
                points=settings.referrer_points,
                friend_points=settings.referred_points,
            )
        )
    return "\n".join(lines)


HISTORY_LIMIT = 10


def history_lines(ctx: BotContext, session: Session, sub: Subscriber, account_id: int) -> list[str]:
    """The account's latest ledger entries, newest first: date, points and what for."""
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.account_id == account_id, LedgerEntry.amount != 0)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    if not entries:
        return [ctx.text("bonus_history_none", sub)]
    tz = ctx.config.clinic.tz
    lines = [ctx.text("bonus_history", sub)]
    for entry in entries:
        what = f"ledger_{entry.kind}" if f"ledger_{entry.kind}" in CATALOGUE else "ledger_other"
        lines.append(
            ctx.text(
                "bonus_history_item",
                sub,
                date=day(entry.created_at.astimezone(tz).date(), sub.language),
                amount=f"{entry.amount:+d}",
                what=ctx.text(what, sub),
            )
        )
    return lines


def register(router: Router, ctx: BotContext) -> None:
    @router.command("balance")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_balance", e.text))
    def my_balance(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"balance:{event.chat.id}:{event.message_id}"
            text = balance_screen(ctx, session, sub)
            if text is None:
                ctx.need_link(session, sub, key)
                return
            ids = [p.mis_id for p in linked_patients(session, sub)]
            offers = bonus_screenshots.buttons(ctx, session, sub)
            ctx.reply(
                session, sub, key, text, mute_keyboard(ctx, sub, _muted(session, ids), offers)
            )

    @router.on(Press, when=lambda e: e.data in (MUTE, UNMUTE))
    def toggle_mute(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            # Only the presser's own linked patients change, so forged data changes nothing else.
            patients = linked_patients(session, sub)
            if not patients:
                notice = ctx.text("not_yours", sub)
            else:
                mute = event.data == MUTE
                now = utcnow()
                for patient in patients:
                    row = member_row(session, patient.mis_id, now)
                    row.muted, row.updated_at = mute, now
                notice = ctx.text("notices_muted" if mute else "notices_unmuted", sub)
                enqueue(
                    session,
                    key=f"mute:{event.chat.id}:{event.message_id}:{event.press_id}",
                    chat_id=event.chat.id,
                    channel=event.channel,
                    text=event.message_text,
                    kind="edit_markup",
                    priority=PRIORITY_REPLY,
                    reply_markup=mute_keyboard(
                        ctx, sub, mute, bonus_screenshots.buttons(ctx, session, sub)
                    ),
                    edit_message_id=event.message_id,
                    respect_quiet_hours=False,
                )
        ctx.answer(event, notice)
