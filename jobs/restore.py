"""`kabinet restore` under the runner lock: never while Kabinet runs.

A restore under a running runner would be overwritten by its next write, or leave a store
that matches no backup. So the restore takes the runner's own lock (jobs/lock.py) for as
long as it works (the file lock beside a SQLite store, the advisory lock in a PostgreSQL
one): while the service runs it is refused, or, when asked to, the runner is
stopped first (SIGTERM to the process that holds the lock, which stops its web workers
too) and the lock taken as soon as it lets go. A service that starts meanwhile waits for
the lock, so it can only ever see the old store or the restored one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from filelock import Timeout

from core.config import Config
from core.restore import RestoreReport, restore, verify
from jobs.lock import runner_lock


class RunnerRunning(RuntimeError):
    """The runner holds the lock; the message says who and what to do."""


def _pid(holder: str) -> int | None:
    """The runner's process id: "pid N" from the file lock; "kabinet-runner HOST pid N
    (PostgreSQL backend …)" from the advisory lock, usable only if HOST is this machine."""
    match = re.fullmatch(r"pid (\d+)", holder.strip())
    if match:
        return int(match.group(1))
    match = re.match(r"kabinet-runner (\S+) pid (\d+)\b", holder.strip())
    if match and match.group(1) == socket.gethostname()[: len(match.group(1))]:
        return int(match.group(2))
    return None


def restore_safely(
    config: Config,
    archive: Path,
    *,
    stop_runner: bool = False,
    with_config: bool = False,
    wait_seconds: float = 60,
    say: Callable[[str], None] = lambda line: None,
) -> tuple[RestoreReport, bool]:
    """Restore `archive`; returns the report and whether a running runner was stopped."""
    # Checked before anything is stopped: a damaged backup must not cost a running service.
    verify(config, archive)
    lock = runner_lock(config)
    stopped = False
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = lock.holder()
            if not stop_runner:
                raise RunnerRunning(
                    f"Kabinet is running ({holder}) and would overwrite the restored data: stop "
                    "the service first (systemctl stop kabinet), or pass --stop-runner"
                ) from None
            pid = _pid(holder)
            if pid is None or pid == os.getpid():
                raise RunnerRunning(
                    f"Kabinet is running ({holder}) and its process cannot be told apart: stop "
                    "the service (systemctl stop kabinet), then restore"
                ) from None
            say(f"stopping the running Kabinet (pid {pid})…")
            with contextlib.suppress(ProcessLookupError):  # it has just stopped by itself
                os.kill(pid, signal.SIGTERM)
            try:
                lock.acquire(timeout=wait_seconds)
            except Timeout:
                raise RunnerRunning(
                    f"Kabinet (pid {pid}) did not stop within {wait_seconds:.0f} s; nothing restored"
                ) from None
            stopped = True
    except BaseException:
        lock.release()  # the advisory lock's connection too, not left to the GC
        raise
    try:
        return restore(config, archive, with_config=with_config), stopped
    finally:
        lock.release()
