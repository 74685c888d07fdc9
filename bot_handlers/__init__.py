"""The bot: patient flows written once against the channel layer (bot_handlers/channels/),
and the staff group's Telegram handlers.

Flows never send messages themselves: they change state and enqueue replies in the outbox,
then wake the dispatcher. Only answering a button press (which must come within seconds and
is not a message) goes to the messenger directly, after the update commits.
"""

from __future__ import annotations

from telebot import TeleBot

from bot_handlers import (
    bonus_screenshots,
    care,
    chat,
    commands,
    delivery,
    documents,
    family,
    friend,
    loyalty,
    messengers,
    my_visits,
    onboarding,
    phone_code,
    rating_comment,
    ratings,
    settings,
    staff,
    visits,
)
from bot_handlers.channels.router import Router
from bot_handlers.channels.telegram import TelegramChannel
from bot_handlers.context import BotContext

# Order matters: the first route that matches takes an event, and chat's catch-all (any
# text or file is a message to the clinic, an unknown command gets /help) comes last;
# ratings come before visits, whose reschedule buttons share their prefix.
FLOWS = (
    documents,  # a six-digit code while a document waits for one, before phone_code
    phone_code,
    family,  # a family invite is a /start with its own payload: before onboarding's
    onboarding,
    ratings,
    visits,
    my_visits,
    care,
    loyalty,
    bonus_screenshots,  # «Получить бонус за отзыв» and the image it asks for
    messengers,  # «Мессенджер для сообщений», reached from «Настройки»
    friend,
    settings,
    commands,
    rating_comment,
    delivery,
    chat,
)


def build_router(ctx: BotContext) -> Router:
    router = Router(ctx)
    for module in FLOWS:
        module.register(router, ctx)
    return router


def register_all(bot: TeleBot, ctx: BotContext) -> Router:
    """Wire Telegram: the staff group's raw handlers first (they must see their updates
    before the layer's catch-alls), then the adapter feeding the patient flows."""
    channel = TelegramChannel(bot)
    ctx.channels.setdefault(channel.name, channel)
    staff.register(bot, ctx)
    router = build_router(ctx)
    channel.attach(router.dispatch)
    return router
