"""«🤝 Пригласить друга»: the patient's personal referral link (core.loyalty.referrals), its
QR code as an image, a share button, and how many friends came by it and what it earned.

The QR code is drawn in memory when the message leaves (core.patients.referral_qr) and goes through
the channel's send_file as a photo, in Telegram and MAX alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.loyalty.referrals import payload_for
from core.loyalty.settings import effective
from core.models import LedgerEntry, Patient, Referral, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients.family import start_link
from core.patients.linking import linked_patients
from core.patients.referral_qr import qr_key
from core.texts import menu_labels


def friend_stats(session: Session, patient: Patient) -> tuple[int, int, int]:
    """(friends who came by the link, of them rewarded, points the patient got for them)."""
    referrals = session.scalars(
        select(Referral).where(
            Referral.referrer_kind == "patient", Referral.referrer_id == patient.mis_id
        )
    ).all()
    causes = [f"referral:{r.id}:referrer" for r in referrals]
    earned = (
        session.scalar(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.cause.in_(causes)))
        if causes
        else 0
    )
    paid = sum(1 for r in referrals if r.state == "rewarded")
    return len(referrals), paid, int(earned or 0)


def share_keyboard(ctx: BotContext, sub: Subscriber, link: str) -> dict[str, Any] | None:
    """Telegram's share sheet for the link; none where there is no web link to share (no
    bot username configured) or no share sheet (MAX: the message itself is forwarded)."""
    if sub.channel != "telegram" or not link.startswith("https://"):
        return None
    words = ctx.text("friend_share_text", sub)
    url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(words, safe='')}"
    return {"inline_keyboard": [[{"text": ctx.text("btn_share", sub), "url": url}]]}


def register(router: Router, ctx: BotContext) -> None:

    @router.command("friend", "invite")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_friend", e.text))
    def friend_screen(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"friend:{event.chat.id}:{event.message_id}"
            patients = linked_patients(session, sub)
            if not patients:
                ctx.need_link(session, sub, key)
                return
            # The chat's own patient (the oldest on its number, the one greeted) invites.
            owner = patients[0]
            payload = payload_for(session, "patient", owner.mis_id)
            link = start_link(ctx.config, sub.channel, payload)
            settings = effective(session, ctx.config)
            reward = ""
            if settings.enabled and settings.referrer_points:
                reward = ctx.text(
                    "friend_reward",
                    sub,
                    points=settings.referrer_points,
                    friend_points=settings.referred_points,
                )
            came, paid, earned = friend_stats(session, owner)
            text = ctx.text(
                "friend_screen", sub, link=link, reward=reward, came=came, paid=paid, earned=earned
            )
            ctx.reply(session, sub, key, text, share_keyboard(ctx, sub, link))
            enqueue(
                session,
                key=qr_key(payload, event.chat.id, event.message_id),
                chat_id=sub.chat_id,
                channel=sub.channel,
                text=ctx.text("friend_qr", sub),
                kind="file",
                priority=PRIORITY_REPLY,
                respect_quiet_hours=False,
                patient_mis_id=owner.mis_id,
            )
