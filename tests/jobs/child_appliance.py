"""The runner in a process of its own, as `kabinet run` has it, for restart tests.

    python -m tests.jobs.child_appliance CONFIG.toml

Starts the Appliance without Telegram polling, prints "ready", and on SIGTERM stops it the
way app/serve.py does (graceful: the dispatcher stops claiming and finishes what is in
flight), then exits 0. A test may SIGKILL it instead.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from core.config import load
from jobs.runner import Appliance


def main(path: str) -> int:
    logging.basicConfig(level=logging.WARNING, format="child %(levelname)s %(name)s: %(message)s")
    config = load(path, environ={})
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    appliance = Appliance(config)
    appliance.start(poll_telegram=False)
    print("ready", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        appliance.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
