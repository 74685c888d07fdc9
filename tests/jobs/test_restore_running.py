"""A restore while Kabinet runs: refused, or, with --stop-runner, the runner stopped first.

The real `kabinet run` (gunicorn and the runner, under the runner lock) and the real
`kabinet restore`, as separate processes, as on a clinic's server.
"""

from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.app.test_demo import (
    BANNER_TIMEOUT,
    KABINET,
    Kabinet,
    _write_run_config,
    free_port,
    listening,
)
from tests.jobs.test_backup_restore import fingerprint

pytestmark = pytest.mark.slow


def kabinet(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KABINET, "-c", str(path), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_restore_is_refused_while_running_and_stops_the_runner_when_asked(
    tmp_path: Path, processes: list[Kabinet]
) -> None:
    port = free_port()
    path, config = _write_run_config(tmp_path, port)
    db = Path(config.storage.url.removeprefix("sqlite:///"))
    first = Kabinet(["-c", str(path), "run"], tmp_path / "run.stderr")
    processes.append(first)
    first.wait_healthy(f"http://127.0.0.1:{port}/healthz", BANNER_TIMEOUT)
    made = kabinet(path, "backup")
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])

    refused = kabinet(path, "restore", "--yes", str(archive))
    assert refused.returncode != 0
    assert "Kabinet is running (pid " in refused.stderr and "--stop-runner" in refused.stderr
    assert first.proc.poll() is None and listening(port)
    assert not (db.parent / "backups" / "before-restore").exists()

    restored = kabinet(path, "restore", "--yes", "--stop-runner", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "stopping the running Kabinet" in restored.stderr
    assert "start it again" in restored.stdout
    assert first.proc.wait(timeout=30) == 0  # stopped cleanly, so systemd leaves it stopped
    first.stopped = True
    assert "Traceback" not in first.stderr, first.stderr[-3000:]
    deadline = time.monotonic() + 20
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening(port), "the web workers outlived the runner"
    with tarfile.open(archive) as tar:
        tar.extract("kabinet.sqlite3", tmp_path / "x", filter="data")
    assert fingerprint(db) == fingerprint(tmp_path / "x" / "kabinet.sqlite3")

    # And it starts again on the restored store.
    second = Kabinet(["-c", str(path), "run"], tmp_path / "run2.stderr")
    processes.append(second)
    second.wait_healthy(f"http://127.0.0.1:{port}/healthz", BANNER_TIMEOUT)
