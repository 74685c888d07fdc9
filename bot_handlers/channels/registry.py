"""Messenger name -> adapter module, imported lazily so one messenger's library missing
breaks only that messenger (as connectors/registry.py does for MIS drivers).

An adapter module provides ``open_channel(config) -> base.Channel`` and the inbound side
its base.py docstring lists. The name is what the outbox's ``channel`` column holds.
"""

from __future__ import annotations

import importlib

from bot_handlers.channels.base import Channel
from core.config import Config

ADAPTERS: dict[str, str] = {
    "telegram": "bot_handlers.channels.telegram",
    "max": "bot_handlers.channels.max",
}


class UnknownChannel(ValueError):
    pass


def open_channel(name: str, config: Config) -> Channel:
    try:
        module_name = ADAPTERS[name]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise UnknownChannel(f"no messenger adapter named {name!r} (known: {known})") from None
    module = importlib.import_module(module_name)
    channel: Channel = module.open_channel(config)
    return channel
