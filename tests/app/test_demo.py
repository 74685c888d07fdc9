"""`kabinet demo` and `kabinet run` as real processes: start, answer, stop cleanly.

Each test starts the installed console script in its own process group, talks to it over
HTTP like a person or a monitor would, and stops it with a signal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from core.config import Config, load
from sandbox.demo import write_config
from sandbox.demo_clinic import build_demo_clinic
from tests.conftest import make_config

pytestmark = pytest.mark.slow

KABINET = str(Path(sys.executable).with_name("kabinet"))
BANNER_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Kabinet:
    """A `kabinet` process: stdout collected line by line, stderr into a file."""

    def __init__(self, args: list[str], stderr_path: Path) -> None:
        # Settings in the environment would override the files under test.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KABINET_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [KABINET, *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own group: a stray Ctrl+C stays ours
        )
        self.lines: list[str] = []
        self.stopped = False
        self._changed = threading.Condition()
        # Always drain stdout: gunicorn's access log goes there and a full pipe blocks it.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def stdout(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_stdout(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in "\n".join(self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(self._report(f"no {text!r} on stdout"))
                self._changed.wait(min(remaining, 0.5))
        return self.stdout

    def wait_stderr(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(self._report(f"no {text!r} on stderr"))
            time.sleep(0.2)

    def wait_healthy(self, url: str, timeout: float) -> float:
        """Seconds from the process start to a 200 from `url`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(self._report(f"{url} never answered 200"))
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> int:
        """Signal the main process only (its children are its business); wait for it."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                self._report(f"still running {timeout:.0f} s after signal {sig}")
            ) from None
        self.stopped = True
        return code

    def kill(self) -> None:
        """Cleanup: unless it stopped cleanly, end the whole group this test started (a
        crashed parent may leave gunicorn behind)."""
        if not self.stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._stderr.close()

    def _report(self, what: str) -> str:
        return (
            f"kabinet {what} (exit code {self.proc.poll()})\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-5000:]}"
        )


def _login(session: requests.Session, base: str, password: str) -> requests.Response:
    form = session.get(base + "/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, form
    return session.post(
        base + "/login",
        data={"login": "owner", "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=5,
    )


def test_demo_starts_answers_and_stops_cleanly(tmp_path: Path, processes) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    demo = Kabinet(
        [
            "demo",
            "--port",
            str(port),
            "--emulator-port",
            "0",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        tmp_path / "demo.stderr",
    )
    processes.append(demo)
    banner = demo.wait_stdout("Press Ctrl+C to stop.", BANNER_TIMEOUT)
    to_banner = time.monotonic() - demo.started
    base = f"http://127.0.0.1:{port}"
    password = re.search(r"login: owner\s+password: (\S+)", banner)
    phone = re.search(r"Patient phone:\s+(\S+)", banner)
    assert password and phone, banner
    assert f"Panel:          {base}/" in banner
    assert not phone.group(1).startswith("http://127.0.0.1:8081/")  # --emulator-port 0

    to_healthz = demo.wait_healthy(base + "/healthz", BANNER_TIMEOUT)
    print(f"\nkabinet demo: banner after {to_banner:.1f} s, /healthz 200 after {to_healthz:.1f} s")

    health = requests.get(base + "/healthz", timeout=5)
    assert health.status_code == 200
    assert health.headers["Content-Type"].startswith("application/json")
    body = health.json()
    assert body["status"] == "ok" and body["schema"] == "current" and body["version"]

    root = requests.get(base + "/", allow_redirects=False, timeout=5)
    assert root.status_code == 302
    assert root.headers["Location"].split("?")[0].endswith("/login")

    with requests.Session() as browser:
        wrong = _login(browser, base, "wrong-password")
        assert wrong.status_code == 401
        response = _login(browser, base, password.group(1))
        assert response.status_code == 302, response.text[:500]
        dashboard = browser.get(base + "/", timeout=5)
        assert dashboard.status_code == 200
        assert "<h1>Сводка</h1>" in dashboard.text and "Улыбка" in dashboard.text

    page = requests.get(phone.group(1), timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'id="messages"' in page.text

    assert demo.stop(signal.SIGINT) == 0
    stderr = demo.stderr
    assert "Traceback" not in stderr, stderr[-5000:]
    assert not listening(port), "the panel still answers after the demo stopped"


def test_demo_refuses_to_empty_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "kabinet.sqlite3").write_text("a real installation's data")
    result = subprocess.run(
        [KABINET, "demo", "--port", "0", "--emulator-port", "0", "--data-dir", str(precious)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "refusing to empty it" in result.stderr
    assert (precious / "kabinet.sqlite3").read_text() == "a real installation's data"


def _write_run_config(tmp_path: Path, port: int) -> tuple[Path, Config]:
    """The test configuration as a file: the keys that differ from the defaults."""
    config = make_config(tmp_path, web={"port": port, "workers": 1}, telegram={"mode": "off"})
    sections = {}
    for field in dataclasses.fields(config):
        if field.name == "source":
            continue
        section = getattr(config, field.name)
        defaults = dataclasses.asdict(type(section)())
        changed = {k: v for k, v in dataclasses.asdict(section).items() if v != defaults[k]}
        if changed:
            sections[field.name] = changed
    path = tmp_path / "kabinet.toml"
    write_config(path, sections)
    assert load(path, environ={}) == dataclasses.replace(config, source=str(path))
    build_demo_clinic(config.mis.dsn, patients=20)
    return path, config


def test_a_second_run_waits_for_the_first_then_takes_over(tmp_path: Path, processes) -> None:  # type: ignore[no-untyped-def]
    first_port, second_port = free_port(), free_port()
    path, config = _write_run_config(tmp_path, first_port)

    first = Kabinet(["-c", str(path), "run"], tmp_path / "first.stderr")
    processes.append(first)
    took = first.wait_healthy(f"http://127.0.0.1:{first_port}/healthz", BANNER_TIMEOUT)
    print(f"\nkabinet run: /healthz 200 after {took:.1f} s")
    # No account on this store: it says how to make one and shows no password in the log.
    assert "kabinet user add owner --role owner" in first.stdout
    assert "password '" not in first.stdout

    # The same data directory, another port: were it to start, it would listen there.
    second = Kabinet(["-c", str(path), "run", "--port", str(second_port)], tmp_path / "2.stderr")
    processes.append(second)
    second.wait_stderr("Another Kabinet is already running", 30)
    assert config.storage.data_dir in second.stderr
    time.sleep(2)  # had it gone on, gunicorn would be up by now
    assert second.proc.poll() is None
    assert not listening(second_port)
    assert "Starting gunicorn" not in second.stderr
    assert requests.get(f"http://127.0.0.1:{first_port}/healthz", timeout=5).status_code == 200

    assert first.stop(signal.SIGTERM) == 0
    assert "Traceback" not in first.stderr, first.stderr[-5000:]
    took = second.wait_healthy(f"http://127.0.0.1:{second_port}/healthz", BANNER_TIMEOUT)
    print(f"kabinet run: the second answered {took:.1f} s after it was started")
    assert "kabinet user add" in second.stdout  # still none on that store

    assert second.stop(signal.SIGINT) == 0
    assert "Traceback" not in second.stderr, second.stderr[-5000:]
    assert not listening(second_port)
