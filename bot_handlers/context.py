"""What every flow needs: configuration, the store, the live channels, and a way to wake the
dispatcher. Written against the channel layer (bot_handlers.channels.base): no messenger's
types here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot_handlers.channels.base import Channel, Event, Press
from core import texts
from core.config import Config
from core.db import transaction
from core.models import Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients.linking import get_or_create_subscriber
from core.texts import render

log = logging.getLogger(__name__)

# While the runner handles one stored update, every `ctx.session()` of its handlers joins
# this one transaction, which also marks the update handled: the handler's writes and the
# "handled" mark commit together, so a crash can never leave an update half-handled or
# handle it twice. Calls to the messenger made by handlers (answering a press) wait in
# AFTER_COMMIT so no store lock is held across a network round trip.
AMBIENT_SESSION: ContextVar[Session | None] = ContextVar("ambient_session", default=None)
AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_commit", default=None)


def language_of(hint: str) -> str:
    """The catalogue's language for a messenger's language tag ("en-GB" -> "en")."""
    return "en" if (hint or "").lower().startswith("en") else "ru"


@dataclass
class BotContext:
    config: Config
    factory: sessionmaker[Session]
    wake: Callable[[], None] = field(default=lambda: None)
    # Messenger name -> its adapter, for what cannot wait for the outbox (answering a press,
    # fetching a file a patient sent).
    channels: dict[str, Channel] = field(default_factory=dict)

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

    def subscriber(self, session: Session, event: Event) -> Subscriber:
        """The person behind an event in a private chat (created on first contact)."""
        user = event.user
        return get_or_create_subscriber(
            session,
            user.id,
            event.chat.id,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            language=language_of(user.language),
            channel=event.channel,
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
            channel=sub.channel,
        )

    def text(self, key: str, sub: Subscriber | None = None, **fields: Any) -> str:
        lang = sub.language if sub is not None else self.config.clinic.language
        return render(key, lang, clinic=self.config.clinic.name, **fields)

    def need_link(self, session: Session, sub: Subscriber, key: str) -> None:
        """«Press Share my number first», with the button to press."""
        self.reply(session, sub, key, self.text("need_link", sub), contact_keyboard(self, sub))

    def answer(self, press: Press, text: str = "") -> None:
        """Stop the pressed button's spinner (after the update commits); failing to must not
        undo what the press did."""
        channel = self.channels.get(press.channel)
        if channel is None:
            log.warning("no live %s channel to answer a press on", press.channel)
            return

        def answer_now() -> None:
            try:
                channel.answer_press(press.press_id, text)
            except Exception as exc:  # the press is recorded; the spinner times out by itself
                log.warning("answering a %s press failed: %s", press.channel, exc)

        pending = AFTER_COMMIT.get()
        if pending is not None:
            pending.append(answer_now)
        else:
            answer_now()


def menu_keyboard(ctx: BotContext, sub: Subscriber) -> dict[str, Any]:
    return texts.menu_keyboard(sub.language)


def contact_keyboard(ctx: BotContext, sub: Subscriber) -> dict[str, Any]:
    return {
        "keyboard": [[{"text": ctx.text("share_contact_button", sub), "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
