"""«Мессенджер для сообщений»: a patient linked in Telegram and in MAX chooses which one the
clinic writes to (core.messengers.set_preferred_channel), or goes back to «where I wrote
last», the default. Reached by /messenger and from «Настройки».

Buttons carry the choice they make («msgr:max»), not a toggle, so a repeated or old press
changes nothing; the screen is edited in place to show the choice as it now is. The same
screen works from either messenger: a choice made in MAX for Telegram holds for both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot_handlers.channels.base import Command, Press
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core import messengers
from core.models import Subscriber
from core.outbox import PRIORITY_REPLY, enqueue, inline_keyboard
from core.patients.linking import linked_patients

PREFIX = "msgr"  # msgr (open the screen) | msgr:<telegram|max> | msgr:last
LAST = "last"


def screen(ctx: BotContext, session: Session, sub: Subscriber) -> tuple[str, dict[str, Any] | None]:
    """The screen's text and buttons as things are now."""
    found = messengers.choice(session, sub)
    channels = sorted({chat.channel for chat in found.chats})
    if len(channels) < 2:
        return ctx.text(
            "messenger_only_one", sub, channel=messengers.channel_name(sub.channel)
        ), None
    if found.current is None:
        current = "—"
    else:
        name = messengers.channel_name(found.current.channel)
        current = ctx.text(
            "messenger_current_chosen" if found.chosen else "messenger_current_last",
            sub,
            channel=name,
        )
    text = ctx.text(
        "messenger_screen",
        sub,
        channels=", ".join(messengers.channel_name(c) for c in channels),
        current=current,
    )
    rows = []
    for channel in channels:
        mark = "✅ " if found.chosen and found.current and found.current.channel == channel else ""
        label = ctx.text("messenger_choose", sub, channel=messengers.channel_name(channel))
        rows.append([(f"{mark}{label}", f"{PREFIX}:{channel}")])
    mark = "" if found.chosen else "✅ "
    rows.append([(f"{mark}{ctx.text('messenger_choose_last', sub)}", f"{PREFIX}:{LAST}")])
    return text, inline_keyboard(rows)


def choose(ctx: BotContext, session: Session, sub: Subscriber, wanted: str) -> str:
    """Carry out a press's choice; the line to answer it with."""
    if wanted == LAST:
        messengers.set_preferred_channel(session, sub, None)
        return ctx.text("messenger_chosen_last", sub)
    name = messengers.channel_name(wanted)
    try:
        messengers.set_preferred_channel(session, sub, wanted)
    except ValueError:
        return ctx.text("messenger_unavailable", sub, channel=name)
    return ctx.text("messenger_chosen", sub, channel=name)


def register(router: Router, ctx: BotContext) -> None:
    @router.command("messenger")
    @router.on(Press, when=lambda e: e.data == PREFIX)
    def messenger_screen(event: Command | Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            stem = f"messenger:{event.chat.id}:{event.message_id}"
            if isinstance(event, Press):
                stem += f":{event.press_id}"
            if not linked_patients(session, sub):
                ctx.need_link(session, sub, stem)
            else:
                text, keyboard = screen(ctx, session, sub)
                ctx.reply(session, sub, stem, text, keyboard)
        if isinstance(event, Press):
            ctx.answer(event)

    @router.on(Press, when=lambda e: e.data.startswith(f"{PREFIX}:"))
    def messenger_press(event: Press) -> None:
        wanted = event.data.split(":", 1)[1]
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            if wanted != LAST and wanted not in messengers.CHANNEL_NAMES:
                said = ctx.text("messenger_unknown", sub)
            elif not linked_patients(session, sub):
                said = ctx.text("need_link", sub)
            else:
                said = choose(ctx, session, sub, wanted)
                text, keyboard = screen(ctx, session, sub)
                enqueue(
                    session,
                    key=f"messenger-press:{event.chat.id}:{event.message_id}:{event.press_id}",
                    chat_id=event.chat.id,
                    channel=event.channel,
                    text=text,
                    kind="edit_text",
                    priority=PRIORITY_REPLY,
                    reply_markup=keyboard,
                    edit_message_id=event.message_id,
                    respect_quiet_hours=False,
                )
        ctx.answer(event, said)
