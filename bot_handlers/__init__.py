"""Telegram handlers, one module per conversation area, each with ``register(bot, ctx)``.

Handlers never send messages themselves: they change state and enqueue replies in the
outbox, then wake the dispatcher. Only answerCallbackQuery (which must come within
seconds and is not a message) is called directly.
"""

from __future__ import annotations

from telebot import TeleBot

from bot_handlers import care, chat, delivery, loyalty, onboarding, staff, visits
from bot_handlers.context import BotContext

# Order matters: pyTelegramBotAPI tries handlers in registration order, and chat's
# catch-all text handler must come last.
MODULES = (onboarding, visits, care, loyalty, staff, delivery, chat)


def register_all(bot: TeleBot, ctx: BotContext) -> None:
    for module in MODULES:
        module.register(bot, ctx)
