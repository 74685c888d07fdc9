"""A PostgreSQL store in backups: pg_dump out, pg_restore back, credentials kept off argv.

core.backup and core.restore call these when storage.database_url is PostgreSQL. The
client programs come from Debian's postgresql-client (their major version must be at
least the server's: pg_dump refuses an older one with a clear message, passed on here).

The connection reaches pg_dump / pg_restore through libpq's environment (PGHOST, PGPORT,
PGUSER, PGDATABASE, PGSSLMODE…) and the password through a passfile of mode 0600 that
lives only as long as the command: never on a command line (visible in `ps`) nor in a
message (errors name the database as host:port/name).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from core.db import make_engine

# URL query parameters that libpq also takes from the environment; others (psycopg2's
# own) do not concern pg_dump.
_LIBPQ_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "options": "PGOPTIONS",
}
_DUMP_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


class PgStoreError(RuntimeError):
    """pg_dump / pg_restore failed or is missing; the message says what to do."""


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def engine_of(url: str) -> str:
    """The engine a backup's manifest records: "postgresql" or "sqlite"."""
    return "postgresql" if is_postgresql(url) else "sqlite"


def where(url: str) -> str:
    """The database for messages: host:port/name, never the user or password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PgStoreError(
            f"{name} is not installed: the store is PostgreSQL, and its backups need "
            "PostgreSQL's client programs (apt-get install postgresql-client)"
        )
    return found


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def libpq_env(url: str) -> Iterator[dict[str, str]]:
    """The environment for a libpq program connecting to `url`, its passfile removed after."""
    parsed: URL = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in parsed.query.items():
        name = _LIBPQ_ENV.get(key)
        if name is not None:
            env[name] = value if isinstance(value, str) else value[-1]
    if parsed.host:
        env["PGHOST"] = parsed.host
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    env["PGAPPNAME"] = "kabinet-backup"
    password = parsed.password
    if password is None:
        env["PGPASSFILE"] = os.devnull  # not ~/.pgpass of whoever runs this by accident
        yield env
        return
    fd, passfile = tempfile.mkstemp(prefix="kabinet-pgpass-")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp made it 0600, as libpq insists
            out.write(f"*:*:*:*:{_escape(str(password))}\n")
        env["PGPASSFILE"] = passfile
        yield env
    finally:
        Path(passfile).unlink(missing_ok=True)


def _run(args: list[str], url: str, what: str) -> str:
    with libpq_env(url) as env:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        raise PgStoreError(f"{what} {where(url)} failed: {detail}")
    return done.stdout


def dump(url: str, target: Path) -> None:
    """pg_dump's custom format: compressed, and pg_restore can put it back object by object.
    No owners or grants: it restores into whatever role the configuration names."""
    _run(
        [
            _program("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(target),
        ],
        url,
        "pg_dump of",
    )


def dump_tables(path: Path) -> set[str]:
    """The tables a dump holds, from its table of contents; PgStoreError if unreadable."""
    done = subprocess.run(
        [_program("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise PgStoreError(f"not a pg_dump archive ({done.stderr.strip()[:200]})")
    return {m.group(2) for line in done.stdout.splitlines() if (m := _DUMP_TABLE.match(line))}


def dump_schema(path: Path) -> str | None:
    """The Alembic revision(s) inside a dump, read from its alembic_version data."""
    done = subprocess.run(
        [_program("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PgStoreError(f"its alembic_version cannot be read ({done.stderr.strip()[:200]})")
    revisions: list[str] = []
    inside = False
    for line in done.stdout.splitlines():
        if line.startswith("COPY ") and "alembic_version" in line:
            inside = True
        elif inside and line == "\\.":
            inside = False
        elif inside and line:
            revisions.append(line.split("\t")[0])
    return "+".join(sorted(revisions)) or None


def restore(url: str, path: Path) -> None:
    """Put a dump back into the configured database in one transaction (all or nothing),
    then drop the tables the dump does not have (made by a later migration that is being
    undone): those are no part of the backup, and left behind they would stop that
    migration from running again."""
    keep = dump_tables(path)
    _run(
        [
            _program("pg_restore"),
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            _dbname(url),
            str(path),
        ],
        url,
        "pg_restore into",
    )
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for table in set(inspect(connection).get_table_names()) - keep:
                connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    finally:
        engine.dispose()


def _dbname(url: str) -> str:
    # --dbname takes a conninfo string; everything else comes from the environment.
    name = make_url(url).database or ""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def facts(url: str) -> tuple[str | None, dict[str, int], str]:
    """Schema revision, row counts per table and the server's version, for the manifest."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
            counts = {
                name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() or 0)
                for name in tables
            }
            schema = None
            if "alembic_version" in tables:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                schema = "+".join(sorted(r[0] for r in rows)) or None
            version = str(connection.execute(text("SHOW server_version")).scalar())
        return schema, counts, version
    finally:
        engine.dispose()
