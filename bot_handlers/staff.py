"""The staff group: Take / Done / Dismiss on each task message."""

from __future__ import annotations

from telebot import TeleBot, types

from bot_handlers.context import BotContext, answer_callback
from core.models import Task
from core.outbox import PRIORITY_STAFF, enqueue
from core.tasks import TaskStateError, staff_keyboard, transition


def register(bot: TeleBot, ctx: BotContext) -> None:
    @bot.callback_query_handler(func=lambda c: (c.data or "").startswith("t:"))
    def task_button(call: types.CallbackQuery) -> None:
        message = call.message
        staff_chat = ctx.config.telegram.staff_chat_id
        # Only presses inside the staff group count; a patient replaying the data gets nothing.
        if message is None or not staff_chat or message.chat.id != staff_chat:
            answer_callback(bot, call, ctx.text("not_yours"))
            return
        _, action, raw_id = (call.data or "").split(":", 2)
        who = (
            call.from_user.full_name
            if hasattr(call.from_user, "full_name")
            else call.from_user.first_name
        )
        notice = ""
        with ctx.session() as session:
            task = session.get(Task, int(raw_id)) if raw_id.isdigit() else None
            if task is None:
                notice = "?"
            else:
                try:
                    transition(session, task, action, who)
                except TaskStateError:
                    notice = ctx.text("already_answered")
                else:
                    status_key = {
                        "take": "task_taken",
                        "done": "task_done",
                        "dismiss": "task_dismissed",
                    }[action]
                    closed = task.state in ("done", "dismissed")
                    enqueue(
                        session,
                        key=f"task:{task.id}:{action}:{message.message_id}",
                        chat_id=message.chat.id,
                        text=f"#{task.id} {task.text}\n\n{ctx.text(status_key, None, who=who)}",
                        kind="edit_text",
                        priority=PRIORITY_STAFF,
                        reply_markup={"inline_keyboard": []}
                        if closed
                        else staff_keyboard(task, ctx.config.clinic.language),
                        edit_message_id=message.message_id,
                        respect_quiet_hours=False,
                    )
        answer_callback(bot, call, notice)
