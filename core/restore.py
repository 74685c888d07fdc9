"""Putting a backup back: checked whole first, a safety copy of what it replaces, atomic.

The caller holds the runner lock (jobs.restore): nothing writes the store meanwhile.

1. The archive is opened and every member checked against the manifest (size, SHA-256),
   the store against SQLite's integrity check (a PostgreSQL dump: pg_restore reads its
   table of contents) and against this release's migrations (a store written by a newer
   release would be damaged by this one); a SQLite backup is refused for a PostgreSQL
   store and the reverse. Any failure stops here with nothing touched.
2. A backup of the current store, config and secret key goes to backups/before-restore/.
3. The store is checkpointed (its WAL folded in and emptied), its -wal and -shm removed,
   and the new file, already complete beside it, renamed over it; the secret key (and the
   configuration, if asked) likewise. A crash at any point leaves either the old file or
   the new one, never a mixture. A PostgreSQL store gets the same by pg_restore --clean
   in a single transaction (core.pg_store.restore); its safety copy is a pg_dump.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory

from core import pg_store
from core.backup import (
    CONFIG,
    FILE_ROOTS,
    MANIFEST,
    SECRET,
    STORE,
    STORES,
    BackupError,
    atomic_copy,
    backup,
    db_path,
    list_backups,
    secret_key_path,
    sha256_file,
)
from core.config import Config
from core.migrate import _alembic_config

SAFETY_DIR = "before-restore"
SAFETY_KEEP = 5


@dataclass
class Checked:
    """A backup unpacked into a temporary directory and found whole."""

    directory: Path
    manifest: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def engine(self) -> str:
        # The first whole backups named no engine: they were all SQLite's.
        return str(self.manifest.get("engine") or "sqlite")

    @property
    def store(self) -> Path:
        return self.files[STORES[self.engine]]


def _known_revision(schema: str | None) -> bool:
    if not schema:
        return False
    script = ScriptDirectory.from_config(_alembic_config())
    try:
        return all(script.get_revision(rev) is not None for rev in schema.split("+"))
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def _check_dump(path: Path, name: str) -> str | None:
    try:
        if "alembic_version" not in pg_store.dump_tables(path):
            raise BackupError(f"{name}: its dump holds no Kabinet store (no alembic_version)")
        return pg_store.dump_schema(path)
    except pg_store.PgStoreError as exc:
        raise BackupError(f"{name}: {exc}") from None


def _check_store(path: Path, name: str) -> str | None:
    try:
        check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{name}: the store fails SQLite's integrity check")
            rows = check.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name}: not a Kabinet store ({exc})") from None
    return "+".join(sorted(r[0] for r in rows)) or None


_ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _same_engine(checked: Checked, name: str, engine: str | None) -> None:
    if engine is None or checked.engine == engine:
        return
    have, want = _ENGINE_NAMES.get(checked.engine, checked.engine), _ENGINE_NAMES[engine]
    raise BackupError(
        f"{name} is a backup of a {have} store, and this Kabinet's store "
        f"(storage.database_url) is {want}: a backup goes back only into the same kind of "
        f"store. To move the data to {want}, restore it into a {have} installation first"
    )


@contextlib.contextmanager
def unpacked(archive: Path, work_dir: Path, engine: str | None = None) -> Iterator[Checked]:
    """The backup, unpacked under work_dir (the data directory: same filesystem, so the
    final renames are atomic) and checked against its manifest and, when given, the
    engine of the store it is to go into; removed afterwards."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup file")
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=work_dir) as tmp:
        checked = Checked(Path(tmp), {})
        if archive.name.endswith(".sqlite3"):
            # A store-only copy from before whole backups.
            checked.files[STORE] = Path(tmp, STORE)
            atomic_copy(archive, checked.files[STORE])
            checked.manifest = {"format": 0, "files": {}}
        else:
            _unpack(archive, checked)
        _same_engine(checked, archive.name, engine)
        if checked.engine == "postgresql":
            schema = _check_dump(checked.store, archive.name)
        else:
            schema = _check_store(checked.store, archive.name)
        if not _known_revision(schema):
            raise BackupError(
                f"{archive.name}: its store is at schema revision {schema!r}, which this "
                "release does not know (it was made by a newer Kabinet); restore it with "
                "that release"
            )
        checked.manifest.setdefault("schema", schema)
        yield checked


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive.name}: not a Kabinet backup archive ({exc})") from None


def _unpack(archive: Path, checked: Checked) -> None:
    with _open(archive) as tar:
        try:
            member = tar.extractfile(MANIFEST)
            assert member is not None
            manifest = json.loads(member.read())
        except (KeyError, AssertionError, ValueError, tarfile.TarError) as exc:
            raise BackupError(f"{archive.name}: no readable {MANIFEST} ({exc})") from None
        listed = manifest.get("files") or {}
        store = STORES.get(str(manifest.get("engine") or "sqlite"))
        if store is None:
            raise BackupError(f"{archive.name}: unknown engine {manifest.get('engine')!r}")
        if store not in listed:
            raise BackupError(f"{archive.name}: the manifest lists no {store}")
        names = {m.name for m in tar.getmembers()} - {MANIFEST}
        if names - set(listed):
            raise BackupError(f"{archive.name}: files not in the manifest: {sorted(names)}")
        for name, expected in listed.items():
            if name not in (store, CONFIG, SECRET) and not _data_member(name):
                raise BackupError(f"{archive.name}: unexpected member {name!r}")
            try:
                # filter="data": no links, devices or paths outside the directory.
                tar.extract(name, checked.directory, filter="data")
            except (KeyError, tarfile.TarError, OSError) as exc:
                raise BackupError(f"{archive.name}: {name} cannot be read ({exc})") from None
            path = checked.directory / name
            size, digest = path.stat().st_size, sha256_file(path)
            if size != expected.get("size") or digest != expected.get("sha256"):
                raise BackupError(
                    f"{archive.name}: {name} does not match the manifest (size {size}, "
                    f"sha256 {digest[:12]}…): the backup is damaged, not restoring it"
                )
            checked.files[name] = path
    checked.manifest = manifest


def _data_member(name: str) -> bool:
    """A file under one of FILE_ROOTS (documents/, files/), by a plain relative path
    (extract's "data" filter refuses anything else again)."""
    parts = name.split("/")
    return (
        len(parts) > 1 and parts[0] in FILE_ROOTS and all(p not in ("", ".", "..") for p in parts)
    )


def verify(config: Config, archive: Path) -> dict[str, Any]:
    """Check a backup without restoring it; its manifest if whole, else BackupError."""
    engine = pg_store.engine_of(config.storage.url)
    with unpacked(archive, Path(config.storage.data_dir), engine) as checked:
        return checked.manifest


@dataclass
class RestoreReport:
    restored: list[str]
    safety_copy: Path | None
    manifest: dict[str, Any]
    config_differs: bool = False


def _safety_copy(config: Config, target: Path) -> Path:
    safety_dir = Path(config.storage.data_dir, "backups", SAFETY_DIR)
    try:
        path = backup(config, safety_dir, prune_old=False, copy=False).path
    except (BackupError, sqlite3.DatabaseError):
        # The store being replaced may be the damaged one: keep its files as they are.
        path = safety_dir / f"damaged-{sha256_file(target)[:12]}"
        path.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{target}{suffix}")
            if source.exists():
                atomic_copy(source, path / source.name)
    for old in list_backups(safety_dir)[:-SAFETY_KEEP]:
        old.unlink(missing_ok=True)
    return path


def _replace_store(new: Path, target: Path) -> None:
    if target.exists():
        # Fold the WAL into the old file and empty it: then removing -wal loses nothing
        # (and the safety copy has it all anyway), and no stale WAL is replayed into the
        # new file.
        with contextlib.suppress(sqlite3.DatabaseError):
            old = sqlite3.connect(target)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    atomic_copy(new, target, mode=0o640)


def _pg_safety_copy(config: Config) -> Path:
    safety_dir = Path(config.storage.data_dir, "backups", SAFETY_DIR)
    try:
        path = backup(config, safety_dir, prune_old=False, copy=False).path
    except BackupError as exc:
        # No dump, no restore: pg_restore would fail on the same database anyway, and
        # what it replaces must be kept first.
        raise BackupError(
            f"the current PostgreSQL data cannot be kept before it is replaced ({exc}); "
            "nothing restored"
        ) from None
    for old in list_backups(safety_dir)[:-SAFETY_KEEP]:
        old.unlink(missing_ok=True)
    return path


def _put_back_store(config: Config, checked: Checked) -> Path | None:
    """The safety copy, then the store replaced; the safety copy's path."""
    if checked.engine == "postgresql":
        safety = _pg_safety_copy(config)
        try:
            pg_store.restore(config.storage.url, checked.store)
        except pg_store.PgStoreError as exc:
            raise BackupError(f"{exc}; the data is as before (kept in {safety})") from None
        return safety
    target = db_path(config)
    kept = _safety_copy(config, target) if target.exists() else None
    _replace_store(checked.store, target)
    return kept


def restore(config: Config, archive: Path, *, with_config: bool = False) -> RestoreReport:
    engine = pg_store.engine_of(config.storage.url)
    if engine == "sqlite":
        db_path(config)  # neither SQLite nor PostgreSQL: refused before anything is read
    data_dir = Path(config.storage.data_dir)
    with unpacked(archive, data_dir, engine) as checked:
        current = Path(config.source) if config.source else None
        writable = current is not None and os.access(current.parent, os.W_OK)
        # Found out now, not after the store was replaced: all or nothing.
        if with_config and CONFIG in checked.files and not writable:
            raise BackupError(
                f"cannot write the configuration {current or '(none in use)'}: run the "
                "restore as root, or without --with-config"
            )
        safety = _put_back_store(config, checked)
        restored = [checked.store.name]
        if SECRET in checked.files:
            atomic_copy(checked.files[SECRET], secret_key_path(config))
            restored.append(SECRET)
        # Documents' and threads' files come back beside any made since the backup (those
        # belong to rows the restored store no longer has: kept, never overwritten by
        # nothing).
        for root in FILE_ROOTS:
            members = [n for n in checked.files if _data_member(n) and n.startswith(f"{root}/")]
            for name in members:
                target = data_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_copy(checked.files[name], target)
            if members:
                restored.append(f"{root}/ ({len(members)})")
        config_differs = False
        if CONFIG in checked.files:
            config_differs = not (
                current is not None
                and current.is_file()
                and sha256_file(current) == sha256_file(checked.files[CONFIG])
            )
            if with_config and config_differs:
                if current is None:
                    raise BackupError("no configuration file in use to restore into")
                atomic_copy(checked.files[CONFIG], current, mode=0o640)
                restored.append(CONFIG)
                config_differs = False
        return RestoreReport(restored, safety, checked.manifest, config_differs)
