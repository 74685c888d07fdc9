"""Whole backups and the restore drill, through the `kabinet` command as clinic IT runs it.

The drill: a store with real data (the demo clinic synced, the loyalty rules applied) is
backed up, then damaged; the restore brings back exactly the original (row counts and a
hash of every row of every table), `kabinet ledger verify` agrees, and what the restore
replaced is kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import stat
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner

from app.cli import cli
from core.backup import list_backups, stamp_of, to_keep
from core.config import load
from sandbox.demo import write_config
from sandbox.demo_clinic import build_demo_clinic
from tests.conftest import clinic_now, make_config


def write_cfg(tmp_path: Path, **storage: object) -> Path:
    build_demo_clinic(tmp_path / "clinic.sqlite3", patients=30, seed=5, now=clinic_now())
    path = tmp_path / "kabinet.toml"
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path / "data"), **storage},
            "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3")},
            "telegram": {"mode": "off"},
        },
    )
    return path


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    return write_cfg(tmp_path)


def run(cfg_file: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(cfg_file), *args], catch_exceptions=False)


def store(cfg_file: Path) -> Path:
    return Path(load(cfg_file, environ={}).storage.url.removeprefix("sqlite:///"))


def fingerprint(db: Path) -> tuple[dict[str, int], str]:
    """Row counts per table and one SHA-256 over every row of every table, in order."""
    conn = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        digest = hashlib.sha256()
        counts = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            counts[table] = len(rows)
            digest.update(table.encode())
            for row in sorted(repr(r) for r in rows):
                digest.update(row.encode())
        return counts, digest.hexdigest()
    finally:
        conn.close()


def backup(cfg_file: Path) -> Path:
    result = run(cfg_file, "backup")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def test_a_backup_holds_the_store_the_config_and_the_secret_key(cfg_file: Path) -> None:
    assert run(cfg_file, "sync", "--once").exit_code == 0
    secret = Path(load(cfg_file, environ={}).storage.data_dir, "secret_key")
    secret.write_text("s3cr3t-session-key")
    path = backup(cfg_file)
    assert path.name.endswith(".tar.gz") and stamp_of(path) is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the config's secrets
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = json.loads(member.read())
        assert set(tar.getnames()) == {
            "manifest.json",
            "kabinet.sqlite3",
            "config.toml",
            "secret_key",
        }
        for name, facts in manifest["files"].items():
            data = tar.extractfile(name).read()  # type: ignore[union-attr]
            assert len(data) == facts["size"]
            assert hashlib.sha256(data).hexdigest() == facts["sha256"]
        assert tar.extractfile("config.toml").read() == cfg_file.read_bytes()  # type: ignore[union-attr]
        assert tar.extractfile("secret_key").read() == b"s3cr3t-session-key"  # type: ignore[union-attr]
    from core import __version__
    from core.migrate import head_revision

    assert manifest["kabinet_version"] == __version__
    assert manifest["schema"] == head_revision()
    assert manifest["sqlite_version"] == sqlite3.sqlite_version
    assert manifest["tables"]["patients"] == fingerprint(store(cfg_file))[0]["patients"] > 0
    check = run(cfg_file, "restore", "--check", str(path))
    assert check.exit_code == 0 and "whole" in check.output


def earn_and_spend(cfg_file: Path) -> None:
    """Ledger entries, lots and allocations for the synced patients, as the rules write."""
    from sqlalchemy import select

    from core import ledger
    from core.db import make_engine, session_factory, transaction
    from core.models import Patient

    engine = make_engine(load(cfg_file, environ={}).storage.url)
    with transaction(session_factory(engine)) as session:
        for n, mis_id in enumerate(session.scalars(select(Patient.mis_id).limit(10))):
            account = ledger.account_for(session, "patient", mis_id)
            ledger.credit(session, account, 100 + n, kind="earn", cause=f"drill:{mis_id}")
            ledger.debit(session, account, 30, kind="redeem", cause=f"drill-spend:{mis_id}")
    engine.dispose()


def test_restore_drill_brings_back_exactly_the_original(cfg_file: Path) -> None:
    assert run(cfg_file, "sync", "--once").exit_code == 0
    earn_and_spend(cfg_file)
    db = store(cfg_file)
    original = fingerprint(db)
    assert original[0]["patients"] > 0 and original[0]["ledger_entries"] > 0, original[0]
    secret = Path(db.parent, "secret_key")
    secret.write_text("the key from before")
    path = backup(cfg_file)

    # Damage after the backup: rows lost, rows changed, a new key.
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM appointments WHERE id % 2 = 0")
        conn.execute("UPDATE patients SET last_name = 'X'")
        conn.execute("UPDATE loyalty_accounts SET balance = balance + 5")
    conn.close()
    secret.write_text("a key made later")
    damaged = fingerprint(db)
    assert damaged != original
    assert run(cfg_file, "ledger", "verify").exit_code == 1  # the drill's damage shows

    restored = run(cfg_file, "restore", "--yes", str(path))
    assert restored.exit_code == 0, restored.output
    assert fingerprint(db) == original
    assert secret.read_text() == "the key from before"
    verify = run(cfg_file, "ledger", "verify")
    assert verify.exit_code == 0 and "every balance equals" in verify.output

    # What it replaced is kept, whole, and can itself be restored.
    kept = Path(restored.output.split("is kept in ")[1].split()[0])
    assert kept.parent.name == "before-restore" and kept.exists()
    again = run(cfg_file, "restore", "--yes", str(kept))
    assert again.exit_code == 0, again.output
    assert fingerprint(db) == damaged
    assert secret.read_text() == "a key made later"


def _retar(source: Path, target: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            data = change.get(member.name, old.extractfile(member).read())  # type: ignore[union-attr]
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


def test_a_damaged_or_foreign_backup_is_refused_before_anything_is_touched(
    cfg_file: Path, tmp_path: Path
) -> None:
    assert run(cfg_file, "sync", "--once").exit_code == 0
    path = backup(cfg_file)
    db = store(cfg_file)
    before = fingerprint(db)
    with tarfile.open(path) as tar:
        good = tar.extractfile("kabinet.sqlite3").read()  # type: ignore[union-attr]
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    damaged = tmp_path / "kabinet-20260101T000000000000Z.tar.gz"
    _retar(path, damaged, {"kabinet.sqlite3": bytes(flipped)})
    result = run(cfg_file, "restore", "--yes", str(damaged))
    assert result.exit_code != 0
    assert "does not match the manifest" in result.output
    assert fingerprint(db) == before
    assert not (db.parent / "backups" / "before-restore").exists()

    # A store from a newer release (a schema revision this one does not know).
    newer = tmp_path / "newer.sqlite3"
    newer.write_bytes(good)
    conn = sqlite3.connect(newer)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed0001'")
    conn.close()
    foreign = tmp_path / "kabinet-20260102T000000000000Z.sqlite3"
    foreign.write_bytes(newer.read_bytes())
    result = run(cfg_file, "restore", "--yes", str(foreign))
    assert result.exit_code != 0 and "newer Kabinet" in result.output
    assert fingerprint(db) == before

    junk = tmp_path / "kabinet-20260103T000000000000Z.tar.gz"
    junk.write_bytes(b"not an archive")
    result = run(cfg_file, "restore", "--yes", str(junk))
    assert result.exit_code != 0 and "not a Kabinet backup archive" in result.output


def test_the_second_copy_and_its_failure(tmp_path: Path) -> None:
    copies = tmp_path / "usb"
    cfg_file = write_cfg(tmp_path, backup_copy_dir=str(copies))
    assert run(cfg_file, "sync", "--once").exit_code == 0
    result = run(cfg_file, "backup")
    path = Path(result.output.strip().splitlines()[-1])
    assert (copies / path.name).read_bytes() == path.read_bytes()
    # The share is not mounted tonight (here: a file where the directory should be).
    copies.rename(tmp_path / "usb.old")
    copies.write_text("")
    result = run(cfg_file, "backup")
    assert result.exit_code == 0
    assert "warning: copy to" in result.output
    assert Path(result.output.strip().splitlines()[-1]).exists()


def test_retention_keeps_days_then_weeks_and_always_the_newest(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, storage={"backup_keep": 7, "backup_keep_weeks": 4}, clinic={"timezone": "UTC"}
    )
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a Sunday
    folder = tmp_path / "b"
    folder.mkdir()
    for hours in range(0, 24 * 60, 12):  # two a day for 60 days
        taken = now - timedelta(hours=hours)
        (folder / f"kabinet-{taken.strftime('%Y%m%dT%H%M%S%f')}Z.tar.gz").write_bytes(b"")
    backups = list_backups(folder)
    keep = to_keep(backups, config, now)
    ages = sorted((now - stamp_of(p)).total_seconds() / 86400 for p in keep)  # type: ignore[operator]
    assert [a for a in ages if a <= 7] == [x / 2 for x in range(15)]  # all of the last 7 days
    older = [a for a in ages if a > 7]
    assert older and max(older) <= 28 and len(older) <= 4  # one a week for 4 weeks
    assert to_keep(backups[:1], config, now + timedelta(days=400)) == {backups[0]}

    with time_machine.travel(now, tick=False):
        from core.backup import prune

        removed = prune(folder, config)
    assert removed == len(backups) - len(keep)
    assert set(list_backups(folder)) == keep


def test_the_runners_nightly_and_catch_up_backups(wired, clock) -> None:  # type: ignore[no-untyped-def]
    from core.backup import BACKUP_KEY, newest_backup
    from core.models import KeyValue
    from jobs import backups

    appliance = wired.appliance
    assert newest_backup(wired.config) is None
    first = backups.catch_up(appliance)  # a fresh installation: backed up at once
    assert first and Path(first) == newest_backup(wired.config)
    clock.advance(timedelta(hours=24))
    assert backups.catch_up(appliance) == ""  # the newest is fresh enough
    clock.advance(timedelta(hours=2))  # the night's backup was missed
    second = backups.catch_up(appliance)
    assert second and second != first
    with appliance.factory() as session:
        row = session.get(KeyValue, BACKUP_KEY)
        assert row is not None
        assert row.value["ok"] is True and row.value["path"] == second
    Path(second).unlink()
    Path(first).unlink()
    Path(appliance.config.storage.url.removeprefix("sqlite:///")).rename(
        Path(wired.config.storage.data_dir, "moved.sqlite3")
    )
    assert backups.nightly(appliance) == ""  # fails, and says why
    with appliance.factory() as session:
        row = session.get(KeyValue, BACKUP_KEY)
        assert row is not None and row.value["ok"] is False and "no database" in row.value["error"]
