"""The staff group: Take / Done / Dismiss on each episode's post, answering the patient by
replying to it, and `/link CODE` to tie a Telegram account to a panel user.

Only linked staff change anything: a press or a reply from anyone else is answered with how
to link, and nothing else happens. A button counts only on its own task's post in the
staff group; a forged or stale one changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session
from telebot import TeleBot, types

from bot_handlers.context import AFTER_COMMIT, BotContext
from core.clock import utcnow
from core.conversations import staff_group, staff_links
from core.conversations.threads import ReplyError, reply
from core.models import Task
from core.outbox import PRIORITY_REPLY, PRIORITY_STAFF, enqueue
from core.tasks import TaskStateError, transition

log = logging.getLogger(__name__)

ACTIONS = ("take", "done", "dismiss")


def answer_callback(bot: TeleBot, call: types.CallbackQuery, text: str = "") -> None:
    """Stop the button's spinner (with a short note) once the update's transaction has
    committed; failing to do so must not undo what the press did."""

    def answer() -> None:
        try:
            bot.answer_callback_query(call.id, text=text[:200] or None)
        except Exception as exc:  # the press is recorded; the spinner times out by itself
            log.warning("answerCallbackQuery failed: %s", exc)

    pending = AFTER_COMMIT.get()
    if pending is not None:
        pending.append(answer)
    else:
        answer()


def _tg_name(user: types.User) -> str:
    return " ".join(filter(None, [user.first_name, user.last_name])) or str(user.id)


def _tell(ctx: BotContext, session: Session, chat_id: int, key: str, text: str) -> None:
    """A word to staff in the chat they wrote in (the group, or their private chat)."""
    group = chat_id == ctx.config.telegram.staff_chat_id
    enqueue(
        session,
        key=key,
        chat_id=chat_id,
        text=text,
        kind="task" if group else "reply",
        priority=PRIORITY_STAFF if group else PRIORITY_REPLY,
        respect_quiet_hours=False,
    )


def _refusal(ctx: BotContext, task: Task) -> str:
    if task.state == "taken":
        return ctx.text("task_taken_by_other", None, who=task.taken_by)
    return ctx.text("task_closed_by", None, who=task.taken_by or "—")


def register(bot: TeleBot, ctx: BotContext) -> None:
    def in_staff_group(message: types.Message | None) -> bool:
        staff_chat = ctx.config.telegram.staff_chat_id
        return message is not None and bool(staff_chat) and message.chat.id == staff_chat

    @bot.message_handler(commands=["link"], chat_types=["private", "group", "supergroup"])
    def link(message: types.Message) -> None:
        if message.chat.type != "private" and not in_staff_group(message):
            return  # some other group the bot was added to
        assert message.from_user is not None
        code = (message.text or "").partition(" ")[2].strip()
        key = f"staff-link:{message.chat.id}:{message.message_id}"
        with ctx.session() as session:
            if not code:
                _tell(ctx, session, message.chat.id, key, ctx.text("staff_link_usage"))
                return
            user = staff_links.redeem(
                session, code, message.from_user.id, _tg_name(message.from_user), utcnow()
            )
            text = (
                ctx.text("staff_link_done", None, name=staff_links.display_name(user))
                if user is not None
                else ctx.text("staff_link_bad")
            )
            _tell(ctx, session, message.chat.id, key, text)

    @bot.callback_query_handler(func=lambda c: (c.data or "").startswith("t:"))
    def task_button(call: types.CallbackQuery) -> None:
        message = call.message if isinstance(call.message, types.Message) else None
        parts = (call.data or "").split(":")
        stale = ctx.text("staff_button_stale")
        # Only presses on a task's own post inside the staff group count.
        if not in_staff_group(message) or len(parts) != 3 or parts[1] not in ACTIONS:
            answer_callback(bot, call, stale)
            return
        assert message is not None
        _, action, raw_id = parts
        notice = ""
        with ctx.session() as session:
            staff = staff_links.staff_for(session, call.from_user.id)
            task = staff_group.task_for_message(session, message.chat.id, message.message_id)
            if staff is None:
                notice = ctx.text("staff_not_linked", None, name=_tg_name(call.from_user))
            elif task is None or str(task.id) != raw_id:
                notice = stale
            else:
                try:
                    transition(session, task, action, staff_links.display_name(staff))
                except TaskStateError:
                    notice = _refusal(ctx, task)
                staff_group.refresh(session, ctx.config, task, urgent=True)
        answer_callback(bot, call, notice)

    @bot.message_handler(
        chat_types=["group", "supergroup"],
        func=lambda m: in_staff_group(m) and m.reply_to_message is not None,
        content_types=["text", "photo", "document", "voice", "video", "sticker", "audio"],
    )
    def reply_in_group(message: types.Message) -> None:
        assert message.from_user is not None and message.reply_to_message is not None
        key = f"staff-said:{message.chat.id}:{message.message_id}"
        name = _tg_name(message.from_user)
        with ctx.session() as session:
            task = staff_group.task_for_message(
                session, message.chat.id, message.reply_to_message.message_id
            )
            if task is None:
                return  # a reply to something else the bot said: not for a patient
            staff = staff_links.staff_for(session, message.from_user.id)
            if staff is None:
                text = ctx.text("staff_not_linked", None, name=name)
                _tell(ctx, session, message.chat.id, key, text)
                return
            author = staff_links.display_name(staff)
            if message.content_type != "text":
                text = ctx.text("staff_reply_text_only", None, who=author)
                _tell(ctx, session, message.chat.id, key, text)
                return
            try:
                reply(
                    session,
                    task,
                    message.text or "",
                    author=author,
                    author_user_id=staff.id,
                    config=ctx.config,
                )
            except ReplyError as err:
                text = ctx.text("staff_reply_refused", None, who=author, id=task.id, reason=err)
                _tell(ctx, session, message.chat.id, key, text)
                staff_group.refresh(session, ctx.config, task, urgent=True)
