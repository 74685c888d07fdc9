"""`kabinet run`: the web workers (gunicorn) plus exactly one runner, under a lock."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click

from app.storage import ensure_owner, prepare_storage
from core.config import Config

log = logging.getLogger(__name__)


def _control_socket_args(config: Config) -> list[str]:
    """gunicorn >= 25.1 opens a control socket, by default one per user in ~/.gunicorn:
    two installations (or a demo beside a real one) would take it from each other. Each
    gets its own, beside its data."""
    import gunicorn

    if tuple(gunicorn.version_info[:2]) < (25, 1):
        return []
    return ["--control-socket", str(Path(config.storage.data_dir).resolve() / "gunicorn.ctl")]


def start_web(config: Config, config_path: str) -> subprocess.Popen[bytes]:
    # The pipe ties the web server's life to this process (app/gunicorn_conf.py): only we
    # hold the write end, so it closes when we die, even by kill -9.
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    env = dict(
        os.environ,
        KABINET_CONFIG=config_path,
        KABINET_PORT=str(config.web.port),
        KABINET_PARENT_FD=str(read_end),
        # The workers' and the access log's lines in the same format as the runner's.
        KABINET_LOG_FORMAT=config.logging.format,
    )
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:app.gunicorn_conf",
        "--bind",
        f"{config.web.host}:{config.web.port}",
        "--workers",
        str(config.web.workers),
        # Threads, not processes, for concurrency: the panel's requests wait on SQLite
        # and the network, and each extra process would cost ~70 MB.
        "--worker-class",
        "gthread",
        "--threads",
        str(config.web.threads),
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        *_control_socket_args(config),
        "app.wsgi:application",
    ]
    try:
        web = subprocess.Popen(cmd, env=env, pass_fds=(read_end,))
    finally:
        os.close(read_end)
    _lifelines[web.pid] = write_end
    return web


# The write end of each web server's lifeline pipe, by its pid: held while it serves.
_lifelines: dict[int, int] = {}


def serve(
    config: Config, extra_threads: tuple[Callable[[threading.Event], None], ...] = ()
) -> None:
    from core import logs
    from jobs.lock import runner_lock
    from jobs.runner import Appliance

    # Text lines or JSON lines ([logging] format), phones and secrets masked either way.
    logs.configure(config.logging.format, config)
    # A file lock beside the data for SQLite; a PostgreSQL advisory lock otherwise.
    lock = runner_lock(config)
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    lock.acquire(
        on_wait=lambda holder: click.echo(
            f"Another Kabinet is already running for {config.storage.data_dir} ({holder}); "
            "waiting for it to stop…",
            err=True,
        )
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    web: subprocess.Popen[bytes] | None = None
    appliance = None
    lost_lock = False
    try:
        prepare_storage(config)
        ensure_owner(config)
        config_path = os.environ.get("KABINET_CONFIG", "")
        web = start_web(config, config_path)
        appliance = Appliance(config)
        appliance.start()
        for target in extra_threads:
            threading.Thread(target=target, args=(stop,), daemon=True).start()
        ticks = 0
        while not stop.is_set():
            if web.poll() is not None:
                log.error("the web server exited with code %s; stopping", web.returncode)
                break
            ticks += 1
            if ticks % 5 == 0 and not lock.held():
                # The advisory lock died with its PostgreSQL connection: another runner may
                # take it now, so this one must stop (systemd starts it again, and it waits).
                log.error("lost the single-runner lock; stopping")
                lost_lock = True
                break
            stop.wait(1.0)
    finally:
        stop.set()
        if appliance is not None:
            appliance.stop()
        if web is not None and web.poll() is None:
            web.terminate()
            try:
                web.wait(timeout=15)
            except subprocess.TimeoutExpired:
                web.kill()
        if web is not None:
            os.close(_lifelines.pop(web.pid))
        lock.release()
        time.sleep(0)
    if lost_lock:
        raise SystemExit(75)  # EX_TEMPFAIL: try again
