"""Each engine's driver on its real server: timeouts, outages, grants, redaction, the
timestamp cursor's hard cases, and what `kabinet mis check` / `mis dump` / `sync --once`
tell clinic IT."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.cli import cli
from connectors.base import ConnectorError
from connectors.profiles import load_profile
from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import Config
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import DomainEvent, Patient, SyncCursor
from sandbox.demo import write_config
from tests.connectors.contract.conftest import MARKS
from tests.connectors.contract.engines import MIS_TZ, RO_PASSWORD, MisEngine, mis_now

# A query that runs for longer than a second on each engine, reading nothing of the MIS's.
SLOW_SQL = {
    "demo": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 2000000000) SELECT COUNT(*) FROM c",
    "ident": "SELECT pg_sleep(30)",
    "opendental": "SELECT SLEEP(30)",
    "infodent": "SELECT COUNT(*) FROM RDB$FIELDS a, RDB$FIELDS b, RDB$FIELDS c, RDB$FIELDS d",
}
TRIVIAL_SQL = {
    "demo": "SELECT 1 AS one",
    "ident": "SELECT 1 AS one",
    "opendental": "SELECT 1 AS one",
    "infodent": "SELECT 1 AS one FROM RDB$DATABASE",
}
# A DSN for the same engine where nothing listens.
DEAD_DSN = {
    "demo": lambda e: e.dsn + ".missing",
    "ident": lambda e: e.dsn.replace("PORT=5432", "PORT=1"),
    "opendental": lambda e: e.dsn.replace(":3306/", ":1/"),
    "infodent": lambda e: e.dsn.replace(":3050/", ":1/"),
}
# The doctor query's first name column, misspelt: (what to replace, by what, as reported).
MISSPELT = {
    "demo": ("p.Surname", "p.Surnam", "Persons.Surnam"),
    "ident": ("p.Surname", "p.Surnam", "Persons.Surnam"),
    "opendental": ("pr.LName", "pr.LNam", "provider.LNam"),
    "infodent": ("d.FULLNAME", "d.FULLNAM", "DOCTOR.FULLNAM"),
}
REAL = [pytest.param(p, marks=MARKS[p]) for p in ("ident", "infodent", "opendental")]


@pytest.fixture(params=REAL)
def real_mis(request: pytest.FixtureRequest) -> MisEngine:
    engine: MisEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


def _cli(tmp_path: Path, mis: MisEngine, *args: str, overrides: str = "") -> Any:
    path = tmp_path / f"kabinet-{len(list(tmp_path.glob('kabinet-*.toml')))}.toml"
    write_config(path, mis.sections(tmp_path, overrides))
    return CliRunner().invoke(cli, ["--config", str(path), *args], catch_exceptions=False)


# -- the driver ---------------------------------------------------------------------------


def test_a_slow_query_is_cancelled_and_the_next_one_works(mis: MisEngine, tmp_path: Path) -> None:
    connector = open_connector(mis.config(tmp_path, query_timeout_seconds=1))
    try:
        with pytest.raises(ConnectorError) as caught:
            connector.query(SLOW_SQL[mis.profile], [])
        assert (caught.value.kind, caught.value.retryable) == ("timeout", True), caught.value
        # The broken connection is dropped and the next read opens a fresh one.
        assert connector.query(TRIVIAL_SQL[mis.profile], []) == [{"one": 1}]
    finally:
        connector.close()


def test_a_dead_server_is_unreachable_and_worth_retrying(mis: MisEngine, tmp_path: Path) -> None:
    config = mis.config(tmp_path)
    dead = config.replace(mis={"dsn": DEAD_DSN[mis.profile](mis)})
    connector = open_connector(dead)
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    assert (caught.value.kind, caught.value.retryable) == ("unreachable", True), caught.value


def test_a_wrong_password_is_refused_and_never_shown(
    real_mis: MisEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if real_mis.profile == "ident":
        # The tests' PostgreSQL trusts local logins; the password sits in the connection
        # string instead, where a driver's message could echo it.
        config = real_mis.config(
            tmp_path, dsn=real_mis.dsn.replace("PORT=5432", "PORT=1") + ";PWD=Wr0ng-Secret-42"
        )
        expected_kind = "unreachable"
    else:
        config = real_mis.config(tmp_path, password="Wr0ng-Secret-42")
        expected_kind = "permission"
    caplog.set_level(logging.DEBUG)
    connector = open_connector(config)
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    assert caught.value.kind == expected_kind, caught.value
    assert "Wr0ng-Secret-42" not in str(caught.value) and "Wr0ng-Secret-42" not in caplog.text
    assert "Wr0ng-Secret-42" not in repr(connector)


@contextmanager
def _revoked(mis: MisEngine) -> Iterator[str]:
    """Take SELECT on one table away from Kabinet's account; give it back afterwards.
    Yields the entity whose query reads that table."""
    if mis.profile == "ident":
        import psycopg2

        conn = psycopg2.connect(mis.extra["admin_dsn"])
        conn.autocommit = True
        role = mis.extra["role"]
        with conn.cursor() as cur:
            cur.execute(f"REVOKE SELECT ON PaymentsOut FROM {role}")
        try:
            yield "payment_reversal"
        finally:
            with conn.cursor() as cur:
                cur.execute(f"GRANT SELECT ON PaymentsOut TO {role}")
            conn.close()
    elif mis.profile == "opendental":
        from tests.connectors.contract.engines import _mariadb_admin

        conn, _ = _mariadb_admin(mis.extra["admin_dsn"])
        db, user = mis.extra["db"], mis.extra["user"]
        tables = ("definition", "preference", "provider", "patient", "appointment",
                  "histappointment", "procedurecode", "procedurelog", "payment")  # fmt: skip
        with conn.cursor() as cur:
            cur.execute(f"REVOKE SELECT ON {db}.* FROM '{user}'@'%'")
            for table in tables:  # everything but paysplit
                cur.execute(f"GRANT SELECT ON {db}.{table} TO '{user}'@'%'")
        try:
            yield "payment_split_refund"
        finally:
            with conn.cursor() as cur:
                for table in tables:
                    cur.execute(f"REVOKE SELECT ON {db}.{table} FROM '{user}'@'%'")
                cur.execute(f"GRANT SELECT ON {db}.* TO '{user}'@'%'")
            conn.close()
    else:
        import fdb

        x = mis.extra
        conn = fdb.connect(
            host=x["host"],
            port=x["port"],
            database=x["path"],
            user=x["user"],
            password=x["password"],
        )
        cur = conn.cursor()
        cur.execute(f"REVOKE SELECT ON TREAT FROM {x['ro_user']}")
        conn.commit()
        try:
            yield "appointment_treat"
        finally:
            cur.execute(f"GRANT SELECT ON TREAT TO {x['ro_user']}")
            conn.commit()
            conn.close()


# -- kabinet mis check / dump / sync --once --------------------------------------------------


def test_mis_check_runs_every_query(mis: MisEngine, tmp_path: Path) -> None:
    result = _cli(tmp_path, mis, "mis", "check")
    assert result.exit_code == 0, result.output
    for entity in load_profile(mis.profile).entities:
        assert f"✓ {entity}: OK" in result.output
    assert RO_PASSWORD not in result.output


def test_mis_check_names_a_missing_column_and_the_fix(mis: MisEngine, tmp_path: Path) -> None:
    wrong, misspelt, reported = MISSPELT[mis.profile]
    sql = load_profile(mis.profile).entities["doctor"].sql.replace(wrong, misspelt)
    overrides = '[entity.doctor]\nsql = """' + sql + '"""\n'
    result = _cli(tmp_path, mis, "mis", "check", overrides=overrides)
    assert result.exit_code == 1
    assert (
        f"✗ doctor: column {reported} not found — check the " in result.output
        and "override entity.doctor.sql in mis.profile_overrides" in result.output
    ), result.output
    assert "✓ patient: OK" in result.output  # the other queries still ran


def test_mis_check_names_a_missing_grant(real_mis: MisEngine, tmp_path: Path) -> None:
    with _revoked(real_mis) as entity:
        result = _cli(tmp_path, real_mis, "mis", "check")
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if ln.startswith(f"✗ {entity}:"))
    assert "permission denied" in line and "grant the Kabinet account SELECT" in line, line
    assert "docs/mis-access.md" in line


def test_mis_check_says_when_the_server_is_down(mis: MisEngine, tmp_path: Path) -> None:
    path = tmp_path / "dead.toml"
    sections = mis.sections(tmp_path)
    sections["mis"]["dsn"] = DEAD_DSN[mis.profile](mis)
    write_config(path, sections)
    result = CliRunner().invoke(cli, ["--config", str(path), "mis", "check"])
    assert result.exit_code == 1
    assert "✗ cannot connect to the" in result.output and "check mis.dsn" in result.output


def test_mis_dump_prints_canonical_json_lines(mis: MisEngine, tmp_path: Path) -> None:
    writer = mis.writer_factory()
    try:
        doctor = writer.add_doctor("Дампова", "Вера", "Ильинична")
        patient = writer.add_patient(
            "Дампов", "Пётр", "Ильич", "8 (922) 111-22-33", date(1990, 2, 3)
        )
        start = (mis_now() + timedelta(days=3)).replace(hour=8, minute=0, second=0)
        visit = writer.book(patient, doctor, start)
    finally:
        writer.close()
    patients = _cli(tmp_path, mis, "mis", "dump", "patient", "--limit", "100000")
    assert patients.exit_code == 0, patients.output
    records = [json.loads(line) for line in patients.output.splitlines()]
    mine = next(r for r in records if r["mis_id"] == patient)
    assert (mine["record"], mine["last_name"], mine["first_name"], mine["middle_name"]) == (
        "patient",
        "Дампов",
        "Пётр",
        "Ильич",
    )
    assert mine["phones"] == ["+79221112233"] and mine["birth_date"] == "1990-02-03"
    visits = _cli(tmp_path, mis, "mis", "dump", "appointment", "--limit", "100000")
    # By its id, not by the id's text in a line: another visit may have it as a patient's.
    booked = next(r for r in map(json.loads, visits.output.splitlines()) if r["mis_id"] == visit)
    assert booked["starts_at"] == str(start.replace(tzinfo=MIS_TZ))  # the MIS's own zone
    assert (booked["patient_id"], booked["doctor_id"], booked["status"]) == (
        patient,
        doctor,
        "scheduled",
    )
    unknown = _cli(tmp_path, mis, "mis", "dump", "visits")
    assert unknown.exit_code != 0 and "expected one of doctor, patient" in unknown.output


def test_sync_once_prints_what_changed(mis: MisEngine, tmp_path: Path) -> None:
    first = _cli(tmp_path, mis, "sync", "--once")
    assert first.exit_code == 0, first.output
    assert "patient:" in first.output and "events:" not in first.output  # the import
    writer = mis.writer_factory()
    try:
        doctor = writer.add_doctor("Синкова", "Анна", "Львовна")
        patient = writer.add_patient(
            "Синков", "Лев", "Олегович", "+7 922 333-44-55", date(1970, 7, 7)
        )
        visit = writer.book(
            patient, doctor, (mis_now() + timedelta(days=4)).replace(hour=9, minute=0, second=0)
        )
    finally:
        writer.close()
    second = _cli(tmp_path, mis, "sync", "--once")
    assert second.exit_code == 0, second.output
    assert f"  appointment.created {visit}" in second.output
    assert "appointment.created ×1" in second.output


# -- the timestamp cursor's hard cases (Open Dental's DateTStamp, Инфодент's MODIFYDATE) ---

TIMESTAMPED = [pytest.param(p, marks=MARKS[p]) for p in ("infodent", "opendental")]


@pytest.fixture(params=TIMESTAMPED)
def stamped_mis(request: pytest.FixtureRequest) -> MisEngine:
    engine: MisEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def stamped(
    stamped_mis: MisEngine, tmp_path: Path
) -> Iterator[tuple[Config, sessionmaker[Session]]]:
    """This engine's configuration and a migrated local store."""
    config = stamped_mis.config(tmp_path)
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    yield config, session_factory(engine)
    engine.dispose()


def _stamp(mis: MisEngine, patient: str, phone: str, stamp: datetime) -> None:
    """Change a patient's phone with a change time chosen by the test."""
    if mis.profile == "opendental":
        from tests.connectors.contract.engines import _mariadb_admin

        conn, _ = _mariadb_admin(mis.extra["admin_dsn"])
        with conn.cursor() as cur:
            cur.execute(
                f"UPDATE {mis.extra['db']}.patient SET WirelessPhone = %s, DateTStamp = %s"
                " WHERE PatNum = %s",
                (phone, stamp, int(patient)),
            )
        conn.close()
    else:
        import fdb

        x = mis.extra
        conn = fdb.connect(
            host=x["host"],
            port=x["port"],
            database=x["path"],
            user=x["user"],
            password=x["password"],
        )
        conn.cursor().execute(
            "UPDATE CLIENTS SET PHONE1 = ?, MODIFYDATE = ? WHERE PCODE = ?",
            (phone, stamp, int(patient)),
        )
        conn.commit()
        conn.close()


def _patient_cursor(factory: sessionmaker[Session]) -> datetime:
    with factory() as s:
        value = s.get(SyncCursor, "patient").value
    return datetime.fromisoformat(json.loads(value)["ts"])


def _changed(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(DomainEvent.subject)
                .where(DomainEvent.kind == "patient.changed")
                .order_by(DomainEvent.id)
            )
        )


def test_rows_stamped_in_the_cursors_second_or_committed_late_are_read_once(
    stamped_mis: MisEngine, stamped: tuple[Config, sessionmaker[Session]]
) -> None:
    config, factory = stamped
    writer = stamped_mis.writer_factory()
    try:
        a = writer.add_patient(
            "Секундова", "Ольга", "Ивановна", "+7 922 500-00-01", date(1980, 1, 1)
        )
        b = writer.add_patient("Секундов", "Олег", "Иванович", "+7 922 500-00-02", date(1981, 1, 1))
        c = writer.add_patient("Опоздалов", "Илья", "Ильич", "+7 922 500-00-03", date(1982, 1, 1))
    finally:
        writer.close()
    connector = open_connector(config)
    sync = SyncEngine(connector, factory, batch_size=2)
    sync.run_once()
    cursor = _patient_cursor(factory)
    # a changes; the cursor lands on its second.
    _stamp(stamped_mis, a, "+7 922 500-10-01", cursor + timedelta(seconds=5))
    sync.run_once()
    cursor = _patient_cursor(factory)
    # b changes within that very second; c's change was stamped earlier but committed now
    # (a slow transaction, a workstation clock a minute behind).
    _stamp(stamped_mis, b, "+7 922 500-10-02", cursor)
    _stamp(stamped_mis, c, "+7 922 500-10-03", cursor - timedelta(seconds=60))
    sync.run_once()
    sync.run_once()  # the overlap re-reads them: nothing twice
    connector.close()
    changed = _changed(factory)
    # c's earlier stamp puts it before b in the read; each once.
    assert changed[0] == a and sorted(changed[1:]) == sorted([b, c]), changed
    with factory() as s:
        phones = {
            p.mis_id: p.phones
            for p in s.scalars(select(Patient).where(Patient.mis_id.in_([a, b, c])))
        }
    assert phones == {a: ["+79225001001"], b: ["+79225001002"], c: ["+79225001003"]}


def test_many_rows_in_one_second_do_not_stall_the_cursor(
    stamped_mis: MisEngine, stamped: tuple[Config, sessionmaker[Session]]
) -> None:
    config, factory = stamped
    writer = stamped_mis.writer_factory()
    try:
        ids = [
            writer.add_patient(
                "Пачкин", f"Номер{i}", "Тестович", f"+7 922 600-00-{i:02d}", date(1990, 1, 1)
            )
            for i in range(7)
        ]
    finally:
        writer.close()
    connector = open_connector(config)
    sync = SyncEngine(connector, factory, batch_size=3)
    sync.run_once()
    stamp = _patient_cursor(factory) + timedelta(seconds=7)
    for i, patient in enumerate(ids):
        _stamp(stamped_mis, patient, f"+7 922 600-11-{i:02d}", stamp)
    sync.run_once()  # seven rows, one second, batches of three
    connector.close()
    assert sorted(_changed(factory)) == sorted(ids)
