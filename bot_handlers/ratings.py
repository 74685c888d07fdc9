"""Ratings after visits: the score, «Без комментария», «Обсудить с руководством» (the
comment itself: bot_handlers/rating_comment.py)."""

from __future__ import annotations

import re

from bot_handlers.channels.base import Press
from bot_handlers.channels.router import Router
from bot_handlers.context import BotContext
from core.clock import utcnow
from core.outbox import PRIORITY_REPLY, enqueue
from core.ratings import followup
from core.ratings.survey import RATING_PREFIX, record_rating

_SCORE = re.compile(rf"^{RATING_PREFIX}:\d+:\d+$")


def register(router: Router, ctx: BotContext) -> None:
    # Exactly rt:<rating>:<score>: the reschedule flow's rt:<visit>:<days>:<part> shares
    # the prefix, so the shape tells them apart (this module is registered before visits).
    @router.on(Press, when=lambda e: bool(_SCORE.match(e.data)))
    def rating(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            answer = record_rating(
                session,
                ctx.config,
                sub,
                event.data,
                chat_id=event.chat.id,
                message_id=event.message_id,
                now=utcnow(),
                current_markup=dict(event.keyboard) if event.keyboard is not None else None,
            )
        ctx.answer(event, answer.notice)

    def drop_button(event: Press, prefix: str) -> None:
        """Take the pressed follow-up button off its message; the other one stays."""
        rows = (event.keyboard or {}).get("inline_keyboard") or []
        kept = [
            row
            for row in rows
            if not any(str(b.get("callback_data", "")).startswith(prefix + ":") for b in row)
        ]
        with ctx.session() as session:
            enqueue(
                session,
                key=f"rating-followup-unbutton:{event.chat.id}:{event.message_id}:{prefix}",
                chat_id=event.chat.id,
                channel=event.channel,
                text="",
                kind="edit_markup",
                priority=PRIORITY_REPLY,
                reply_markup={"inline_keyboard": kept},
                edit_message_id=event.message_id,
                respect_quiet_hours=False,
            )

    @router.press(followup.COMMENT_PREFIX)
    def no_comment(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            rating = followup.own_rating(session, sub, event.data)
            if rating is None:
                ctx.answer(event, ctx.text("not_yours", sub))
                return
            if rating.comment_state != "asked":
                ctx.answer(event, ctx.text("already_answered", sub))
                return
            rating.comment_state = "skipped"
            notice = ctx.text("rating_comment_skipped", sub)
        drop_button(event, followup.COMMENT_PREFIX)
        ctx.answer(event, notice)

    @router.press(followup.MANAGER_PREFIX)
    def discuss(event: Press) -> None:
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            rating = followup.own_rating(session, sub, event.data)
            if rating is None or not rating.task_id:  # only a low score offers it
                ctx.answer(event, ctx.text("not_yours", sub))
                return
            followup.open_manager_episode(session, ctx.config, sub, rating)
            ctx.reply(
                session,
                sub,
                f"manager-opened:{rating.id}",
                ctx.text("manager_discussion_opened", sub),
            )
        drop_button(event, followup.MANAGER_PREFIX)
        ctx.answer(event)
