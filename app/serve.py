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

from core.config import Config
from core.db import make_engine, session_factory, transaction

log = logging.getLogger(__name__)


def ensure_owner(
    config: Config, announce: Callable[[str], None] = click.echo, login: str = "owner"
) -> str | None:
    """On a fresh install, create the first owner account and show its password once."""
    from core.staff import create_user, has_users

    engine = make_engine(config.storage.url)
    try:
        with transaction(session_factory(engine)) as session:
            if has_users(session):
                return None
            _, password = create_user(session, login, "owner", full_name="Владелец")
    finally:
        engine.dispose()
    announce(
        f"First owner account: login {login!r}, password {password!r} (change it or add users with `kabinet user add`)"
    )
    return password


def start_web(config: Config, config_path: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KABINET_CONFIG=config_path, KABINET_PORT=str(config.web.port))
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{config.web.host}:{config.web.port}",
        "--workers",
        str(config.web.workers),
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        "app.wsgi:application",
    ]
    return subprocess.Popen(cmd, env=env)


def serve(
    config: Config, extra_threads: tuple[Callable[[threading.Event], None], ...] = ()
) -> None:
    from app.cli import prepare_storage
    from jobs.lock import RunnerLock
    from jobs.runner import Appliance

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lock = RunnerLock(config.storage.data_dir)
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
    try:
        prepare_storage(config)
        ensure_owner(config)
        config_path = os.environ.get("KABINET_CONFIG", "")
        web = start_web(config, config_path)
        appliance = Appliance(config)
        appliance.start()
        for target in extra_threads:
            threading.Thread(target=target, args=(stop,), daemon=True).start()
        while not stop.is_set():
            if web.poll() is not None:
                log.error("the web server exited with code %s; stopping", web.returncode)
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
        lock.release()
        time.sleep(0)
