"""Backups and the restore drill with PostgreSQL as the store, through `kabinet` as clinic
IT runs it (pg_dump / pg_restore, the same archive and checks as SQLite's).

Each test has a database of its own on the server at 127.0.0.1:5432 (conftest's pg_url).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from core.config import load
from core.pg_store import libpq_env
from jobs.lock import PgAdvisoryLock
from tests.jobs.test_backup_restore import backup, earn_and_spend, run, write_cfg

pytestmark = pytest.mark.postgres


def fingerprint(url: str) -> tuple[dict[str, int], str]:
    """Row counts per table and one SHA-256 over every row of every table, in order."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            digest = hashlib.sha256()
            counts = {}
            for table in sorted(inspect(c).get_table_names()):
                rows = c.execute(text(f'SELECT * FROM "{table}"')).fetchall()
                counts[table] = len(rows)
                digest.update(table.encode())
                for row in sorted(repr(tuple(r)) for r in rows):
                    digest.update(row.encode())
        return counts, digest.hexdigest()
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        for statement in statements:
            c.execute(text(statement))
    engine.dispose()


@pytest.fixture
def pg_cfg(tmp_path: Path, pg_url: str) -> Path:
    cfg = write_cfg(tmp_path, database_url=pg_url)
    assert run(cfg, "sync", "--once").exit_code == 0
    return cfg


def test_restore_drill_on_postgresql(pg_cfg: Path, pg_url: str) -> None:
    earn_and_spend(pg_cfg)
    original = fingerprint(pg_url)
    assert original[0]["patients"] > 0 and original[0]["ledger_entries"] > 0, original[0]
    secret = Path(load(pg_cfg, environ={}).storage.data_dir, "secret_key")
    secret.write_text("the key from before")
    path = backup(pg_cfg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with tarfile.open(path) as tar:
        assert set(tar.getnames()) == {
            "manifest.json",
            "kabinet.pgdump",
            "config.toml",
            "secret_key",
        }
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        dump = tar.extractfile("kabinet.pgdump").read()  # type: ignore[union-attr]
    assert dump.startswith(b"PGDMP")  # pg_dump's custom format
    assert manifest["engine"] == "postgresql" and manifest["postgresql_version"]
    assert hashlib.sha256(dump).hexdigest() == manifest["files"]["kabinet.pgdump"]["sha256"]
    assert manifest["tables"]["patients"] == original[0]["patients"]
    check = run(pg_cfg, "restore", "--check", str(path))
    assert check.exit_code == 0 and "whole" in check.output, check.output

    # Damage after the backup, and a table a later migration would have made.
    execute(
        pg_url,
        "DELETE FROM appointments WHERE id % 2 = 0",
        "UPDATE patients SET last_name = 'X'",
        "UPDATE loyalty_accounts SET balance = balance + 5",
        "CREATE TABLE from_a_newer_release (id integer PRIMARY KEY)",
    )
    secret.write_text("a key made later")
    damaged = fingerprint(pg_url)
    assert damaged != original
    assert run(pg_cfg, "ledger", "verify").exit_code == 1

    restored = run(pg_cfg, "restore", "--yes", str(path))
    assert restored.exit_code == 0, restored.output
    assert fingerprint(pg_url) == original  # the newer table is gone too
    assert secret.read_text() == "the key from before"
    verify = run(pg_cfg, "ledger", "verify")
    assert verify.exit_code == 0 and "every balance equals" in verify.output

    # What it replaced is a pg_dump of its own, and can itself be restored.
    kept = Path(restored.output.split("is kept in ")[1].split()[0])
    assert kept.parent.name == "before-restore" and kept.name.endswith(".tar.gz")
    again = run(pg_cfg, "restore", "--yes", str(kept))
    assert again.exit_code == 0, again.output
    assert fingerprint(pg_url) == damaged
    assert secret.read_text() == "a key made later"


def test_a_backup_goes_back_only_into_the_same_engine(
    pg_cfg: Path, pg_url: str, tmp_path: Path
) -> None:
    pg_backup = backup(pg_cfg)
    (tmp_path / "lite").mkdir()
    sqlite_cfg = write_cfg(tmp_path / "lite")
    assert run(sqlite_cfg, "sync", "--once").exit_code == 0
    sqlite_backup = backup(sqlite_cfg)
    before = fingerprint(pg_url)

    refused = run(pg_cfg, "restore", "--yes", str(sqlite_backup))
    assert refused.exit_code != 0
    assert "backup of a SQLite store" in refused.output and "is PostgreSQL" in refused.output
    assert fingerprint(pg_url) == before
    refused = run(sqlite_cfg, "restore", "--yes", str(pg_backup))
    assert refused.exit_code != 0
    assert "backup of a PostgreSQL store" in refused.output and "is SQLite" in refused.output
    assert not Path(tmp_path / "lite" / "data" / "backups" / "before-restore").exists()


def test_a_damaged_dump_is_refused_before_anything_is_touched(
    pg_cfg: Path, pg_url: str, tmp_path: Path
) -> None:
    from tests.jobs.test_backup_restore import _retar

    path = backup(pg_cfg)
    before = fingerprint(pg_url)
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    # Not pg_dump output, but its sums agree: pg_restore's own check catches it.
    junk = b"not a dump at all"
    manifest["files"]["kabinet.pgdump"] = {
        "size": len(junk),
        "sha256": hashlib.sha256(junk).hexdigest(),
    }
    forged = tmp_path / "kabinet-20260101T000000000000Z.tar.gz"
    _retar(path, forged, {"kabinet.pgdump": junk, "manifest.json": json.dumps(manifest).encode()})
    result = run(pg_cfg, "restore", "--yes", str(forged))
    assert result.exit_code != 0 and "not a pg_dump archive" in result.output, result.output
    assert fingerprint(pg_url) == before
    assert not Path(load(pg_cfg, environ={}).storage.data_dir, "backups", "before-restore").exists()

    # A dump of a store a newer release migrated: its revision is read from the dump itself.
    execute(pg_url, "UPDATE alembic_version SET version_num = 'f00dfeed0001'")
    newer = backup(pg_cfg)
    execute(pg_url, "DROP TABLE patients CASCADE")  # so a restore would show
    result = run(pg_cfg, "restore", "--yes", str(newer))
    assert result.exit_code != 0 and "newer Kabinet" in result.output, result.output
    assert "'f00dfeed0001'" in result.output
    assert "patients" not in fingerprint(pg_url)[0]  # nothing restored


def test_restore_is_refused_while_the_runner_holds_the_advisory_lock(
    pg_cfg: Path, pg_url: str
) -> None:
    path = backup(pg_cfg)
    runner = PgAdvisoryLock(pg_url)
    runner.acquire()
    try:
        refused = run(pg_cfg, "restore", "--yes", str(path))
        assert refused.exit_code != 0
        assert "Kabinet is running" in refused.output and "PostgreSQL backend" in refused.output
    finally:
        runner.release()
    assert run(pg_cfg, "restore", "--yes", str(path)).exit_code == 0


def test_the_password_reaches_libpq_in_a_passfile_that_is_removed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql+psycopg2://clinic:p%40ss:w0rd@db.clinic.local:6432/kabinet?sslmode=require"
    with libpq_env(url) as env:
        passfile = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        assert passfile.read_text() == "*:*:*:*:p@ss\\:w0rd\n"
        assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
            "db.clinic.local",
            "6432",
            "clinic",
            "kabinet",
        )
        assert env["PGSSLMODE"] == "require" and "PGPASSWORD" not in env
        assert not any("p@ss" in value for key, value in env.items() if key != "PGPASSFILE")
    assert not passfile.exists()
    monkeypatch.setenv("PGPASSWORD", "elsewhere")  # one left in the caller's environment…
    with libpq_env("postgresql://u@h/db") as env:
        assert "PGPASSWORD" not in env and env["PGPASSFILE"] == os.devnull  # …is not used


def test_the_runner_backs_up_a_postgresql_store_and_health_sees_it(
    pg_cfg: Path, pg_url: str
) -> None:
    from types import SimpleNamespace

    from core.clock import utcnow
    from core.db import make_engine, session_factory
    from jobs import backups

    engine = make_engine(pg_url)
    # What jobs.backups uses of the runner: its configuration, clock and store.
    runner = SimpleNamespace(
        config=load(pg_cfg, environ={}), clock=utcnow, factory=session_factory(engine)
    )
    taken = backups.catch_up(runner)  # type: ignore[arg-type]
    engine.dispose()
    assert taken, "no backup at the first start"
    with tarfile.open(taken) as tar:
        assert "kabinet.pgdump" in tar.getnames()
    status = run(pg_cfg, "status", "--json")
    report = json.loads(status.output)
    assert report["checks"]["backup"]["ok"] is True, report["checks"]["backup"]
    assert report["checks"]["backup"]["newest"] == taken


def test_stop_runner_stops_the_runner_that_holds_the_advisory_lock(
    pg_cfg: Path, pg_url: str
) -> None:
    import subprocess
    import sys
    import time

    path = backup(pg_cfg)
    # A stand-in runner: another process on this machine holding the runner's lock, named
    # as the runner names its connection ("kabinet-runner <host> pid <pid>").
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from jobs.lock import PgAdvisoryLock; "
            "lock = PgAdvisoryLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
            "time.sleep(120)",
            pg_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = run(pg_cfg, "restore", "--yes", "--stop-runner", str(path))
        assert result.exit_code == 0, result.output
        assert f"stopping the running Kabinet (pid {holder.pid})" in result.output
        assert "start it again" in result.output
        assert holder.wait(timeout=10) != 0 and time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()
