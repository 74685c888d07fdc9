"""/healthz and /metrics: healthy only when the runner, the MIS, Telegram, the outbox and
the backups all are; each bad one alone makes it 503 and says which, in plain words."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from app.gunicorn_conf import redact_request
from core.backup import make_backup
from core.clock import utcnow
from core.config import Config, load
from core.db import make_engine, session_factory, transaction
from core.health import record_heartbeat, record_mis_failure, record_mis_ok
from core.models import OutboxMessage, TelegramUpdate
from core.outbox import enqueue
from tests.conftest import Persona, WallClock


def beat(factory: sessionmaker[Session], **extra: Any) -> None:
    now = utcnow()
    record_heartbeat(
        factory,
        {
            "at": now.isoformat(),
            "started_at": now.isoformat(),
            "pid": 4242,
            "host": "clinic-server",
            "telegram_last_poll": now.isoformat(),
            **extra,
        },
    )


@pytest.fixture
def healthy(config: Config, factory: sessionmaker[Session]) -> Callable[[], None]:
    """Everything as a working installation has it: a heartbeat, an MIS read, a backup."""

    def make() -> None:
        beat(factory)
        record_mis_ok(factory, utcnow())

    make_backup(config)
    make()
    return make


def failing(outsider: Persona) -> dict[str, Any]:
    response = outsider.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503, body
    assert body["status"] == "error"
    return {name: check for name, check in body["checks"].items() if check["ok"] is False}


def test_all_well_is_200_with_every_check(outsider: Persona, healthy: Callable[[], None]) -> None:
    response = outsider.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["schema"] == "current"
    assert set(body["checks"]) == {"store", "runner", "mis", "telegram", "outbox", "backup"}
    assert all(check["ok"] is not False for check in body["checks"].values())
    assert "pid 4242 on clinic-server" in body["checks"]["runner"]["summary"]


def test_a_dead_runner_fails_within_a_minute(
    outsider: Persona, healthy: Callable[[], None], clock: WallClock
) -> None:
    clock.advance(timedelta(seconds=50))
    assert outsider.get("/healthz").status_code == 200  # a late heartbeat is not death
    clock.advance(timedelta(seconds=15))
    bad = failing(outsider)
    assert "runner" in bad
    assert "not running" in bad["runner"]["summary"] and bad["runner"]["pid"] == 4242


def test_no_heartbeat_at_all_is_a_runner_that_never_ran(
    outsider: Persona, factory: sessionmaker[Session]
) -> None:
    record_mis_ok(factory, utcnow())
    bad = failing(outsider)
    assert bad["runner"]["summary"] == "the runner has never run (no heartbeat)"


def test_the_mis_down_or_not_read_for_long_fails(
    outsider: Persona,
    healthy: Callable[[], None],
    config: Config,
    factory: sessionmaker[Session],
    clock: WallClock,
) -> None:
    record_mis_failure(factory, config, utcnow(), "connection refused")
    bad = failing(outsider)
    assert set(bad) == {"mis"} and "connection refused" in bad["mis"]["summary"]
    record_mis_ok(factory, utcnow())
    clock.advance(timedelta(minutes=6))  # a read that hangs never fails by itself
    beat(factory)
    bad = failing(outsider)
    assert set(bad) == {"mis"} and bad["mis"]["last_read_age_seconds"] >= 360


def test_telegram_not_answering_fails(
    outsider: Persona, healthy: Callable[[], None], factory: sessionmaker[Session]
) -> None:
    long_ago = (utcnow() - timedelta(minutes=5)).isoformat()
    beat(factory, telegram_last_poll=long_ago)
    bad = failing(outsider)
    assert set(bad) == {"telegram"} and bad["telegram"]["poll_lag_seconds"] >= 300


def test_updates_left_unhandled_fail(
    outsider: Persona, healthy: Callable[[], None], factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        session.add(
            TelegramUpdate(update_id=1, payload={}, received_at=utcnow() - timedelta(minutes=3))
        )
    bad = failing(outsider)
    assert bad["telegram"]["updates_waiting"] == 1


def test_messages_due_long_ago_and_unsent_fail(
    outsider: Persona, healthy: Callable[[], None], factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        enqueue(session, key="fresh", chat_id=1, text="t", kind="notice")
    assert outsider.get("/healthz").status_code == 200  # a backlog being sent is fine
    with transaction(factory) as session:
        late = enqueue(session, key="late", chat_id=2, text="t", kind="notice")
        assert isinstance(late, OutboxMessage)
        late.due_at = utcnow() - timedelta(minutes=45)
    bad = failing(outsider)
    assert set(bad) == {"outbox"}
    assert bad["outbox"]["due"] == 2 and bad["outbox"]["oldest_due_age_seconds"] >= 45 * 60


def test_no_recent_backup_fails(
    outsider: Persona, healthy: Callable[[], None], clock: WallClock
) -> None:
    clock.advance(timedelta(hours=28))
    healthy()  # the runner and the MIS are fine; only the backup is old
    bad = failing(outsider)
    assert set(bad) == {"backup"} and "no backup for a while" in bad["backup"]["summary"]


def test_metrics_in_prometheus_text_format(
    outsider: Persona, healthy: Callable[[], None], clock: WallClock
) -> None:
    response = outsider.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert families["kabinet_healthy"].samples[0].value == 1.0
    checks = {s.labels["check"]: s.value for s in families["kabinet_check_ok"].samples}
    assert checks == {
        "store": 1.0,
        "runner": 1.0,
        "mis": 1.0,
        "telegram": 1.0,
        "outbox": 1.0,
        "backup": 1.0,
    }
    assert families["kabinet_outbox_due_messages"].samples[0].value == 0
    assert 0 <= families["kabinet_runner_heartbeat_age_seconds"].samples[0].value < 60
    clock.advance(timedelta(minutes=2))
    families = {
        f.name: f
        for f in text_string_to_metric_families(outsider.get("/metrics").get_data(as_text=True))
    }
    assert families["kabinet_healthy"].samples[0].value == 0.0
    assert families["kabinet_runner_heartbeat_age_seconds"].samples[0].value >= 120


@pytest.mark.parametrize(
    "line",
    [
        "GET /patients?q=%2B7+916+123-45-67 HTTP/1.1",
        "GET /patients?q=89161234567&page=2 HTTP/1.1",
        "GET /patients/+7(916)123-45-67 HTTP/1.1",
        "GET /patients?q=%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2%D0%B0 HTTP/1.1",
        # The login page's return address carries the search encoded once more.
        "GET /login?next=%2Fpatients%2F%3Fq%3D%252B7%2B916%2B123-45-67 HTTP/1.1",
        "GET /login?next=%2Fpatients%2F%3Fq%3D%25D0%2598%25D0%25B2 HTTP/1.1",
    ],
)
def test_the_access_log_carries_no_phone_or_searched_name(line: str) -> None:
    clean = redact_request(line)
    digits = "".join(c for c in clean if c.isdigit())
    assert "9161234567" not in digits and "916" not in clean
    assert "%D0%98" not in clean and "%25D0" not in clean and "И" not in clean
    assert clean.startswith(("GET /patients", "GET /login")) and clean.endswith("HTTP/1.1")


def test_the_access_log_keeps_what_is_not_personal() -> None:
    line = "GET /tasks/123?page=2&state=open HTTP/1.1"
    assert redact_request(line) == line


def test_kabinet_status_says_the_same_in_plain_words(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.cli import cli
    from tests.jobs.test_backup_restore import write_cfg

    cfg_file = write_cfg(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(cfg_file), "sync", "--once"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(cfg_file), "status"])
    assert result.exit_code == 1
    assert "✗ runner    the runner has never run (no heartbeat)" in result.output
    assert "✗ backup    no backup for a while (newest never)" in result.output
    assert "– telegram  the bot is switched off" in result.output
    assert "Something needs attention" in result.output

    config = load(cfg_file, environ={})
    engine = make_engine(config.storage.url)
    factory = session_factory(engine)
    beat(factory)
    record_mis_ok(factory, utcnow())
    engine.dispose()
    make_backup(config)
    result = runner.invoke(cli, ["--config", str(cfg_file), "status"])
    assert result.exit_code == 0, result.output
    assert "✓ runner    the runner is running (pid 4242 on clinic-server" in result.output
    assert "✓ mis       the MIS is read (demo, last read" in result.output
    assert result.output.rstrip().endswith("All is well.")
    as_json = runner.invoke(cli, ["--config", str(cfg_file), "status", "--json"])
    assert json.loads(as_json.output)["status"] == "ok"
