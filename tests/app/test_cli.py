"""The `kabinet` command as clinic IT uses it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from sandbox.demo import write_config
from sandbox.demo_clinic import build_demo_clinic, persona
from tests.conftest import clinic_now


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    build_demo_clinic(tmp_path / "clinic.sqlite3", patients=30, seed=3, now=clinic_now())
    path = tmp_path / "kabinet.toml"
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3")},
            "telegram": {"mode": "off"},
        },
    )
    return path


def run(cfg_file: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(cfg_file), *args], catch_exceptions=False)


def test_config_check_accepts_a_good_file_and_names_the_bad_key(
    cfg_file: Path, tmp_path: Path
) -> None:
    ok = run(cfg_file, "config", "check")
    assert ok.exit_code == 0 and "configuration is valid" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[web]\nport = "eighty"\n')
    result = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "web.port = 'eighty': expected a whole number" in result.output


def test_a_broken_config_stops_any_command_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[clinic]\ntimezone = "Mars/Olympus"\n')
    result = CliRunner().invoke(cli, ["--config", str(bad), "sync", "--once"])
    assert result.exit_code != 0
    assert "clinic.timezone = 'Mars/Olympus'" in result.output


def test_mis_check_and_dump(cfg_file: Path) -> None:
    check = run(cfg_file, "mis", "check")
    assert check.exit_code == 0, check.output
    for entity in ("doctor", "patient", "appointment", "payment", "payment_reversal", "deletion"):
        assert f"✓ {entity}: OK" in check.output
    dump = run(cfg_file, "mis", "dump", "patient", "--limit", "500")
    records = [json.loads(line) for line in dump.output.splitlines()]
    anna = next(r for r in records if r["mis_id"] == str(persona("anna").patient_id))
    assert anna["phones"] == ["+79123456789"] and anna["middle_name"] == "Сергеевна"
    unknown = CliRunner().invoke(cli, ["--config", str(cfg_file), "mis", "dump", "patients"])
    assert unknown.exit_code != 0 and "expected one of doctor, patient" in unknown.output


def test_mis_check_tells_a_wrong_phone_region_or_time_zone(tmp_path: Path) -> None:
    # The demo clinic with a US clinic's numbers, read first as configured for Russia.
    build_demo_clinic(tmp_path / "clinic.sqlite3", patients=30, seed=3, now=clinic_now())
    with sqlite3.connect(tmp_path / "clinic.sqlite3") as con:
        con.execute("UPDATE Persons SET MobilePhone = '(212) 555-1234'")
        con.execute("DELETE FROM OwnPhones")
        patients = con.execute("SELECT COUNT(*) FROM Patients").fetchone()[0]
    con.close()

    def check(region: str = "RU", mis_zone: str = "") -> str:
        path = tmp_path / "kabinet.toml"
        mis = {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3"), "timezone": mis_zone}
        clinic = {"phone_region": region}
        write_config(path, {"storage": {"data_dir": str(tmp_path)}, "mis": mis, "clinic": clinic})
        result = run(path, "mis", "check")
        assert result.exit_code == 0, result.output  # warnings: every query works
        return str(result.output)

    russia = check()
    assert (
        f"⚠ phones: {patients} of {patients} phones could not be read as numbers of region RU, "
        "e.g. '(212) 555-1234' — most of them: is clinic.phone_region right?" in russia
    ), russia
    assert "✓ visit times: " in russia and "⚠ visit times" not in russia
    us = check("US")
    assert f"✓ phones: all {patients} phones read as numbers of region US" in us, us
    # The MIS server's clock read as Los Angeles time: the visits (09:00-20:00 in Moscow)
    # start at night in Moscow.
    wrong = check("US", mis_zone="America/Los_Angeles")
    assert "⚠ visit times: " in wrong and "is clinic.timezone right" in wrong, wrong


def test_mis_check_reports_a_missing_database(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path)},
            "mis": {"profile": "demo", "dsn": str(tmp_path / "none.sqlite3")},
        },
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "mis", "check"])
    assert result.exit_code == 1
    assert "cannot connect to the demo clinic database" in result.output
    assert "check mis.dsn" in result.output


def _the_account_made_here_is_in_the_audit_log(cfg_file: Path, output: str) -> None:
    from sqlalchemy import select

    from app.cli import CLI_ACTOR_LOGIN
    from core.access.models import AuditEntry
    from core.config import load
    from core.db import make_engine, session_factory

    engine = make_engine(load(str(cfg_file)).storage.url)
    with session_factory(engine)() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "staff.add")))
    engine.dispose()
    assert len(entries) == 1  # the refused second `add` left none
    entry = entries[0]
    assert entry.user_id is None and entry.user_login == CLI_ACTOR_LOGIN
    assert entry.summary.startswith("kabinet user add olga --role admin")
    assert output.rsplit("password: ", 1)[1].strip() not in repr(entry.summary) + repr(
        entry.changes
    )
    (staff,) = [c for c in entry.changes if c["table"] == "staff_users"]
    assert staff["op"] == "insert" and staff["after"]["login"] == "olga"
    assert staff["after"]["full_name"] == "Ольга" and staff["after"]["password_hash"] == "***"


def test_sync_once_then_ledger_verify_backup_and_users(cfg_file: Path, tmp_path: Path) -> None:
    first = run(cfg_file, "sync", "--once")
    assert first.exit_code == 0 and "patient:" in first.output
    second = run(cfg_file, "sync", "--once")
    assert "events:" not in second.output  # nothing changed in between
    verify = run(cfg_file, "ledger", "verify")
    assert verify.exit_code == 0 and "every balance equals" in verify.output
    added = run(cfg_file, "user", "add", "olga", "--role", "admin", "--name", "Ольга")
    assert added.exit_code == 0 and "password:" in added.output
    again = CliRunner().invoke(cli, ["--config", str(cfg_file), "user", "add", "olga"])
    assert again.exit_code != 0 and "already exists" in again.output
    _the_account_made_here_is_in_the_audit_log(cfg_file, added.output)
    backup = run(cfg_file, "backup")
    path = Path(backup.output.strip())
    assert path.exists() and path.parent == tmp_path / "data" / "backups"
    restored = run(cfg_file, "restore", str(path), "--yes")
    assert restored.exit_code == 0
    assert not (tmp_path / "kabinet.sqlite3").exists()  # a check creates no store


def test_mis_check_reads_the_connection_kept_in_the_panel(cfg_file: Path, tmp_path: Path) -> None:
    """After the owner moved the MIS on «Подключение к МИС», `mis check` checks the
    connection the runner uses; `--file` still checks the file's (here: gone)."""
    from app.storage import prepare_storage
    from core.config import load
    from core.db import make_engine, session_factory
    from core.settings import store

    config = load(str(cfg_file))
    prepare_storage(config)
    moved = tmp_path / "moved.sqlite3"
    (tmp_path / "clinic.sqlite3").rename(moved)
    engine = make_engine(config.storage.url)
    with session_factory(engine)() as s:
        store.save(s, config, {"mis.dsn": str(moved)}, "owner")
        s.commit()
    engine.dispose()
    kept = run(cfg_file, "mis", "check")
    assert kept.exit_code == 0, kept.output
    assert "kept in the panel" in kept.output and "✓ patient: OK" in kept.output
    dump = run(cfg_file, "mis", "dump", "doctor", "--limit", "1")
    assert dump.exit_code == 0 and json.loads(dump.output.splitlines()[0])["record"] == "doctor"
    own = CliRunner().invoke(cli, ["--config", str(cfg_file), "mis", "check", "--file"])
    assert own.exit_code == 1 and "cannot connect to the demo clinic database" in own.output
