"""The appliance's log lines: plain text as always, or JSON lines (``[logging] format``).

Every line `kabinet run` writes (the runner's, the web workers' and gunicorn's access log)
goes through one of the two formatters here, and both mask what must not reach a log: phone
numbers in any usual spelling, search terms and names in a query string, passwords in DSNs,
bot tokens and the configured secrets (core.config.redact).

- ``text``: ``2026-12-02 10:00:00,123 INFO jobs.runner: message``, as before.
- ``json``: one object per line, for a log collector (Loki, ELK, journald's JSON export):
  ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``, then the
  record's extra fields (``log.info("...", extra={"outbox_id": 7})``), the traceback as
  ``exc_info``; an access line carries the request's fields (method, path, status, ...).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from core.config import Config, redact

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The environment variable that carries logging.format to the web workers (and overrides it).
ENV = "KABINET_LOG_FORMAT"

# 10-15 digits, maybe with a leading + and spaces, dashes, dots or brackets between them:
# a phone number in any usual spelling. Shorter runs (ids, page numbers) are left alone, and
# so is a date with its hour (2026-12-02 10:00), which has as many digits.
PHONE = re.compile(r"(?<![\w])(?!\d{4}-\d\d-\d\d\b)\+?\d(?:[\s\-().]{0,3}\d){9,14}(?![\w])")
# Query parameters that may hold a name or a phone whatever they look like.
PERSONAL = re.compile(r"(?i)\b(q|query|search|phone|name|text)=([^&\s]*)")


def redact_line(text: str, config: Config | None = None) -> str:
    """A log line fit to keep: phone numbers, personal query terms, credentials and the
    configured secrets masked."""
    text = PERSONAL.sub(r"\1=***", text)
    if PHONE.search(text):
        text = PHONE.sub("***phone***", text)
    return redact(text, config)


def redact_request(text: str) -> str:
    """A request line or URL fit for a log: personal search terms, phones, secrets masked."""
    text = PERSONAL.sub(r"\1=***", text)
    # A URL inside a parameter (the login page's ?next=) is encoded once more per level:
    # decode until nothing changes (three levels at most), masking at every level.
    for _ in range(3):
        decoded = PERSONAL.sub(r"\1=***", unquote_plus(text))
        if decoded == text:
            break
        text = decoded
    return redact_line(text)


# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
# gunicorn's access-log atoms worth a field of their own, already redacted by
# app.gunicorn_conf.RedactingLogger (and masked once more here).
_ACCESS_FIELDS = {
    "h": "remote",
    "m": "method",
    "U": "path",
    "q": "query",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "f": "referer",
    "a": "user_agent",
}


class TextFormatter(logging.Formatter):
    """The plain text lines, masked."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.config = config

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, with the message and traceback masked (not the time).
        record.message = redact_line(record.getMessage(), self.config)
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + redact_line(record.exc_text, self.config)
        if record.stack_info:
            line += "\n" + redact_line(self.formatStack(record.stack_info), self.config)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, masked."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__()
        self.config = config

    def _clean(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        return redact_line(str(value), self.config)

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_line(record.getMessage(), self.config),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for atom, key in _ACCESS_FIELDS.items():
                value = record.args.get(atom)
                if key == "status" and isinstance(value, str) and value.isdigit():
                    value = int(value)
                if value not in (None, "-"):
                    line[key] = self._clean(value)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = self._clean(value)
        if record.exc_info:
            line["exc_info"] = redact_line(self.formatException(record.exc_info), self.config)
        if record.stack_info:
            line["stack_info"] = redact_line(self.formatStack(record.stack_info), self.config)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(fmt: str, config: Config | None = None) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return JsonFormatter(config) if fmt == "json" else TextFormatter(config)


def configure(fmt: str, config: Config | None = None, level: int = logging.INFO) -> None:
    """The root logger writes to stderr in ``fmt`` (once: a root that already has a handler,
    as under pytest, is left alone, like logging.basicConfig)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt, config))
    logging.basicConfig(level=level, handlers=[handler])
    # Two INFO lines per job run, every few seconds, would drown everything else.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
