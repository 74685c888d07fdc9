"""Whole backups: the store, the configuration and the secret key, in one checked file.

A backup is `kabinet-<UTC stamp>.tar.gz` holding

- the store: `kabinet.sqlite3`, copied with SQLite's online backup API, so the copy is
  consistent even while the runner writes; or, when the store is PostgreSQL,
  `kabinet.pgdump`, pg_dump's custom format (core.pg_store), equally consistent;
- `config.toml`: the configuration file in use, as it was (it may hold secrets, hence the
  archive's mode 0600);
- `secret_key`: <data_dir>/secret_key, which signs panel sessions, when it lives there;
- `documents/…`: every file under <data_dir>/documents/ — the PDFs sent to sign, the
  signed copies and the clinic's generated certificate and key (core.documents);
- `files/…`: every file under <data_dir>/files/ — what patients and staff sent in the
  threads (core.conversations.files) and the care instructions' attachments (core.care):
  without them a restored thread would name photos that are gone;
- `manifest.json`: the store's engine ("sqlite" or "postgresql"; none in the first
  backups, which were SQLite's), versions (Kabinet, schema, SQLite or PostgreSQL,
  Python), and the size and SHA-256 of every other member. A restore checks them all before it touches anything.

Each archive is written under a temporary name and renamed into place, so a backup that
is listed is complete. Restoring is core.restore's job; the runner lock around it is
jobs.restore's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import __version__
from core.clock import utcnow
from core.config import Config
from core.pg_store import PgStoreError, engine_of, is_postgresql, where
from core.pg_store import dump as pg_dump
from core.pg_store import facts as pg_facts

FORMAT = 1
STORE = "kabinet.sqlite3"
PG_STORE = "kabinet.pgdump"
STORES = {"sqlite": STORE, "postgresql": PG_STORE}
CONFIG = "config.toml"
SECRET = "secret_key"
MANIFEST = "manifest.json"
DOCUMENTS = "documents"  # members "documents/<path under <data_dir>/documents>"
FILES = "files"  # members "files/<path under <data_dir>/files>"
# The directories of <data_dir> whose files a backup carries and a restore puts back.
FILE_ROOTS = (DOCUMENTS, FILES)
# The kv row where the runner notes its last backup (jobs/backups.py) for /healthz.
BACKUP_KEY = "backup.last"
_NAME = re.compile(r"^kabinet-(\d{8}T\d{6}\d{6})Z\.(tar\.gz|sqlite3)$")


class BackupError(RuntimeError):
    """A backup could not be made or read; the message says what and where."""


def db_path(config: Config) -> Path:
    """The SQLite store's file (a PostgreSQL store has none: see core.pg_store)."""
    url = config.storage.url
    if not url.startswith("sqlite:///"):
        raise BackupError(
            "storage.database_url is neither a SQLite file nor PostgreSQL: these backups "
            "cover only those two"
        )
    return Path(url[len("sqlite:///") :])


def backup_dir(config: Config) -> Path:
    return Path(config.storage.data_dir, "backups")


def secret_key_path(config: Config) -> Path:
    return Path(config.storage.data_dir, "secret_key")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stamp_of(path: Path) -> datetime | None:
    """When a backup was taken, from its name (a copy's mtime says when it was copied)."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def list_backups(directory: Path) -> list[Path]:
    """Backups in a directory, oldest first (legacy bare .sqlite3 copies included)."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and stamp_of(p) is not None]
    return sorted(found, key=lambda p: (stamp_of(p), p.name))


def newest_backup(config: Config) -> Path | None:
    backups = list_backups(backup_dir(config))
    return backups[-1] if backups else None


def _secret_source(config: Config) -> str:
    if config.web.secret_key:
        in_env = os.environ.get("KABINET_SECRET_KEY") == config.web.secret_key
        return "environment" if in_env else "config"
    return "file" if secret_key_path(config).is_file() else "none"


def table_counts(connection: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
    }


def _copy_store(source: Path, target: Path) -> tuple[str | None, dict[str, int]]:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        try:
            row = dst.execute("SELECT version_num FROM alembic_version").fetchall()
            schema = "+".join(sorted(r[0] for r in row)) or None
        except sqlite3.DatabaseError:
            schema = None
        return schema, table_counts(dst)
    finally:
        dst.close()
        src.close()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_copy(source: Path, target: Path, mode: int = 0o600) -> None:
    """Copy under a temporary name in the target's directory, sync, rename into place: a
    reader never sees half a file, and a crash leaves the old one whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    copied_to: Path | None = None
    copy_error: str = ""
    pruned: int = 0


def make_backup(
    config: Config, target_dir: Path | None = None, *, prune_old: bool = True, copy: bool = True
) -> Path:
    """Write a whole backup; returns its path (see `backup` for the full result)."""
    return backup(config, target_dir, prune_old=prune_old, copy=copy).path


def data_files(config: Config) -> dict[str, Path]:
    """The files of FILE_ROOTS as backup members ("documents/12/signed.pdf",
    "files/care/3/ab12.pdf" -> its path); unfinished writes (*.part) and anything but a
    plain file are left out."""
    members: dict[str, Path] = {}
    for name in FILE_ROOTS:
        root = Path(config.storage.data_dir, name)
        if root.is_dir():
            members.update(
                (f"{name}/{path.relative_to(root).as_posix()}", path)
                for path in sorted(root.rglob("*"))
                if path.is_file() and not path.is_symlink() and path.suffix != ".part"
            )
    return members


def backup(
    config: Config, target_dir: Path | None = None, *, prune_old: bool = True, copy: bool = True
) -> BackupResult:
    url = config.storage.url
    source = None if is_postgresql(url) else db_path(config)
    if source is not None and not source.exists():
        raise BackupError(f"{source}: no database to back up yet")
    target_dir = target_dir or backup_dir(config)
    target_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(target_dir, 0o700)  # backups hold the configuration's secrets
    now = utcnow()
    target = target_dir / f"kabinet-{now.strftime('%Y%m%dT%H%M%S%f')}Z.tar.gz"
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=target_dir) as work:
        members: dict[str, Path] = {}
        engine = engine_of(url)
        store = Path(work, STORES[engine])
        versions: dict[str, str]
        if source is None:
            try:
                # Counted just before the dump: while the runner writes (a nightly backup)
                # they may differ from it by what came in meanwhile; the drill stops it.
                schema, counts, server = pg_facts(url)
                pg_dump(url, store)
            except PgStoreError as exc:
                raise BackupError(str(exc)) from None
            except Exception as exc:  # the database does not answer: say so, not a trace
                raise BackupError(
                    f"the PostgreSQL store {where(url)} cannot be read ({exc.__class__.__name__})"
                ) from None
            versions = {"postgresql_version": server}
        else:
            schema, counts = _copy_store(source, store)
            versions = {"sqlite_version": sqlite3.sqlite_version}
        members[store.name] = store
        if config.source and Path(config.source).is_file():
            members[CONFIG] = Path(config.source)
        if secret_key_path(config).is_file():
            members[SECRET] = secret_key_path(config)
        members.update(data_files(config))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "kabinet_version": __version__,
            "schema": schema,
            "engine": engine,
            **versions,
            "python": platform.python_version(),
            "host": socket.gethostname(),
            "clinic": config.clinic.name,
            "config_path": str(config.source or ""),
            "secret_key": _secret_source(config),
            "tables": counts,
            "files": {
                name: {"size": path.stat().st_size, "sha256": sha256_file(path)}
                for name, path in members.items()
            },
        }
        partial = Path(work, "archive.tar.gz")
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(now.timestamp())
            tar.addfile(info, io.BytesIO(data))
            for name, path in members.items():
                tar.add(path, arcname=name, recursive=False)
        atomic_copy(partial, target)
    result = BackupResult(target, manifest)
    copy_dir = config.storage.backup_copy_dir
    if copy and copy_dir:
        # The second copy may be a share that is not mounted tonight: the local backup
        # stands, and the error is reported (health, `kabinet status`).
        try:
            result.copied_to = Path(copy_dir, target.name)
            atomic_copy(target, result.copied_to)
            if prune_old:
                prune(Path(copy_dir), config, now)
        except OSError as exc:
            result.copied_to = None
            result.copy_error = f"copy to {copy_dir} failed: {exc}"
    if prune_old:
        result.pruned = prune(target_dir, config, now)
    return result


def to_keep(backups: list[Path], config: Config, now: datetime) -> set[Path]:
    """Every backup of the last `backup_keep` days; the newest of each of the last
    `backup_keep_weeks` weeks (weeks and days in the clinic's zone); the newest of all."""
    keep: set[Path] = set()
    if not backups:
        return keep
    keep.add(backups[-1])
    days = timedelta(days=config.storage.backup_keep)
    weeks = timedelta(weeks=config.storage.backup_keep_weeks)
    newest_of_week: dict[tuple[int, int], Path] = {}
    for path in backups:  # oldest first, so the last one seen per week is its newest
        taken = stamp_of(path)
        assert taken is not None
        if now - taken <= days:
            keep.add(path)
        if now - taken <= weeks:
            iso = taken.astimezone(config.clinic.tz).isocalendar()
            newest_of_week[(iso.year, iso.week)] = path
    keep.update(newest_of_week.values())
    return keep


def prune(directory: Path, config: Config, now: datetime | None = None) -> int:
    backups = list_backups(directory)
    keep = to_keep(backups, config, now or utcnow())
    removed = 0
    for path in backups:
        if path not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
