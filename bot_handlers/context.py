"""What every handler needs: configuration, the store, and a way to wake the dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telebot import TeleBot, types

from core import texts
from core.config import Config
from core.db import transaction
from core.models import Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients import get_or_create_subscriber
from core.texts import render

log = logging.getLogger(__name__)

# While the runner handles one stored update, every `ctx.session()` of its handlers joins
# this one transaction, which also marks the update handled: the handler's writes and the
# "handled" mark commit together, so a crash can never leave an update half-handled or
# handle it twice. Calls to Telegram made by handlers (answerCallbackQuery) wait in
# AFTER_COMMIT so no store lock is held across a network round trip.
AMBIENT_SESSION: ContextVar[Session | None] = ContextVar("ambient_session", default=None)
AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_commit", default=None)


@dataclass
class BotContext:
    config: Config
    factory: sessionmaker[Session]
    wake: Callable[[], None] = field(default=lambda: None)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; the dispatcher is woken after it commits, not before.

        Inside the runner's handling of a stored update this is that update's transaction
        (committed, and the dispatcher woken, by the runner).
        """
        ambient = AMBIENT_SESSION.get()
        if ambient is not None:
            yield ambient
            return
        with transaction(self.factory) as session:
            yield session
        self.wake()

    def subscriber(self, session: Session, message: types.Message) -> Subscriber:
        assert message.from_user is not None
        return self.subscriber_of(session, message.from_user, message.chat.id)

    def subscriber_of(self, session: Session, user: types.User, chat_id: int) -> Subscriber:
        return get_or_create_subscriber(
            session,
            user.id,
            chat_id,
            first_name=user.first_name or "",
            last_name=user.last_name or "",
            username=user.username or "",
            language=user.language_code or "ru",
        )

    def reply(
        self,
        session: Session,
        sub: Subscriber,
        key: str,
        text: str,
        reply_markup: dict[str, Any] | None = None,
    ) -> None:
        enqueue(
            session,
            key=key,
            chat_id=sub.chat_id,
            text=text,
            kind="reply",
            priority=PRIORITY_REPLY,
            reply_markup=reply_markup,
            respect_quiet_hours=False,
        )

    def text(self, key: str, sub: Subscriber | None = None, **fields: Any) -> str:
        lang = sub.language if sub is not None else self.config.clinic.language
        return render(key, lang, clinic=self.config.clinic.name, **fields)


def answer_callback(bot: TeleBot, call: types.CallbackQuery, text: str = "") -> None:
    """Stop the button's spinner; failing to do so must not undo what the press did."""
    pending = AFTER_COMMIT.get()
    if pending is not None:
        pending.append(lambda: _answer_now(bot, call, text))
        return
    _answer_now(bot, call, text)


def _answer_now(bot: TeleBot, call: types.CallbackQuery, text: str) -> None:
    try:
        bot.answer_callback_query(call.id, text=text or None)
    except Exception as exc:  # the press is already recorded; the spinner times out by itself
        log.warning("answerCallbackQuery failed: %s", exc)


def menu_keyboard(ctx: BotContext, sub: Subscriber) -> dict[str, Any]:
    return texts.menu_keyboard(sub.language)
