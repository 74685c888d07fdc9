"""Schema migrations at start, under a lock, with a clear refusal of unsupported paths."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class UnsupportedUpgrade(RuntimeError):
    """The database is from a newer or unknown release; running on it would damage it."""


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """This release's schema revision (several heads, while branches await a merge, are
    reported joined by '+')."""
    heads = sorted(ScriptDirectory.from_config(_alembic_config()).get_heads())
    return "+".join(heads)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        heads = sorted(MigrationContext.configure(connection).get_current_heads())
    return "+".join(heads) or None


def upgrade(engine: Engine, lock_path: str | Path) -> tuple[str | None, str]:
    """Bring the schema to this release's head; returns (before, after).

    The file lock keeps two processes (an update script and a starting service, say) from
    migrating at once.
    """
    cfg = _alembic_config()
    script = ScriptDirectory.from_config(cfg)
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=120):
        before = current_revision(engine)
        if before is not None:
            try:
                for revision in before.split("+"):
                    if script.get_revision(revision) is None:
                        raise LookupError(revision)
            except Exception:  # alembic raises several kinds for an unknown id
                raise UnsupportedUpgrade(
                    f"the database is at schema revision {before!r}, which this release does "
                    "not know: it was written by a newer Kabinet. Downgrading is not supported; "
                    "install that release again or restore a backup made by this one."
                ) from None
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")
        after = current_revision(engine)
    assert after is not None
    return before, after


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
