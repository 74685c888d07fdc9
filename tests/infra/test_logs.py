"""The log lines: `[logging] format = "json"` makes every line of `kabinet run` (runner, web
workers, gunicorn's access log) one JSON object; the text lines stay as they were; both mask
phone numbers, searched names and secrets."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from core import logs
from core.config import ConfigError, from_mapping
from tests.app.test_demo import BANNER_TIMEOUT, KABINET, Kabinet, _write_run_config, free_port
from tests.conftest import make_config

TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("jobs.runner", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_json_line_has_time_level_logger_message_and_extras(tmp_path: Path) -> None:
    rec = record("outbox %s: %s", 7, "sent", outbox_id=7, channel="telegram", tags=("a", 2))
    rec.created = 1_796_000_000.25  # 2026-11-30 00:53:20.250 UTC
    line = logs.JsonFormatter().format(rec)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-11-30T00:53:20.250Z",
        "level": "WARNING",
        "logger": "jobs.runner",
        "message": "outbox 7: sent",
        "outbox_id": 7,
        "channel": "telegram",
        "tags": ["a", 2],
    }


def test_a_json_line_masks_phones_tokens_dsn_passwords_and_configured_secrets(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, mis={"password": "Sup3rSecret"})
    rec = record(
        "MIS down: mssql://ident:hunter22@srv/db, password=Sup3rSecret, bot %s, phone %s",
        TOKEN,
        "+7 (916) 123-45-67",
        patient_phone="89161234567",
        query="/patients?q=Иванова",
    )
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        rec.exc_info = sys.exc_info()
    line = logs.JsonFormatter(config).format(rec)
    data = json.loads(line)
    for secret in ("hunter22", "Sup3rSecret", TOKEN, "916", "Иванова"):
        assert secret not in line, f"{secret!r} leaked: {line}"
    assert "***phone***" in data["message"] and "***bot-token***" in data["message"]
    assert data["patient_phone"] == "***phone***"
    assert data["query"] == "/patients?q=***"
    assert data["exc_info"].startswith("Traceback") and "RuntimeError" in data["exc_info"]


def test_the_text_lines_keep_their_format_and_are_masked(tmp_path: Path) -> None:
    rec = record("visit %s synced for %s", 42, "+79161234567")
    line = logs.TextFormatter().format(rec)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING jobs\.runner: visit 42 synced for "
        r"\*\*\*phone\*\*\*",
        line,
    ), line
    # Short numbers (ids, counts) and a date with its hour are not phones.
    line = logs.TextFormatter().format(record("%s rows, next at 2026-12-02 13:00", 12345))
    assert line.endswith("jobs.runner: 12345 rows, next at 2026-12-02 13:00"), line


def test_the_format_is_checked_and_can_come_from_the_environment(tmp_path: Path) -> None:
    assert make_config(tmp_path).logging.format == "text"
    assert make_config(tmp_path, logging={"format": "json"}).logging.format == "json"
    with pytest.raises(ConfigError, match=r"logging\.format = 'xml': expected one of 'text'"):
        make_config(tmp_path, logging={"format": "xml"})
    config = from_mapping({}, environ={"KABINET_LOG_FORMAT": "json"})
    assert config.logging.format == "json"


def test_config_check_names_a_wrong_log_format(tmp_path: Path) -> None:
    path = tmp_path / "kabinet.toml"
    path.write_text('[logging]\nformat = "yaml"\n', encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [KABINET, "config", "check", str(path)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert "logging.format = 'yaml': expected one of 'text', 'json'" in result.stderr


@pytest.mark.slow
def test_kabinet_run_writes_json_lines_everywhere(tmp_path: Path, processes: list[Kabinet]) -> None:
    port = free_port()
    path, _ = _write_run_config(tmp_path, port)
    with path.open("a", encoding="utf-8") as f:
        f.write('\n[logging]\nformat = "json"\n')
    run = Kabinet(["-c", str(path), "run"], tmp_path / "run.stderr")
    processes.append(run)
    run.wait_healthy(f"http://127.0.0.1:{port}/healthz", BANNER_TIMEOUT)
    requests.get(f"http://127.0.0.1:{port}/patients?q=%2B7+916+123-45-67", timeout=5)
    deadline = time.monotonic() + 10
    while '"gunicorn.access"' not in run.stdout or "/patients" not in run.stdout:
        assert time.monotonic() < deadline, run.stdout[-2000:]
        time.sleep(0.1)
    assert run.stop(signal.SIGTERM) == 0

    # stderr: the runner's lines and gunicorn's own, nothing but JSON objects.
    err_lines = [line for line in run.stderr.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in err_lines]
    assert {"jobs.runner", "gunicorn.error"} <= {p["logger"] for p in parsed}, err_lines
    for p in parsed:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", p["time"])
        assert {"time", "level", "logger", "message"} <= set(p)
    # stdout: the access log (click's plain messages to the person starting it besides).
    access = [json.loads(line) for line in run.stdout.splitlines() if '"gunicorn.access"' in line]
    search = next(a for a in access if a.get("path") == "/patients")
    assert search["method"] == "GET" and search["query"] == "q=***"
    assert isinstance(search["status"], int) and 200 <= search["status"] < 400
    assert isinstance(search["duration_ms"], int)
    for spelling in ("916+123", "916 123", "123-45-67"):
        assert spelling not in run.stdout and spelling not in run.stderr
