"""«⚙️ Настройки»: which notices this chat gets, the language, mailings on or off — all as
buttons on one message, edited in place after each press.

A button carries the state it sets («care off», not «toggle care»), so an old or repeated
press changes nothing and the message simply shows the settings as they are now. The
keyboard is built in `settings_rows` alone: another screen's row (the messenger choice)
is added there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Press, Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext, contact_keyboard, menu_keyboard
from core import campaigns
from core.clock import utcnow
from core.models import Subscriber
from core.outbox import PRIORITY_REPLY, enqueue, inline_keyboard
from core.patients.linking import linked_patients
from core.patients.notice_prefs import OPTIONAL, toggle, turned_off
from core.texts import menu_labels

PREFIX = "st"  # st:n:<kind>:<1 on | 0 off> | st:l:<ru|en> | st:m:<1 on | 0 off>
LANGUAGES = ("ru", "en")


def settings_rows(ctx: BotContext, sub: Subscriber) -> list[list[tuple[str, str]]]:
    """The settings keyboard, row by row: one place, so a row can be added."""
    off = turned_off(sub)
    rows: list[list[tuple[str, str]]] = []
    for kind in OPTIONAL:
        on = kind not in off
        label = f"{'✅' if on else '🔕'} {ctx.text(f'notice_{kind}', sub)}"
        rows.append([(label, f"{PREFIX}:n:{kind}:{0 if on else 1}")])
    other = "en" if sub.language == "ru" else "ru"
    mailings = sub.marketing_opt_out_at is None
    rows.append(
        [
            (ctx.text("btn_language_other", sub), f"{PREFIX}:l:{other}"),
            (
                ctx.text("btn_mailings_off" if mailings else "btn_mailings_on", sub),
                f"{PREFIX}:m:{0 if mailings else 1}",
            ),
        ]
    )
    # Which messenger the clinic writes to, for a patient in Telegram and MAX (bot_handlers/
    # messengers.py opens its own screen on "msgr").
    rows.append([(ctx.text("settings_messenger_button", sub), "msgr")])
    return rows


def settings_text(ctx: BotContext, sub: Subscriber) -> str:
    off = turned_off(sub)
    kinds = "\n".join(
        ctx.text(
            "settings_kind",
            sub,
            mark="✅" if kind not in off else "🔕",
            label=ctx.text(f"notice_{kind}", sub),
        )
        for kind in OPTIONAL
    )
    mailings = (
        "settings_mailings_on" if sub.marketing_opt_out_at is None else "settings_mailings_off"
    )
    return ctx.text("settings_screen", sub, mailings=ctx.text(mailings, sub), kinds=kinds)


def settings_keyboard(ctx: BotContext, sub: Subscriber) -> dict[str, Any]:
    return inline_keyboard(settings_rows(ctx, sub))


def apply(session: Session, sub: Subscriber, data: str) -> bool | None:
    """Carry out a press; True if something changed, False if it was so already, None if
    the data means nothing (forged)."""
    parts = data.split(":")
    if len(parts) == 4 and parts[1] == "n" and parts[2] in OPTIONAL and parts[3] in ("0", "1"):
        want_on = parts[3] == "1"
        if (parts[2] not in turned_off(sub)) == want_on:
            return False
        toggle(sub, parts[2])
        return True
    if len(parts) == 3 and parts[1] == "l" and parts[2] in LANGUAGES:
        if sub.language == parts[2]:
            return False
        sub.language = parts[2]
        return True
    if len(parts) == 3 and parts[1] == "m" and parts[2] in ("0", "1"):
        want_on = parts[2] == "1"
        if (sub.marketing_opt_out_at is None) == want_on:
            return False
        if want_on:
            campaigns.opt_in(session, sub)
        else:
            campaigns.opt_out(session, sub, utcnow())
        return True
    return None


def register(router: Router, ctx: BotContext) -> None:

    @router.command("settings")
    @router.on(Text, when=lambda e: menu_labels.is_label("menu_settings", e.text))
    def settings_screen(event: Text | Command) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            ctx.reply(
                session,
                sub,
                f"settings:{event.chat.id}:{event.message_id}",
                settings_text(ctx, sub),
                settings_keyboard(ctx, sub),
            )

    @router.press(PREFIX)
    def settings_press(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            before = sub.language
            changed = apply(session, sub, event.data)
            stem = f"settings-press:{event.chat.id}:{event.message_id}:{event.press_id}"
            # The message always shows the settings as they are now, whatever was pressed.
            enqueue(
                session,
                key=stem,
                chat_id=event.chat.id,
                channel=event.channel,
                text=settings_text(ctx, sub),
                kind="edit_text",
                priority=PRIORITY_REPLY,
                reply_markup=settings_keyboard(ctx, sub),
                edit_message_id=event.message_id,
                respect_quiet_hours=False,
            )
            if sub.language != before:
                # The menu's labels are what the patient presses: they come in the new language.
                keyboard = (
                    menu_keyboard(ctx, sub)
                    if linked_patients(session, sub)
                    else contact_keyboard(ctx, sub)
                )
                ctx.reply(session, sub, f"{stem}:menu", ctx.text("language_set", sub), keyboard)
            notice = ctx.text("settings_saved" if changed else "settings_unchanged", sub)
        ctx.answer(event, notice)
