"""gunicorn's settings module for `kabinet run` (``-c python:app.gunicorn_conf``).

Two things gunicorn cannot be told on its command line:

- The workers must not outlive the runner. `kabinet run` hands the master the read end
  of a pipe whose write end only the runner holds (KABINET_PARENT_FD). When the runner
  dies, however it dies (kill -9 included), the kernel closes that end, the read returns
  and the master shuts down with its workers: nothing orphaned keeps serving, or holds
  the port the restarted service needs.
- The access log must not carry patients' phone numbers (a search for one puts it in the
  query string), nor secrets that end up in a URL.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

from core.config import redact

# 10-15 digits, maybe with a leading + and spaces, dashes, dots or brackets between them:
# a phone number in any usual spelling. Shorter runs (ids, page numbers) are left alone.
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s\-().]{0,3}\d){9,14}(?![\w])")
# Query parameters that may hold a name or a phone whatever they look like.
_PERSONAL = re.compile(r"(?i)\b(q|query|search|phone|name|text)=([^&\s]*)")


def redact_request(text: str) -> str:
    """A request line or URL fit for a log: personal search terms, phones, secrets masked."""
    text = _PERSONAL.sub(r"\1=***", text)
    # A URL inside a parameter (the login page's ?next=) is encoded once more per level:
    # decode until nothing changes (three levels at most), masking at every level.
    for _ in range(3):
        decoded = _PERSONAL.sub(r"\1=***", unquote_plus(text))
        if decoded == text:
            break
        text = decoded
    if _PHONE.search(text):
        text = _PHONE.sub("***phone***", text)
    return redact(text)


class RedactingLogger(Logger):
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
