"""A patient's Confirm written back to the MIS, on each engine: the job writes the profile's
column of the visit's row over the write account (mis.write_dsn), once; the sync reading
the row back makes no event; a refused write is tried again (transient) or becomes a
task (permanent); nothing is written unless the clinic switched it on. Инфодент's profile
has no such column (capability absent); a clinic's override that names one is written
on Firebird the same way.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import confirm_column
from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.clock import utcnow
from core.config import Config, ConfigError
from core.db import transaction
from core.models import Appointment, Task
from core.visits.confirm_writeback import run
from core.visits.models import MisWriteback
from jobs.table import JOBS
from tests.connectors.contract.engines import MisEngine, mis_now

pytestmark = pytest.mark.clock

WRITABLE = ("demo", "ident", "opendental")
MARKS = {"ident": pytest.mark.postgres, "opendental": pytest.mark.mariadb}
RW_PASSWORD = "Rw-s3cret-4417"


@pytest.fixture(params=[pytest.param(p, marks=MARKS.get(p, ())) for p in WRITABLE])
def wmis(request: pytest.FixtureRequest) -> MisEngine:
    engine: MisEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


def _pg_admin(mis: MisEngine) -> Any:
    import psycopg2

    conn = psycopg2.connect(mis.extra["admin_dsn"])
    conn.autocommit = True
    return conn


def _od_admin(mis: MisEngine) -> Any:
    from tests.connectors.contract.engines import _mariadb_admin

    conn, _ = _mariadb_admin(mis.extra["admin_dsn"])
    return conn


@pytest.fixture
def write_account(wmis: MisEngine) -> Iterator[dict[str, str]]:
    """A write account as the README asks for it: the read grants plus UPDATE of the
    one confirmation column; `denied` is one without that UPDATE."""
    suffix = secrets.token_hex(3)
    if wmis.profile == "demo":
        yield {"ok": wmis.dsn, "denied": "", "down": wmis.dsn + ".gone"}
        return
    if wmis.profile == "ident":
        rw, ro = f"kabinet_rw_{suffix}", f"kabinet_nw_{suffix}"
        admin = _pg_admin(wmis)
        with admin.cursor() as cur:
            for role in (rw, ro):
                cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (RW_PASSWORD,))
                cur.execute(f"GRANT CONNECT ON DATABASE {admin.info.dbname} TO {role}")
                cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
                cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            cur.execute(f"GRANT UPDATE (IsNotified) ON Receptions TO {rw}")
            # SQL Server bumps rowversion itself; the stand-in's trigger takes a number.
            cur.execute(f"GRANT USAGE ON SEQUENCE rowversion_seq TO {rw}")

        def odbc(role: str, port: str = "") -> str:
            dsn = wmis.dsn.replace(f"UID={wmis.extra['role']}", f"UID={role}")
            if port:
                dsn = dsn.replace("PORT=5432", f"PORT={port}")
            return f"{dsn};PWD={RW_PASSWORD}"

        yield {"ok": odbc(rw), "denied": odbc(ro), "down": odbc(rw, "1")}
        with admin.cursor() as cur:
            for role in (rw, ro):
                cur.execute(f"DROP OWNED BY {role}")
                cur.execute(f"DROP ROLE {role}")
        admin.close()
        return
    rw, ro = f"kabinet_rw_{suffix}", f"kabinet_nw_{suffix}"
    db = wmis.extra["db"]
    host = wmis.dsn.split("@", 1)[1].split("/", 1)[0]
    admin = _od_admin(wmis)
    with admin.cursor() as cur:
        for user in (rw, ro):
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (RW_PASSWORD,))
            cur.execute(f"GRANT SELECT ON {db}.* TO '{user}'@'%'")
        cur.execute(f"GRANT UPDATE (Confirmed) ON {db}.appointment TO '{rw}'@'%'")
    yield {
        "ok": f"mysql://{rw}:{RW_PASSWORD}@{host}/{db}",
        "denied": f"mysql://{ro}:{RW_PASSWORD}@{host}/{db}",
        "down": f"mysql://{rw}:{RW_PASSWORD}@127.0.0.1:1/{db}",
    }
    with admin.cursor() as cur:
        for user in (rw, ro):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    admin.close()


@pytest.fixture
def config(wmis: MisEngine, tmp_path: Path, write_account: dict[str, str]) -> Config:
    """Write-back on, over the write account (the shared `factory` builds on it)."""
    return wmis.config(tmp_path, write_back_confirmations=True, write_dsn=write_account["ok"])


def _other(mis: MisEngine, tmp_path: Path, name: str, **keys: Any) -> Config:
    """Another configuration of the same clinic (only the [mis] keys differ)."""
    (tmp_path / name).mkdir()
    return mis.config(tmp_path / name, **keys)


def _column(mis: MisEngine, visit: str) -> Any:
    """The confirmation column of the visit's row, as the MIS has it now."""
    if mis.profile == "demo":
        with sqlite3.connect(mis.dsn) as conn:
            return conn.execute(
                "SELECT IsNotified FROM Receptions WHERE ID = ?", (int(visit),)
            ).fetchone()[0]
    if mis.profile == "ident":
        admin = _pg_admin(mis)
        with admin.cursor() as cur:
            cur.execute("SELECT IsNotified FROM Receptions WHERE ID = %s", (int(visit),))
            value = cur.fetchone()[0]
        admin.close()
        return value
    admin = _od_admin(mis)
    with admin.cursor() as cur:
        cur.execute(
            f"SELECT Confirmed FROM {mis.extra['db']}.appointment WHERE AptNum = %s", (int(visit),)
        )
        value = cur.fetchone()[0]
    admin.close()
    return value


def _confirmed_value(mis: MisEngine) -> Any:
    if mis.profile != "opendental":
        return 1
    admin = _od_admin(mis)
    with admin.cursor() as cur:
        cur.execute(
            f"SELECT DefNum FROM {mis.extra['db']}.definition"
            " WHERE Category = 2 AND ItemName = 'Appointment Confirmed'"
        )
        value = cur.fetchone()[0]
    admin.close()
    return value


def _booked_and_synced(
    mis: MisEngine, config: Config, factory: sessionmaker[Session]
) -> tuple[str, SyncEngine]:
    """A visit in two days, in the mirror; returns its MIS id and the sync."""
    writer = mis.writer_factory()
    sync = SyncEngine(open_connector(config), factory)
    try:
        sync.run_once()  # the initial import
        doctor = writer.add_doctor("Зубова", "Ирина", "Петровна")
        # A number of these tests alone: the engines are shared by the session, and
        # test_contract.py looks its patients up by theirs.
        patient = writer.add_patient(
            "Петрова", "Мария", "Ивановна", "8 (912) 555-09-31", date(1985, 4, 12)
        )
        start = (mis_now() + timedelta(days=2)).replace(hour=10, minute=0, second=0)
        visit = writer.book(patient, doctor, start)
    finally:
        writer.close()
    report = sync.run_once()
    assert report.problems == []
    assert ("appointment.created", visit) in report.events
    return visit, sync


def _press_confirm(factory: sessionmaker[Session], visit: str) -> None:
    """What the bot's Confirm press records on the mirror (bot_handlers/visits.py); the
    press itself through the Telegram emulator: tests/core/test_confirm_writeback.py."""
    with transaction(factory) as session:
        appt = session.scalar(select(Appointment).where(Appointment.mis_id == visit))
        appt.confirmation, appt.confirmed_at = "confirmed", utcnow()


def _queue(factory: sessionmaker[Session], visit: str) -> MisWriteback:
    with factory() as session:
        row = session.scalar(select(MisWriteback).where(MisWriteback.appointment_mis_id == visit))
        assert row is not None
        session.expunge(row)
        return row


def test_a_confirmed_visit_is_written_to_its_column_once_and_the_sync_sees_nothing(
    wmis: MisEngine, config: Config, factory: sessionmaker[Session]
) -> None:
    visit, sync = _booked_and_synced(wmis, config, factory)
    before = _column(wmis, visit)
    assert before != _confirmed_value(wmis)
    _press_confirm(factory, visit)
    connector = open_connector(config)
    assert (
        confirm_column(connector)
        == {
            "demo": "Receptions.IsNotified",
            "ident": "Receptions.IsNotified",
            "opendental": "appointment.Confirmed",
        }[wmis.profile]
    )

    report = run(factory, connector, config)
    assert (report.queued, report.written, report.retried, report.failed) == (1, 1, 0, 0)
    assert _column(wmis, visit) == _confirmed_value(wmis)
    row = _queue(factory, visit)
    assert row.state == "done" and row.attempts == 1 and row.column == confirm_column(connector)

    # Never twice: the job again queues and writes nothing.
    again = run(factory, connector, config)
    assert (again.queued, again.written) == (0, 0)
    assert _queue(factory, visit).attempts == 1

    # Reading the changed row back (IDENT's RowVersion moved) is no news.
    report = sync.run_once()
    assert report.problems == []
    assert [e for e in report.events if e[1] == visit] == []


def test_off_by_default_nothing_is_queued_or_written(
    wmis: MisEngine, tmp_path: Path, factory: sessionmaker[Session], write_account: dict[str, str]
) -> None:
    plain = _other(wmis, tmp_path, "plain", write_dsn=write_account["ok"])
    assert plain.mis.write_back_confirmations is False
    (spec,) = [s for s in JOBS if s.id == "mis_confirm_writeback"]
    assert not spec.enabled(plain)
    visit, _ = _booked_and_synced(wmis, plain, factory)
    before = _column(wmis, visit)
    _press_confirm(factory, visit)
    report = run(factory, open_connector(plain), plain)
    assert (report.queued, report.written) == (0, 0)
    assert _column(wmis, visit) == before
    with factory() as session:
        assert session.scalars(select(MisWriteback)).all() == []


def test_an_unreachable_mis_is_tried_again_later_and_then_written(
    wmis: MisEngine,
    tmp_path: Path,
    config: Config,
    factory: sessionmaker[Session],
    write_account: dict[str, str],
) -> None:
    visit, _ = _booked_and_synced(wmis, config, factory)
    _press_confirm(factory, visit)
    down = _other(
        wmis, tmp_path, "down", write_back_confirmations=True, write_dsn=write_account["down"]
    )
    report = run(factory, open_connector(down), down)
    assert (report.written, report.retried, report.failed) == (0, 1, 0)
    row = _queue(factory, visit)
    assert row.state == "pending" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > utcnow()
    # Not due yet: the next minute's run leaves it alone.
    assert run(factory, open_connector(config), config).written == 0
    # Due, and the MIS is back.
    later = run(
        factory, open_connector(config), config, clock=lambda: utcnow() + timedelta(minutes=2)
    )
    assert later.written == 1
    assert _column(wmis, visit) == _confirmed_value(wmis)
    assert _queue(factory, visit).attempts == 2
    with factory() as session:
        assert session.scalars(select(Task).where(Task.kind == "mis_writeback")).all() == []


def test_a_write_the_mis_cannot_take_becomes_a_task_and_is_not_retried(
    wmis: MisEngine,
    tmp_path: Path,
    config: Config,
    factory: sessionmaker[Session],
    write_account: dict[str, str],
) -> None:
    visit, _ = _booked_and_synced(wmis, config, factory)
    before = _column(wmis, visit)
    _press_confirm(factory, visit)
    if write_account["denied"]:
        # An account without UPDATE on the column: no permission.
        denied = _other(
            wmis,
            tmp_path,
            "denied",
            write_back_confirmations=True,
            write_dsn=write_account["denied"],
        )
        connector = open_connector(denied)
    else:
        # The demo: the visit cancelled at the desk before the sync saw it, so the row is
        # no longer one to confirm and the UPDATE finds nothing.
        writer = wmis.writer_factory()
        writer.cancel(visit)
        writer.close()
        connector = open_connector(config)
    report = run(factory, connector, config)
    assert (report.written, report.retried, report.failed) == (0, 0, 1)
    row = _queue(factory, visit)
    assert row.state == "failed" and row.attempts == 1
    assert ("permission" if write_account["denied"] else "missing_row") in row.last_error
    with factory() as session:
        (task,) = session.scalars(select(Task).where(Task.kind == "mis_writeback")).all()
        assert task.appointment_mis_id == visit and "Петрова Мария" in task.text
        assert "вручную" in task.text
    later = run(factory, connector, config, clock=lambda: utcnow() + timedelta(hours=2))
    assert (later.written, later.retried, later.failed) == (0, 0, 0)
    assert _queue(factory, visit).attempts == 1
    assert _column(wmis, visit) == before


def test_a_row_gone_from_the_mis_writes_nothing_and_is_shown(
    wmis: MisEngine, config: Config, factory: sessionmaker[Session]
) -> None:
    """The visit deleted in the MIS after the press: the UPDATE of its key finds no row."""
    visit, _ = _booked_and_synced(wmis, config, factory)
    _press_confirm(factory, visit)
    writer = wmis.writer_factory()
    writer.delete_visit(visit)
    writer.close()
    report = run(factory, open_connector(config), config)
    assert report.failed == 1
    assert "missing_row" in _queue(factory, visit).last_error


# --- Инфодент on Firebird -------------------------------------------------------------------


@pytest.mark.firebird
def test_infodent_has_no_confirmation_column_and_the_config_says_so(
    infodent_engine: MisEngine, tmp_path: Path
) -> None:
    cfg = infodent_engine.config(tmp_path)
    assert confirm_column(open_connector(cfg)) is None
    with pytest.raises(ConfigError, match="no column to write a confirmation to"):
        _other(
            infodent_engine,
            tmp_path,
            "on",
            write_back_confirmations=True,
            write_dsn=infodent_engine.dsn + "x",
        )


@pytest.fixture
def infodent_column(infodent_engine: MisEngine) -> Iterator[str]:
    """A clinic whose Инфодент keeps a confirmation flag (here SCHEDULE.KABINET_OK, made for
    the test) and a write user allowed to update it; yields the write DSN."""
    import fdb

    e = infodent_engine.extra
    user = f"KABINET_RW_{secrets.token_hex(3).upper()}"
    conn = fdb.connect(
        host=e["host"], port=e["port"], database=e["path"], user=e["user"], password=e["password"]
    )
    cur = conn.cursor()
    cur.execute(
        "SELECT 1 FROM RDB$RELATION_FIELDS WHERE RDB$RELATION_NAME = 'SCHEDULE' AND RDB$FIELD_NAME = 'KABINET_OK'"
    )
    if cur.fetchone() is None:
        cur.execute("ALTER TABLE SCHEDULE ADD KABINET_OK SMALLINT DEFAULT 0 NOT NULL")
        conn.commit()
    cur.execute(f"CREATE USER {user} PASSWORD '{RW_PASSWORD}'")
    conn.commit()
    cur.execute(f"GRANT SELECT ON SCHEDULE TO {user}")
    cur.execute(f"GRANT UPDATE (KABINET_OK) ON SCHEDULE TO {user}")
    conn.commit()
    conn.close()
    yield infodent_engine.dsn.replace(e["ro_user"], f"{user}:{RW_PASSWORD}")
    conn = fdb.connect(
        host=e["host"], port=e["port"], database=e["path"], user=e["user"], password=e["password"]
    )
    conn.cursor().execute(f"DROP USER {user}")
    conn.commit()
    conn.close()


@pytest.mark.firebird
def test_an_override_naming_a_column_is_written_on_firebird(
    infodent_engine: MisEngine, tmp_path: Path, infodent_column: str
) -> None:
    import fdb

    from core.db import make_engine, session_factory
    from core.migrate import upgrade

    override = (
        '[confirm]\ncolumn = "SCHEDULE.KABINET_OK"\n'
        'sql = "UPDATE SCHEDULE SET KABINET_OK = 1 WHERE SCHEDID = {visit_id}"\n'
    )
    cfg = infodent_engine.config(
        tmp_path, override, write_back_confirmations=True, write_dsn=infodent_column
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    factory = session_factory(engine)
    try:
        visit, _ = _booked_and_synced(infodent_engine, cfg, factory)
        _press_confirm(factory, visit)
        connector = open_connector(cfg)
        assert confirm_column(connector) == "SCHEDULE.KABINET_OK"
        assert run(factory, connector, cfg).written == 1
        e = infodent_engine.extra
        conn = fdb.connect(
            host=e["host"],
            port=e["port"],
            database=e["path"],
            user=e["user"],
            password=e["password"],
        )
        cur = conn.cursor()
        cur.execute("SELECT KABINET_OK FROM SCHEDULE WHERE SCHEDID = ?", (int(visit),))
        assert cur.fetchone()[0] == 1
        conn.close()
    finally:
        engine.dispose()
