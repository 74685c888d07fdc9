"""Consistent backups of the local store, taken while it is in use."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from core.clock import utcnow
from core.config import Config


def _db_path(config: Config) -> Path:
    url = config.storage.url
    if not url.startswith("sqlite:///"):
        raise ValueError(
            f"storage.database_url {url!r}: backups here cover SQLite only; use pg_dump"
        )
    return Path(url[len("sqlite:///") :])


def make_backup(config: Config, target_dir: Path | None = None) -> Path:
    """SQLite's online backup API: a consistent copy even while the runner writes."""
    source = _db_path(config)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no database to back up yet")
    target_dir = target_dir or Path(config.storage.data_dir, "backups")
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    target = target_dir / f"kabinet-{stamp}.sqlite3"
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
    backups = sorted(target_dir.glob("kabinet-*.sqlite3"))
    for old in backups[: -config.storage.backup_keep]:
        old.unlink()
    return target


def restore_backup(config: Config, backup: Path) -> None:
    check = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValueError(f"{backup} fails SQLite's integrity check; not restoring it")
    finally:
        check.close()
    target = _db_path(config)
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(backup, target)
