"""/help, /language, and the command menu the messenger shows.

The screens themselves live with their flows (visits, loyalty, family, friend, settings);
an unknown command gets /help (chat.py). /language switches the subscriber between the
catalogue's languages (core/texts/) and sends the menu again in the new one, since its
labels are what the patient presses.
"""

from __future__ import annotations

from bot_handlers.channels.base import Command
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext, contact_keyboard, menu_keyboard
from core.patients.linking import linked_patients
from core.texts import render

LANGUAGES = ("ru", "en")
# The menu shown by the messenger's «/» button, in this order.
MENU = (
    "start",
    "visits",
    "balance",
    "family",
    "friend",
    "care",
    "documents",
    "settings",
    "language",
    "help",
)


def command_menu() -> dict[str, list[tuple[str, str]]]:
    """{"ru": [("start", "Начать и узнать меня"), ...], "en": [...]} for set_commands."""
    return {lang: [(name, render(f"cmd_{name}", lang)) for name in MENU] for lang in LANGUAGES}


def register(router: Router, ctx: BotContext) -> None:
    @router.command("help")
    def help_command(event: Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"help:{event.chat.id}:{event.message_id}"
            ctx.reply(session, sub, key, ctx.text("help", sub))

    @router.command("language")
    def language_command(event: Command) -> None:
        """``/language`` toggles; ``/language en`` (or ru) chooses."""
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            wanted = event.args.strip().lower()[:2]
            if wanted not in LANGUAGES:
                wanted = "en" if sub.language == "ru" else "ru"
            sub.language = wanted
            keyboard = (
                menu_keyboard(ctx, sub)
                if linked_patients(session, sub)
                else contact_keyboard(ctx, sub)
            )
            ctx.reply(
                session,
                sub,
                f"language:{event.chat.id}:{event.message_id}",
                ctx.text("language_set", sub),
                keyboard,
            )
