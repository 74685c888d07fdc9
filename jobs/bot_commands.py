"""The runner's bot_commands job: the «/» menu each messenger shows, kept equal to the
descriptions in force (their built-in texts, or the owner's from «Настройки → Тексты
сообщений → Команды бота»).

The menu is handed to a messenger at start and again after it changes (an owner's edit,
the clinic's language), never re-sent unchanged: what each channel last accepted is kept
as a fingerprint, so a messenger that refused or could not be reached is simply tried at
the next run. A failure is logged (redacted) and leaves the messenger's previous menu in
place, which Telegram and MAX both keep.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot_handlers.channels.base import Channel
from bot_handlers.commands import command_menu
from core.config import Config, redact
from core.settings.store import effective

if TYPE_CHECKING:
    from jobs.runner import Appliance

log = logging.getLogger(__name__)


class CommandMenus:
    """What menu each channel last accepted; one per appliance."""

    def __init__(self) -> None:
        self._accepted: dict[str, str] = {}
        self._refused: dict[str, str] = {}
        # The job and a start can overlap: one sends, the other then finds it accepted.
        self._lock = threading.Lock()

    def refresh(self, channels: Mapping[str, Channel], config: Config) -> list[str]:
        """Send the menu in force to every channel that has not accepted it yet; returns
        the names of those that accepted it now."""
        menu = command_menu()
        language = config.clinic.language
        fingerprint = json.dumps([menu, language], ensure_ascii=False, sort_keys=True)
        sent: list[str] = []
        with self._lock:
            for name, channel in channels.items():
                if self._accepted.get(name) == fingerprint:
                    continue
                try:
                    channel.set_commands(menu, language)
                except Exception as exc:  # noqa: BLE001 -- a messenger's answer must not stop the job
                    # Warned once per menu and channel, then tried quietly every run.
                    level = (
                        logging.DEBUG if self._refused.get(name) == fingerprint else logging.WARNING
                    )
                    self._refused[name] = fingerprint
                    log.log(
                        level,
                        "the %s command menu was not set (tried again later): %s",
                        name,
                        redact(str(exc), config),
                    )
                    continue
                self._accepted[name] = fingerprint
                self._refused.pop(name, None)
                sent.append(name)
        if sent:
            log.info("command menu set in %s", ", ".join(sent))
        return sent


def refresh(appliance: Appliance) -> int:
    """The table's job: the descriptions and language in force, to the channels in use."""
    with appliance.factory() as session:
        config = effective(session, appliance.config)  # publishes the owner's texts too
    channels = {
        name: channel
        for name, channel in appliance.ctx.channels.items()
        if name != "telegram" or config.telegram.mode != "off"
    }
    return len(appliance.command_menus.refresh(channels, config))
