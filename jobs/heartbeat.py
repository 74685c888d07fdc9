"""The runner's heartbeat: one small row, rewritten every ten seconds.

/healthz is answered by the web workers, which cannot see the runner's threads: the row
says the runner lived a moment ago, with its pid, and when Telegram last answered its long
poll. A runner killed with -9 stops writing it, and /healthz fails within a minute.
"""

from __future__ import annotations

import os
import socket
import weakref
from datetime import datetime
from typing import TYPE_CHECKING

from core import __version__
from core.health import record_heartbeat

if TYPE_CHECKING:
    from jobs.runner import Appliance

_started: weakref.WeakKeyDictionary[Appliance, datetime] = weakref.WeakKeyDictionary()


def beat(appliance: Appliance) -> None:
    now = appliance.clock()
    started = _started.setdefault(appliance, now)
    last_poll = appliance.poller.last_ok
    record_heartbeat(
        appliance.factory,
        {
            "at": now.isoformat(),
            "started_at": started.isoformat(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "version": __version__,
            "telegram_mode": appliance.config.telegram.mode,
            "telegram_last_poll": last_poll.isoformat() if last_poll else None,
        },
    )
