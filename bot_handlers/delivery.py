"""Unsubscribing from mailings, and the bot being blocked (ratings: bot_handlers/ratings.py)."""

from __future__ import annotations

from sqlalchemy import update

from bot_handlers.channels.base import Command, Membership, Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core import messengers
from core.campaigns import BOOK, UNSUBSCRIBE, opt_in, opt_out
from core.campaigns import booking as campaign_booking
from core.clock import utcnow
from core.models import Subscriber
from core.outbox import mark_unreachable


def register(router: Router, ctx: BotContext) -> None:
    @router.on(Press, when=lambda e: e.data == UNSUBSCRIBE)
    def unsubscribe_button(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            already = sub.marketing_opt_out_at is not None
            opt_out(session, sub, utcnow())
            if not already:
                ctx.reply(
                    session,
                    sub,
                    f"unsubscribed:{sub.id}:{event.message_id}",
                    ctx.text("unsubscribed", sub),
                )
        ctx.answer(event)

    @router.press(BOOK)
    def book_button(event: Press) -> None:
        # «Записаться» under a recall campaign: a booking episode in the patient's thread.
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            raw = event.data.split(":", 1)[1] if ":" in event.data else ""
            task = campaign_booking.open_booking(
                session, ctx.config, sub, int(raw) if raw.isdigit() else 0
            )
            if task is not None:
                ctx.reply(
                    session,
                    sub,
                    f"campaign-booking:{task.id}",
                    ctx.text("campaign_booking_received", sub),
                )
        ctx.answer(event)

    def _plus_after_recall(event: Text) -> bool:
        return campaign_booking.is_plus(event.text)

    @router.on(Text, when=_plus_after_recall)
    def plus_reply(event: Text) -> None:
        # «+» in answer to a recall opens its booking episode, and joins it as a line; any
        # other «+» is an ordinary message to the clinic.
        from bot_handlers.chat import to_task

        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            campaign_id = campaign_booking.recall_answered(session, sub, utcnow())
            task = (
                campaign_booking.open_booking(session, ctx.config, sub, campaign_id)
                if campaign_id is not None
                else None
            )
            to_task(ctx, session, sub, event)
            if task is not None:
                ctx.reply(
                    session,
                    sub,
                    f"campaign-booking:{task.id}",
                    ctx.text("campaign_booking_received", sub),
                )

    @router.command("stop", "unsubscribe")
    def stop_command(event: Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            opt_out(session, sub, utcnow())
            ctx.reply(
                session,
                sub,
                f"unsubscribed:{sub.id}:{event.message_id}",
                ctx.text("unsubscribed", sub),
            )

    @router.command("subscribe")
    def subscribe_command(event: Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            opt_in(session, sub)
            ctx.reply(
                session,
                sub,
                f"subscribed:{sub.id}:{event.message_id}",
                ctx.text("subscribed", sub),
            )

    @router.on(Membership)
    def blocked_or_back(event: Membership) -> None:
        # The messenger tells us when a patient blocks the bot: stop queueing for them now
        # rather than learning it from a 403. Writing to the bot again lifts it
        # (core.patients.linking.get_or_create_subscriber).
        with ctx.session() as session:
            if event.blocked:
                # What was queued for this chat goes by the person's other messenger, if
                # they have one, and the thread says so (core.messengers).
                messengers.reroute_blocked(
                    session,
                    channel=event.channel,
                    chat_id=event.chat.id,
                    failed_id=0,
                    reason="blocked the bot",
                    lang=ctx.config.clinic.language,
                )
                mark_unreachable(
                    session, event.chat.id, "blocked the bot", utcnow(), channel=event.channel
                )
            else:
                session.execute(
                    update(Subscriber)
                    .where(Subscriber.channel == event.channel, Subscriber.chat_id == event.chat.id)
                    .values(unreachable_at=None, unreachable_reason="")
                )
