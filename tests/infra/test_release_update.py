"""Signed release bundles of the real code, installed, updated and rolled back in a sandbox.

The bundles are built by scripts/make_release.py from the committed tree (`git archive
HEAD`) with other version strings, a signing key made here (its public half replaces the
vendor's in the copy, so the installed appliance trusts it), and, for the failures, a
migration that raises or a runner that cannot start. Everything installs from the bundles'
wheels with no index; var/wheelhouse caches the dependency wheels across runs, so only the
first run on a machine downloads them (with the lock's hashes checked).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.demo_clinic import build_demo_clinic
from tests.infra.test_installer_sandbox import Sandbox, free_port, out

REPO = Path(__file__).resolve().parents[2]

# Five bundles, then installs and updates that each build a virtualenv: minutes on a
# busy machine (the first install also runs the real `kabinet mis check`).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def raw_public(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def head_revision(tree: Path) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(tree / "migrations"))
    return "+".join(sorted(ScriptDirectory.from_config(cfg).get_heads()))


class Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.key = Ed25519PrivateKey.generate()
        self.key_file = root / "signing.key"
        self.key_file.write_bytes(pem(self.key))
        self.archive = root / "head.tar"
        subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(self.archive), "HEAD"],
            check=True,
        )

    def build(self, version: str, fault: str = "", upgrades_from: str = "1.0") -> Path:
        tree = self.root / f"tree-{version}"
        tree.mkdir()
        with tarfile.open(self.archive) as tar:
            tar.extractall(tree, filter="data")
        init = tree / "core/__init__.py"
        text = re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text())
        text = re.sub(
            r'__upgrades_from__ = "[^"]+"', f'__upgrades_from__ = "{upgrades_from}"', text
        )
        init.write_text(text)
        (tree / "core/release/keys.py").write_text(
            f'VENDOR_KEYS: tuple[str, ...] = ("{raw_public(self.key)}",)\n'
        )
        changelog = tree / "CHANGELOG.md"
        changelog.write_text(
            changelog.read_text() + f"\n## {version} (test)\n\n- built by the test\n"
        )
        if fault == "migration":
            down = head_revision(tree)
            (tree / "migrations/versions/9999_fails.py").write_text(
                f'"""A migration that fails half-way (test)."""\n'
                "from alembic import op\n\n"
                f'revision = "9999_fails"\ndown_revision = "{down}"\n'
                "branch_labels = None\ndepends_on = None\n\n\n"
                "def upgrade():\n"
                '    op.execute("CREATE TABLE half_done (x INTEGER)")\n'
                '    raise RuntimeError("this migration fails on purpose")\n\n\n'
                "def downgrade():\n    pass\n"
            )
        if fault == "runner":
            runner = tree / "jobs/runner.py"
            text = runner.read_text()
            start = re.search(r"    def start\(self[^\n]*\n", text)
            assert start, "jobs/runner.py has no Appliance.start to break"
            runner.write_text(
                text[: start.end()]
                + '        raise RuntimeError("the runner cannot start (test fault)")\n'
                + text[start.end() :]
            )
        result = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts/make_release.py"),
                "--src",
                str(tree),
                "--out",
                str(self.root / "dist"),
                "--key",
                str(self.key_file),
                "--wheelhouse",
                str(REPO / "var/wheelhouse"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert result.returncode == 0, out(result)
        shutil.rmtree(tree)
        return Path(result.stdout.strip().splitlines()[-1])


def retar(bundle: Path, dest: Path, change: str) -> Path:
    """A copy of `bundle` with one file changed after signing."""
    work = dest.parent / f"work-{dest.stem}"
    with tarfile.open(bundle) as tar:
        tar.extractall(work, filter="data")
    (top,) = work.iterdir()
    if change == "checksum":
        with open(top / "requirements.txt", "a") as f:
            f.write("# tampered\n")
    elif change == "signature":
        manifest = json.loads((top / "manifest.json").read_text())
        manifest["upgrades_from"] = "0.0.1"
        (top / "manifest.json").write_text(json.dumps(manifest))
    with tarfile.open(dest, "w") as tar:
        tar.add(top, arcname=top.name)
    shutil.rmtree(work)
    return dest


class Appliance(Sandbox):
    """The installer's sandbox, running the real release with the port from the env."""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root, port)
        self.env["KABINET_PORT"] = str(port)
        self.env["KABINET_HEALTH_TIMEOUT"] = "60"
        self.env.pop("KABINET_CONFIG", None)
        self.env.pop("KABINET_DATA_DIR", None)

    def kabinet(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        env = {
            **self.env,
            "KABINET_CONFIG": str(self.path("/etc/kabinet/config.toml")),
            "KABINET_DATA_DIR": str(self.path("/var/lib/kabinet")),
        }
        return subprocess.run(
            [str(self.path("/opt/kabinet/current/venv/bin/kabinet")), *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=self.path("/var/lib/kabinet"),
        )

    def health(self) -> dict[str, object]:
        """/healthz's report, 200 or 503 alike (503 only says some check is bad)."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return dict(json.load(r))
        except urllib.error.HTTPError as exc:
            return dict(json.load(exc))

    def store(self) -> Path:
        (found,) = self.path("/var/lib/kabinet").glob("*.sqlite3")
        return found

    def logins(self) -> list[str]:
        with sqlite3.connect(self.store()) as db:
            return sorted(r[0] for r in db.execute("SELECT login FROM staff_users"))

    def tables(self) -> set[str]:
        with sqlite3.connect(self.store()) as db:
            return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def tree(self) -> dict[str, float]:
        """Every path of the installation with its mtime: 'nothing touched' is equality."""
        seen: dict[str, float] = {}
        for top in ("/opt/kabinet", "/etc/kabinet", "/var/lib/kabinet"):
            for p in self.path(top).rglob("*"):
                if "__pycache__" in p.parts:
                    continue
                # The running service writes its store (heartbeats): its data files count
                # by their presence only (a backup or a new release would be a new path).
                live = top == "/var/lib/kabinet" and p.is_file()
                seen[str(p)] = 0.0 if live else p.lstat().st_mtime
        return seen

    def failed(self) -> list[str]:
        failed = self.path("/opt/kabinet/releases/failed")
        return sorted(p.name.split("-")[0] for p in failed.iterdir()) if failed.exists() else []


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    builder = Builder(tmp_path_factory.mktemp("bundles"))
    built = {
        "1.0": builder.build("1.0"),
        "2.0": builder.build("2.0"),
        "2.1-migration": builder.build("2.1", fault="migration"),
        "2.2-runner": builder.build("2.2", fault="runner"),
        "3.0-from-2.0": builder.build("3.0", upgrades_from="2.0"),
    }
    dist = builder.root / "tampered"
    dist.mkdir()
    built["checksum"] = retar(built["2.0"], dist / "checksum.tar", "checksum")
    built["signature"] = retar(built["2.0"], dist / "signature.tar", "signature")
    return built


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Appliance]:
    box = Appliance(tmp_path, free_port())
    yield box
    box.stop()


def test_bundle_install_update_failures_and_rollback(
    appliance: Appliance, bundles: dict[str, Path]
) -> None:
    box = appliance
    # --- a first install from the bundle, offline ------------------------------------------
    clinic = box.prefix.parent / "demo-clinic.sqlite3"
    build_demo_clinic(clinic, patients=20, seed=5)
    answers = box.prefix.parent / "answers.env"  # install.sh checks the MIS it is given
    answers.write_text(f"CLINIC_NAME=Тест\nMIS_PROFILE=demo\nMIS_DSN={clinic}\n")
    result = box.run("install.sh", "--answers", answers, bundles["1.0"])
    assert result.returncode == 0, out(result)
    assert "from the bundle's wheels (offline" in result.stdout
    assert box.current() == "releases/1.0"
    assert box.health()["version"] == "1.0"
    made = box.kabinet("user", "add", "alice", "--role", "owner", "--password", "S3cret-pass-01")
    assert made.returncode == 0, out(made)
    people = box.logins()  # alice, and the first owner the service created
    assert "alice" in people

    # --- refused before anything is touched -------------------------------------------------
    before, pid = box.tree(), box.pid()
    for name, why in [
        ("checksum", "checksum does not match"),
        ("signature", "signature does not match"),
        ("3.0-from-2.0", "update to 2.0 first, then to 3.0"),
    ]:
        result = box.kabinet("update", bundles[name])
        assert result.returncode != 0, out(result)
        assert why in result.stderr and "nothing was changed" in result.stderr, out(result)
        assert box.tree() == before, name
        assert box.pid() == pid and box.health()["version"] == "1.0"
    # update.sh hands a bundle to the installed `kabinet update`: the same refusal.
    result = box.run("update.sh", bundles["checksum"])
    assert result.returncode != 0 and "checksum does not match" in result.stderr, out(result)
    assert box.tree() == before

    # --- a migration that fails: rolled back, data intact, the release set aside -----------
    result = box.kabinet("update", bundles["2.1-migration"])
    assert result.returncode != 0, out(result)
    assert "rolled back to 1.0" in result.stderr and "kabinet db upgrade" in result.stderr
    assert box.current() == "releases/1.0" and box.health()["version"] == "1.0"
    assert box.logins() == people and "half_done" not in box.tables()
    assert box.failed() == ["2.1"]
    assert not box.path("/opt/kabinet/previous").exists()

    # --- a runner that cannot start: the health check fails, rolled back -----------------
    result = box.kabinet("update", bundles["2.2-runner"])
    assert result.returncode != 0, out(result)
    assert "health check" in result.stderr and "rolled back to 1.0" in result.stderr
    assert box.current() == "releases/1.0" and box.health()["version"] == "1.0"
    assert box.logins() == people
    assert box.failed() == ["2.1", "2.2"]

    # --- a good update: data intact and served; 1.0 is "previous" ----------------------------
    result = box.run("update.sh", bundles["2.0"])
    assert result.returncode == 0, out(result)
    assert "signature and" in result.stdout and "now at 2.0 (was 1.0)" in result.stdout
    assert box.current() == "releases/2.0"
    assert os.readlink(box.path("/opt/kabinet/previous")) == "releases/1.0"
    health = box.health()
    checks = health["checks"]
    assert isinstance(checks, dict), health
    assert health["version"] == "2.0" and checks["store"]["ok"] is True
    assert checks["runner"]["ok"] is True
    assert box.logins() == people
    made = box.kabinet("user", "add", "bob", "--password", "S3cret-pass-02")
    assert made.returncode == 0, out(made)

    # --- rollback by hand: same schema, so the data stays, bob included -----------------
    result = box.kabinet("rollback")
    assert result.returncode == 0, out(result)
    assert "back at 1.0 (was 2.0)" in result.stdout
    assert box.current() == "releases/1.0" and box.health()["version"] == "1.0"
    assert box.logins() == sorted([*people, "bob"])
    assert box.failed() == ["2.0", "2.1", "2.2"]
    assert not box.path("/opt/kabinet/previous").exists()
    result = box.kabinet("rollback")
    assert result.returncode != 0 and "no previous release" in result.stderr, out(result)


@pytest.mark.postgres
def test_update_and_its_rollback_with_a_postgresql_store(
    tmp_path: Path, bundles: dict[str, Path], pg_url: str
) -> None:
    """The same update with the store in PostgreSQL: the backup before it is a pg_dump, a
    failed migration puts it back with pg_restore, a good update keeps the data."""
    from sqlalchemy import create_engine, inspect, text

    def logins() -> list[str]:
        engine = create_engine(pg_url)
        with engine.connect() as c:
            found = sorted(r[0] for r in c.execute(text("SELECT login FROM staff_users")))
            tables = set(inspect(c).get_table_names())
        engine.dispose()
        assert "half_done" not in tables
        return found

    box = Appliance(tmp_path, free_port())
    box.env["KABINET_DATABASE_URL"] = pg_url  # storage.database_url, as a clinic sets it
    try:
        clinic = box.prefix.parent / "demo-clinic.sqlite3"
        build_demo_clinic(clinic, patients=20, seed=5)
        answers = box.prefix.parent / "answers.env"
        answers.write_text(f"CLINIC_NAME=Тест\nMIS_PROFILE=demo\nMIS_DSN={clinic}\n")
        result = box.run("install.sh", "--answers", answers, bundles["1.0"])
        assert result.returncode == 0, out(result)
        assert box.health()["version"] == "1.0"
        assert not list(box.path("/var/lib/kabinet").glob("*.sqlite3"))  # the store is PG
        made = box.kabinet(
            "user", "add", "alice", "--role", "owner", "--password", "S3cret-pass-01"
        )
        assert made.returncode == 0, out(made)
        people = logins()
        assert "alice" in people

        result = box.kabinet("update", bundles["2.1-migration"])
        assert result.returncode != 0, out(result)
        assert "rolled back to 1.0" in result.stderr, out(result)
        assert "restored the database from" in result.stdout + result.stderr, out(result)
        assert box.current() == "releases/1.0" and box.health()["version"] == "1.0"
        assert logins() == people
        taken = sorted(box.path("/var/lib/kabinet/backups").glob("kabinet-*.tar.gz"))
        assert taken, "no backup before the update"
        for backup in taken:  # update.sh's, and any the runner made by itself
            with tarfile.open(backup) as tar:
                assert "kabinet.pgdump" in tar.getnames()

        result = box.run("update.sh", bundles["2.0"])
        assert result.returncode == 0, out(result)
        assert "now at 2.0 (was 1.0)" in result.stdout, out(result)
        health = box.health()
        checks = health["checks"]
        assert isinstance(checks, dict) and checks["store"]["ok"] is True, health
        assert logins() == people
    finally:
        box.stop()
