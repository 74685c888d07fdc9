"""Ratings after visits, unsubscribing from mailings, and the bot being blocked."""

from __future__ import annotations

from sqlalchemy import update
from telebot import TeleBot, types

from bot_handlers.context import BotContext, answer_callback
from core.campaigns import UNSUBSCRIBE, opt_in, opt_out
from core.clock import utcnow
from core.models import Subscriber
from core.outbox import mark_unreachable
from core.ratings import RATING_PREFIX, record_rating


def register(bot: TeleBot, ctx: BotContext) -> None:
    @bot.callback_query_handler(func=lambda c: (c.data or "").startswith(RATING_PREFIX + ":"))
    def rating(call: types.CallbackQuery) -> None:
        message = call.message
        notice = ""
        if message is None or message.chat.type != "private":
            answer_callback(bot, call, ctx.text("not_yours"))
            return
        with ctx.session() as session:
            sub = ctx.subscriber_of(session, call.from_user, message.chat.id)
            answer = record_rating(
                session,
                ctx.config,
                sub,
                call.data or "",
                chat_id=message.chat.id,
                message_id=message.message_id,
                now=utcnow(),
                current_markup=message.reply_markup.to_dict() if message.reply_markup else None,
            )
            notice = answer.notice
        answer_callback(bot, call, notice)

    @bot.callback_query_handler(func=lambda c: c.data == UNSUBSCRIBE)
    def unsubscribe_button(call: types.CallbackQuery) -> None:
        message = call.message
        if message is None or message.chat.type != "private":
            answer_callback(bot, call, ctx.text("not_yours"))
            return
        with ctx.session() as session:
            sub = ctx.subscriber_of(session, call.from_user, message.chat.id)
            already = sub.marketing_opt_out_at is not None
            opt_out(session, sub, utcnow())
            if not already:
                ctx.reply(
                    session,
                    sub,
                    f"unsubscribed:{sub.id}:{message.message_id}",
                    ctx.text("unsubscribed", sub),
                )
        answer_callback(bot, call)

    @bot.message_handler(commands=["stop", "unsubscribe"], chat_types=["private"])
    def stop_command(message: types.Message) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            opt_out(session, sub, utcnow())
            ctx.reply(
                session,
                sub,
                f"unsubscribed:{sub.id}:{message.message_id}",
                ctx.text("unsubscribed", sub),
            )

    @bot.message_handler(commands=["subscribe"], chat_types=["private"])
    def subscribe_command(message: types.Message) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, message)
            opt_in(session, sub)
            ctx.reply(
                session,
                sub,
                f"subscribed:{sub.id}:{message.message_id}",
                ctx.text("subscribed", sub),
            )

    @bot.my_chat_member_handler()
    def blocked_or_back(member: types.ChatMemberUpdated) -> None:
        # Telegram tells us when a patient blocks the bot: stop queueing for them now
        # rather than learning it from a 403. Writing to the bot again lifts it
        # (core.patients.get_or_create_subscriber).
        if member.chat.type != "private":
            return
        status = member.new_chat_member.status
        with ctx.session() as session:
            if status == "kicked":
                mark_unreachable(session, member.chat.id, "blocked the bot", utcnow())
            elif status == "member":
                session.execute(
                    update(Subscriber)
                    .where(Subscriber.chat_id == member.chat.id)
                    .values(unreachable_at=None, unreachable_reason="")
                )
