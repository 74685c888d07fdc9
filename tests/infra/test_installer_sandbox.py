"""installer/*.sh in a sandbox (KABINET_PREFIX + KABINET_NO_SYSTEMD=1), with stand-in releases.

The real `kabinet` CLI is not needed: each release here is a tiny package whose `kabinet`
command fakes `db upgrade`, `backup`, `restore` and `run` (an HTTP server with /healthz),
and can be told to fail its migration or its health check. That exercises what the shell
scripts own: the release layout, the symlink switch, backup before migration, rollback on
any failure, the pid-file service, and uninstall keeping the data. Building a release
needs no network (an in-tree build backend with no requirements).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"

pytestmark = pytest.mark.slow

BACKEND = '''
"""In-tree PEP 517 backend: builds the stand-in kabinet wheel with no requirements."""
import base64, hashlib, re, zipfile
from pathlib import Path

def _version():
    text = Path("core/__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    dist = f"kabinet-{version}.dist-info"
    files = {
        "fakecli.py": Path("fakecli.py").read_text(),
        f"{dist}/METADATA": "Metadata-Version: 2.1\\nName: kabinet\\nVersion: " + version
        + "\\nProvides-Extra: firebird\\nProvides-Extra: mssql\\nProvides-Extra: mysql\\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n",
        f"{dist}/entry_points.txt": "[console_scripts]\\nkabinet = fakecli:main\\n",
    }
    record = []
    name = f"kabinet-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory, name), "w") as whl:
        for path, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
            whl.writestr(path, data)
        record.append(f"{dist}/RECORD,,")
        whl.writestr(f"{dist}/RECORD", "\\n".join(record) + "\\n")
    return name
'''

FAKE_CLI = '''
"""Stand-in for the kabinet CLI: only what the installer scripts call."""
import http.server, json, os, shutil, sys, time, tomllib
from pathlib import Path

VERSION = "@VERSION@"
BEHAVIOUR = "@BEHAVIOUR@"

def settings():
    with open(os.environ["KABINET_CONFIG"], "rb") as f:
        cfg = tomllib.load(f)
    port = int(os.environ.get("KABINET_PORT") or cfg["web"]["port"])
    data = Path(os.environ.get("KABINET_DATA_DIR") or cfg["storage"]["data_dir"])
    return port, data

def main():
    args = [a for a in sys.argv[1:]]
    if "--config" in args:
        i = args.index("--config")
        os.environ["KABINET_CONFIG"] = args[i + 1]
        del args[i:i + 2]
    if args[:2] == ["config", "check"]:
        with open(args[2], "rb") as f:
            tomllib.load(f)
        return 0
    if args[:2] == ["user", "add"]:
        print(f"created owner {args[2]!r}; password: fake-{os.urandom(6).hex()}")
        return 0
    port, data = settings()
    schema = data / "schema"
    if args == ["mis", "check"]:
        with open(os.environ["KABINET_CONFIG"], "rb") as f:
            dsn = tomllib.load(f)["mis"]["dsn"]
        print("connected: the stand-in MIS" if dsn == "fake:ok" else f"cannot open {dsn}")
        return 0 if dsn == "fake:ok" else 1
    if args == ["db", "upgrade"]:
        schema.write_text(VERSION)  # "migrates", even when it then fails half-way
        if BEHAVIOUR == "bad-upgrade":
            print("migration failed", file=sys.stderr)
            return 3
        return 0
    if args == ["backup"]:
        dest = data / "backups" / f"kabinet-{time.time_ns()}.json"
        store = data / "store.txt"
        dest.write_text(json.dumps({
            "schema": schema.read_text() if schema.exists() else None,
            "store": store.read_text() if store.exists() else None,
        }))
        print("backup written to:")
        print(dest)
        return 0
    if args[:1] == ["restore"]:
        assert "--yes" in args, "restore asks for confirmation without --yes"
        saved = json.loads(Path(args[-1]).read_text())
        schema.write_text(saved["schema"])
        (data / "store.txt").write_text(saved["store"])
        return 0
    if args == ["run"]:
        if schema.read_text() != VERSION:
            print(f"schema {schema.read_text()} is not {VERSION}", file=sys.stderr)
            return 4
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ok = BEHAVIOUR != "unhealthy"
                body = json.dumps({"version": VERSION, "ok": ok}).encode()
                self.send_response(200 if ok else 500)
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a):
                pass
        http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    print(f"unknown command {args}", file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_release(root: Path, version: str, port: int, behaviour: str = "ok") -> Path:
    src = root / f"release-{version}"
    (src / "core").mkdir(parents=True)
    (src / "core/__init__.py").write_text(f'__version__ = "{version}"\n')
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "fake_backend"\nbackend-path = ["."]\n'
    )
    (src / "fake_backend.py").write_text(BACKEND)
    (src / "fakecli.py").write_text(
        FAKE_CLI.replace("@VERSION@", version).replace("@BEHAVIOUR@", behaviour)
    )
    (src / "config.example.toml").write_text(
        textwrap.dedent(
            f"""\
            [web]
            host = "127.0.0.1"
            port = {port}

            [storage]
            data_dir = "/var/lib/kabinet"
            """
        )
    )
    subprocess.run(["cp", "-a", str(INSTALLER), str(src / "installer")], check=True)
    return src


class Sandbox:
    def __init__(self, root: Path, port: int) -> None:
        self.prefix = root / "prefix"
        self.port = port
        self.env = {
            **os.environ,
            "KABINET_PREFIX": str(self.prefix),
            "KABINET_NO_SYSTEMD": "1",
            "KABINET_HEALTH_TIMEOUT": "5",
        }
        self.env.pop("KABINET_PORT", None)

    def run(self, script: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(INSTALLER / script), *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            # No terminal: install.sh cannot ask, and shows the owner's password on stdout.
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def path(self, rel: str) -> Path:
        return self.prefix / rel.lstrip("/")

    def current(self) -> str:
        return os.readlink(self.path("/opt/kabinet/current"))

    def health(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=3) as r:
            return dict(json.load(r))

    def pid(self) -> int | None:
        pid_file = self.path("/run/kabinet/kabinet.pid")
        return int(pid_file.read_text()) if pid_file.exists() else None

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path, free_port())
    yield box
    box.stop()


def out(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_install_update_rollback_uninstall(sandbox: Sandbox, tmp_path: Path) -> None:
    port = sandbox.port
    v1 = make_release(tmp_path, "1.0", port)

    # --- install ------------------------------------------------------------------
    answers = tmp_path / "answers.env"
    answers.write_text("CLINIC_NAME=Тест\nTIMEZONE=Europe/Moscow\nMIS_DSN=fake:ok\n")
    result = sandbox.run("install.sh", "--answers", answers, v1)
    assert result.returncode == 0, out(result)
    assert "First owner of the panel: login owner, password fake-" in result.stdout
    assert f"Panel: http://127.0.0.1:{port}/" in result.stdout
    assert sandbox.current() == "releases/1.0"
    assert sandbox.path("/opt/kabinet/releases/1.0/venv/bin/kabinet").exists()
    assert sandbox.path("/opt/kabinet/releases/1.0/share/installer/update.sh").exists()
    config = sandbox.path("/etc/kabinet/config.toml")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert sandbox.path("/var/lib/kabinet/backups").is_dir()
    unit = sandbox.path("/etc/systemd/system/kabinet.service").read_text()
    kabinet = f"{sandbox.prefix}/opt/kabinet/current/venv/bin/kabinet"
    assert f"ExecStart={kabinet} --config {sandbox.prefix}/etc/kabinet/config.toml run" in unit
    assert f"ReadWritePaths={sandbox.prefix}/var/lib/kabinet" in unit
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit
    assert sandbox.health()["version"] == "1.0"
    sandbox.path("/var/lib/kabinet/store.txt").write_text("patients of 1.0")

    # Again: repairs, keeps the config, does not rebuild.
    config.write_text(config.read_text() + "\n# edited by IT\n")
    result = sandbox.run("install.sh", v1)
    assert result.returncode == 0, out(result)
    assert "already built" in result.stdout
    assert "# edited by IT" in config.read_text()
    assert sandbox.health()["version"] == "1.0"

    # install.sh refuses to switch versions: that is update.sh's job.
    result = sandbox.run("install.sh", make_release(tmp_path, "4.0", port))
    assert result.returncode != 0
    assert "update.sh" in result.stderr

    # --- a migration that fails half-way: restored and back on 1.0 ---------------------
    result = sandbox.run("update.sh", make_release(tmp_path, "2.0", port, "bad-upgrade"))
    assert result.returncode != 0, out(result)
    assert "rolled back to 1.0" in result.stderr, out(result)
    assert "kabinet db upgrade" in result.stderr
    assert sandbox.current() == "releases/1.0"
    assert sandbox.path("/var/lib/kabinet/schema").read_text() == "1.0"
    assert sandbox.health()["version"] == "1.0"
    backups = sorted(sandbox.path("/var/lib/kabinet/backups").iterdir())
    assert len(backups) == 1 and str(backups[0]) in result.stdout

    # --- a release that never gets healthy: same ----------------------------------------
    result = sandbox.run("update.sh", make_release(tmp_path, "3.0", port, "unhealthy"))
    assert result.returncode != 0, out(result)
    assert "health check" in result.stderr and "rolled back to 1.0" in result.stderr
    assert sandbox.current() == "releases/1.0"
    assert sandbox.health()["version"] == "1.0"

    # --- a good update -----------------------------------------------------------------------
    old_pid = sandbox.pid()
    result = sandbox.run("update.sh", tmp_path / "release-4.0")
    assert result.returncode == 0, out(result)
    assert "now at 4.0 (was 1.0)" in result.stdout
    assert sandbox.current() == "releases/4.0"
    assert sandbox.health()["version"] == "4.0"
    assert sandbox.pid() != old_pid
    assert sandbox.path("/var/lib/kabinet/store.txt").read_text() == "patients of 1.0"
    # Keeps the newest KABINET_KEEP_RELEASES (3) releases, the current one always.
    releases = {p.name for p in sandbox.path("/opt/kabinet/releases").iterdir()}
    assert "4.0" in releases and len(releases) <= 3

    result = sandbox.run("update.sh", tmp_path / "release-4.0")
    assert result.returncode == 0 and "already installed" in result.stdout, out(result)

    # --- uninstall keeps the data, --purge does not -------------------------------------------
    pid = sandbox.pid()
    result = sandbox.run("uninstall.sh")
    assert result.returncode == 0, out(result)
    assert not sandbox.path("/opt/kabinet").exists()
    assert not sandbox.path("/etc/systemd/system/kabinet.service").exists()
    assert config.exists() and sandbox.path("/var/lib/kabinet/store.txt").exists()
    assert pid is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("uninstall.sh left the service running")

    result = sandbox.run("uninstall.sh", "--purge")
    assert result.returncode == 0, out(result)
    assert not config.exists() and not sandbox.path("/var/lib/kabinet").exists()
