"""Events from any messenger to the patient flows.

Each flow module registers its handlers with ``register(router, ctx)``; the first route
whose event type and condition match handles the event, so registration order matters
(bot_handlers/__init__.py: the chat's catch-all comes last). Routes are for private chats
unless they say otherwise: nothing a patient flow does is meant for a group.

A press is first checked against the outbox (bot_handlers.channels.buttons): a button that
was never on that message in that chat does nothing but explain, whoever pressed it and
wherever. A press nobody handles is answered too, so no spinner is left turning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot_handlers.channels import buttons
from bot_handlers.channels.base import Command, Event, Press
from bot_handlers.context import BotContext, language_of
from core.texts import render

H = TypeVar("H", bound=Callable[[Any], None])


@dataclass(frozen=True)
class Route:
    kinds: tuple[type[Event], ...]
    when: Callable[[Any], bool]
    handler: Callable[[Any], None]
    private: bool


class Router:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.routes: list[Route] = []

    def on(
        self,
        *kinds: type[Event],
        when: Callable[[Any], bool] | None = None,
        private: bool = True,
    ) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.routes.append(Route(kinds, when or (lambda _: True), handler, private))
            return handler

        return register

    def command(self, *names: str) -> Callable[[H], H]:
        wanted = frozenset(names)
        return self.on(Command, when=lambda e: e.name in wanted)

    def press(self, *prefixes: str) -> Callable[[H], H]:
        """Presses whose data is one of `prefixes` or starts with ``prefix:``."""
        wanted = frozenset(prefixes)
        return self.on(Press, when=lambda e: e.data.split(":", 1)[0] in wanted)

    def dispatch(self, event: Event) -> bool:
        """Hand the event to its route; True if one took it (or it was refused)."""
        if isinstance(event, Press) and not self._bound(event):
            self.ctx.answer(event, self._not_yours(event))
            return True
        for route in self.routes:
            if route.private and not event.chat.private:
                continue
            if isinstance(event, route.kinds) and route.when(event):
                route.handler(event)
                return True
        if isinstance(event, Press):
            self.ctx.answer(event, self._not_yours(event))
        return False

    def _bound(self, press: Press) -> bool:
        with self.ctx.session() as session:
            return buttons.offered(
                session, press.channel, press.chat.id, press.message_id, press.data
            )

    def _not_yours(self, press: Press) -> str:
        # No subscriber is looked up or made for a stranger's press: the messenger's own
        # language hint is enough for one line.
        return render("not_yours", language_of(press.user.language))
