"""The optional comment after a score: the patient's next message within the hour.

Registered after the visit flows, so a message they are waiting for (a reschedule's
preferred days in the patient's own words) is theirs, and before the chat's catch-all.
"""

from __future__ import annotations

from bot_handlers.channels.base import Text
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.ratings import followup
from core.texts import menu_labels


def register(router: Router, ctx: BotContext) -> None:
    def awaits_comment(event: Text) -> bool:
        if menu_labels.is_menu(event.text) or event.text.startswith("/"):
            return False
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            return followup.awaiting_comment(session, sub, utcnow()) is not None

    @router.on(Text, when=awaits_comment)
    def comment(event: Text) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            rating = followup.awaiting_comment(session, sub, utcnow())
            if rating is None:  # cannot happen within one update; be safe
                return
            followup.record_comment(session, ctx.config, rating, event.text)
            ctx.reply(
                session,
                sub,
                f"rating-comment:{rating.id}",
                ctx.text("rating_comment_thanks", sub),
            )
