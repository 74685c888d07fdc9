"""gunicorn's settings module for `kabinet run` (``-c python:app.gunicorn_conf``).

Two things gunicorn cannot be told on its command line:

- The workers must not outlive the runner. `kabinet run` hands the master the read end
  of a pipe whose write end only the runner holds (KABINET_PARENT_FD). When the runner
  dies, however it dies (kill -9 included), the kernel closes that end, the read returns
  and the master shuts down with its workers: nothing orphaned keeps serving, or holds
  the port the restarted service needs.
- The access log must not carry patients' phone numbers (a search for one puts it in the
  query string), nor secrets that end up in a URL; with ``[logging] format = "json"``
  (KABINET_LOG_FORMAT from `kabinet run`) gunicorn's lines are JSON lines as well.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from gunicorn.glogging import Logger

from core import logs
from core.config import Config, ConfigError, load
from core.logs import redact_request

__all__ = ["redact_request"]


def _config() -> Config | None:
    try:
        return load(os.environ.get("KABINET_CONFIG") or None)
    except ConfigError:
        return None  # the app refuses to start with the reason; the log still goes out


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        fmt = os.environ.get(logs.ENV) or "text"
        if fmt not in logs.FORMATS:
            fmt = "text"
        config = _config()
        # The app's own lines in the workers (forked after this), like the runner's.
        logs.configure(fmt, config)
        if fmt == "json":
            for handler in [*self.error_log.handlers, *self.access_log.handlers]:
                handler.setFormatter(logs.JsonFormatter(config))

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{referer}i"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact_request(value)
        return atoms


logger_class = RedactingLogger


def _watch_parent(server: Any, fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass  # the runner never writes; only the end of the pipe matters
    except OSError:
        pass
    server.log.error("the Kabinet runner is gone; stopping the web workers")
    os.kill(os.getpid(), signal.SIGTERM)


def when_ready(server: Any) -> None:
    fd = os.environ.get("KABINET_PARENT_FD")
    if fd:
        threading.Thread(target=_watch_parent, args=(server, int(fd)), daemon=True).start()
