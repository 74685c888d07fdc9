"""The single-runner lock: a file lock for SQLite, an advisory lock for PostgreSQL.

The PostgreSQL tests use the server at 127.0.0.1:5432 (trust auth, user postgres), each in
a database of its own (conftest's pg_url). Without a server they are skipped, which fails
in CI (conftest).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from filelock import Timeout
from sqlalchemy import create_engine, text

from core import outbox
from core.clock import utcnow
from core.db import make_engine, session_factory, transaction
from core.migrate import _alembic_config
from core.models import OutboxMessage
from jobs.lock import PgAdvisoryLock, RunnerLock, runner_lock
from tests.conftest import make_config

pytestmark = pytest.mark.postgres


def test_the_lock_follows_the_store(tmp_path: Path, pg_url: str) -> None:
    assert isinstance(runner_lock(make_config(tmp_path)), RunnerLock)
    lock = runner_lock(make_config(tmp_path, storage={"database_url": pg_url}))
    assert isinstance(lock, PgAdvisoryLock)
    lock.release()


def test_a_second_runner_is_told_who_holds_it_and_waits(pg_url: str) -> None:
    first = PgAdvisoryLock(pg_url, poll_seconds=0.05)
    first.acquire()
    assert first.held()
    told: list[str] = []
    second = PgAdvisoryLock(pg_url, poll_seconds=0.05)
    with pytest.raises(Timeout):
        second.acquire(on_wait=told.append, timeout=0.3)
    assert len(told) == 1 and "kabinet-runner" in told[0] and "PostgreSQL backend" in told[0]
    assert not second.held()

    took_over = threading.Event()

    def wait_for_it() -> None:
        second.acquire()
        took_over.set()

    threading.Thread(target=wait_for_it, daemon=True).start()
    assert not took_over.wait(0.3)
    first.release()
    assert took_over.wait(10)
    assert second.held()
    second.release()


def test_a_lost_connection_means_a_lost_lock(pg_url: str) -> None:
    lock = PgAdvisoryLock(pg_url, poll_seconds=0.05)
    lock.acquire()
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'kabinet-runner%' AND datname = current_database()"
            )
        )
    assert not lock.held()  # the runner stops; another may take it now
    other = PgAdvisoryLock(pg_url, poll_seconds=0.05)
    other.acquire(timeout=5)
    assert other.held()
    other.release()
    lock.release()
    admin.dispose()


def test_the_outbox_claims_and_recovers_on_postgresql(pg_url: str) -> None:
    engine = make_engine(pg_url)
    # The whole schema on PostgreSQL: every migration runs there too.
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
    factory = session_factory(engine)
    with transaction(factory) as s:
        for i in range(5):
            outbox.enqueue(s, key=f"k{i}", chat_id=100 + i % 2, text="t", kind="notice")
    now = utcnow() + timedelta(seconds=1)
    with transaction(factory) as s:
        first = outbox.claim(s, now, 3, "a:1", skip_chats=[101])
    with transaction(factory) as s:
        second = outbox.claim(s, now, 10, "b:1")
    assert [m.chat_id for m in first] == [100, 100, 100]
    assert {m.id for m in first}.isdisjoint(m.id for m in second) and len(second) == 2
    with transaction(factory) as s:
        assert outbox.begin_send(s, first[0].id, "a:1")
        assert not outbox.begin_send(s, first[0].id, "a:1")
        assert outbox.release(s, "b") == 2
    with transaction(factory) as s:
        assert outbox.recover_after_restart(s) == (2, 1)
    with factory() as s:
        states = sorted(m.state for m in s.query(OutboxMessage))
    assert states == ["pending"] * 4 + ["unknown"]
    engine.dispose()
