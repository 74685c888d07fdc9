"""kill -9 of the runner: its web workers go with it, the port is free, and a new
`kabinet run` (systemd's Restart=on-failure) comes back whole and healthy. On the way,
the real access log is checked for a phone number.

Before, gunicorn's master was left orphaned, serving `ok` with no runner behind it and
holding the port, so the restarted service could not bind it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.app.test_demo import (
    BANNER_TIMEOUT,
    Kabinet,
    _write_run_config,
    free_port,
    listening,
)

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill_9_of_the_runner_takes_the_web_workers_along(
    tmp_path: Path, processes: list[Kabinet]
) -> None:
    port = free_port()
    path, _ = _write_run_config(tmp_path, port)
    url = f"http://127.0.0.1:{port}/healthz"
    first = Kabinet(["-c", str(path), "run"], tmp_path / "first.stderr")
    processes.append(first)
    first.wait_healthy(url, BANNER_TIMEOUT)
    # The access log (gunicorn's, on stdout) masks a phone searched for in the panel.
    requests.get(f"http://127.0.0.1:{port}/patients?q=%2B7+916+123-45-67", timeout=5)
    deadline = time.monotonic() + 10
    while "/patients?q=" not in first.stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/patients?q=***" in first.stdout and "916" not in first.stdout, first.stdout[-2000:]
    web = children(first.proc.pid)
    assert web, "gunicorn should run as the runner's child"

    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    killed = time.monotonic()
    deadline = killed + 30
    while (listening(port) or any(alive(p) for p in web)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in web), "gunicorn outlived the runner"
    assert not listening(port), "the port is still held with no runner behind it"
    print(f"\nweb workers gone {time.monotonic() - killed:.1f} s after kill -9 of the runner")

    # What systemd does next: start it again. It binds the port and is healthy.
    second = Kabinet(["-c", str(path), "run"], tmp_path / "second.stderr")
    processes.append(second)
    second.wait_healthy(url, BANNER_TIMEOUT)
    deadline = time.monotonic() + 15  # the new runner's first heartbeat, a second in
    while time.monotonic() < deadline:
        body = requests.get(url, timeout=5).json()
        if body["checks"]["runner"]["pid"] == second.proc.pid:
            break
        time.sleep(0.2)
    assert body["status"] == "ok" and body["checks"]["runner"]["pid"] == second.proc.pid
    assert second.stop(signal.SIGTERM) == 0
    assert "Traceback" not in second.stderr, second.stderr[-3000:]
