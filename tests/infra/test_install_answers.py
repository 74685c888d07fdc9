"""A first install of the real release from answers, in a throwaway root.

The release is a signed bundle of the committed code (as tests/infra/test_release_update
builds it), installed by this checkout's installer/install.sh with KABINET_PREFIX and no
systemd, against the demo clinic's SQLite MIS and the Telegram emulator: once from an
answers file, once through a terminal (a pty) taking the defaults. The owner's password
must reach the person installing and nothing else: no file under the root, the service's
log included, holds it.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pty
import re
import select
import signal
import stat
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.telegram.emulator import TelegramEmulator
from tests.connectors.contract.engines import MisEngine, demo_sqlite
from tests.infra.test_install_checks import write_answers
from tests.infra.test_installer_sandbox import out
from tests.infra.test_release_update import Appliance, Builder, free_port

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
TOKEN = "7000123456:AAH-kabinet-install-test-token-00001"
PASSWORD = re.compile(r"First owner of the panel: login (\S+), password (\S+)")

# A whole install builds a release's virtualenv: minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Builder(tmp_path_factory.mktemp("bundle")).build("1.0")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MisEngine]:
    with demo_sqlite(tmp_path_factory.mktemp("demo-mis")) as engine:
        yield engine


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.register_bot(token=TOKEN, username="ulybka_clinic_bot")
        yield emulator


class Box(Appliance):
    """The sandbox with the port in the answers (or $KABINET_PORT for the pty run)."""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root, port)
        self.env.pop("KABINET_PORT")

    def holding(self, secret: str) -> list[str]:
        """Every file under the root whose bytes hold the secret (gzip members opened)."""
        found = []
        for path in self.prefix.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            if path.suffix == ".gz":
                with contextlib.suppress(OSError, EOFError):
                    data += gzip.decompress(data)
            if secret.encode() in data:
                found.append(str(path))
        return found


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    sandbox = Box(tmp_path, free_port())
    yield sandbox
    sandbox.stop()


def test_install_from_an_answers_file(
    box: Box, bundle: Path, demo: MisEngine, telegram: TelegramEmulator, tmp_path: Path
) -> None:
    config = box.path("/etc/kabinet/config.toml")
    answers = dict(
        CLINIC_NAME="Стоматология «Жемчуг»",
        TIMEZONE="Asia/Yekaterinburg",
        MIS_PROFILE="demo",
        MIS_DSN=tmp_path / "no-such-clinic.sqlite3",
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_CHECK="yes",
        TELEGRAM_API_URL=telegram.url,
        OWNER_LOGIN="Glavvrach",
        WEB_PORT=box.port,
    )
    # --- a DSN that fails `kabinet mis check`: refused with its reason, never saved ----
    result = box.run(
        "install.sh", "--answers", write_answers(tmp_path / "a.env", **answers), bundle
    )
    assert result.returncode == 7, out(result)
    assert "the MIS check failed; nothing was saved" in result.stderr
    assert "no-such-clinic.sqlite3 does not exist" in result.stderr
    assert not config.exists() and list(box.path("/etc/kabinet").glob(".config*")) == []
    assert box.pid() is None

    # --- a token Telegram does not know: refused by getMe ----------------------------------
    answers["MIS_DSN"] = demo.dsn
    unknown = {**answers, "TELEGRAM_TOKEN": "7000999999:AAH-kabinet-install-test-unknown-001"}
    result = box.run(
        "install.sh", "--answers", write_answers(tmp_path / "b.env", **unknown), bundle
    )
    assert result.returncode == 6, out(result)
    assert "Telegram refused it (401" in result.stderr and not config.exists()

    # --- the right answers -----------------------------------------------------------------
    result = box.run(
        "install.sh", "--answers", write_answers(tmp_path / "c.env", **answers), bundle
    )
    assert result.returncode == 0, out(result)
    assert "already built" in result.stdout  # the refused tries kept the built release
    assert "✓ the token is bot @ulybka_clinic_bot" in result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written["clinic"] == {
        **written["clinic"],
        "name": "Стоматология «Жемчуг»",
        "timezone": "Asia/Yekaterinburg",
    }
    assert written["mis"]["dsn"] == demo.dsn and written["web"]["port"] == box.port
    assert written["telegram"]["token"] == TOKEN and written["telegram"]["mode"] == "polling"
    assert written["telegram"]["bot_username"] == "ulybka_clinic_bot"
    check = box.kabinet("config", "check")
    assert check.returncode == 0, out(check)
    secret_key = box.path("/var/lib/kabinet/secret_key")
    assert stat.S_IMODE(secret_key.stat().st_mode) == 0o600 and len(secret_key.read_text()) == 64

    # The owner exists before the service starts, so the service never makes one of its own
    # (whose password would go to its log); the password was shown once, and is nowhere.
    assert box.logins() == ["glavvrach"]
    shown = PASSWORD.findall(result.stdout)
    assert len(shown) == 1 and shown[0][0] == "glavvrach", result.stdout
    password = shown[0][1]
    assert result.stdout.count(password) == 1 and password not in result.stderr
    assert box.health()["version"] == "1.0"
    assert box.holding(password) == []
    log = box.path("/var/log/kabinet/kabinet.log")
    assert log.stat().st_size > 0 and password not in log.read_text(errors="replace")

    # --- log rotation: the snippet names the sandbox's log, and logrotate rotates it --------
    snippet = box.path("/etc/logrotate.d/kabinet")
    assert f"{log} {{" in snippet.read_text() and "copytruncate" in snippet.read_text()
    rotated = subprocess.run(
        ["logrotate", "--force", "--state", str(tmp_path / "logrotate.state"), str(snippet)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rotated.returncode == 0, out(rotated)
    assert box.path("/var/log/kabinet/kabinet.log.1").exists()

    # --- again with answers: refused, nothing overwritten; without: kept, repaired ---------
    before = config.read_bytes(), secret_key.read_bytes()
    again = {**answers, "CLINIC_NAME": "Другая клиника"}
    result = box.run("install.sh", "--answers", write_answers(tmp_path / "d.env", **again), bundle)
    assert result.returncode == 8, out(result)
    assert "exists and is kept: install.sh never overwrites it" in result.stderr
    assert (config.read_bytes(), secret_key.read_bytes()) == before
    result = box.run("install.sh", bundle)
    assert result.returncode == 0, out(result)
    assert (
        "keeping the existing" in result.stdout
        and "keeping the existing secret key" in result.stdout
    )
    assert (config.read_bytes(), secret_key.read_bytes()) == before
    assert "password" not in result.stdout and box.logins() == ["glavvrach"]

    # --- uninstall takes the snippet with the unit ------------------------------------------
    result = box.run("uninstall.sh")
    assert result.returncode == 0, out(result)
    assert not snippet.exists() and config.exists()


class Terminal:
    """install.sh on a pty of its own (its controlling terminal, so /dev/tty is the pty)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execvpe(argv[0], argv, env)
        self.screen = ""  # everything shown, typed answers echoed
        self.pos = 0  # where the next expect looks from
        self.closed = False

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the pty
            chunk = b""
        if not chunk:
            self.closed = True
        self.screen += chunk.decode(errors="replace")

    def expect(self, text: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.pos :]:
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} on the terminal:\n{self.screen}")
            self._read(1)
        self.pos = self.screen.index(text, self.pos) + len(text)

    def answer(self, prompt: str, reply: str = "") -> None:
        self.expect(prompt)
        os.write(self.fd, reply.encode() + b"\r")

    def finish(self, timeout: float = 300) -> int:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._read(1)
        if not self.closed:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_interactive_install_with_the_defaults(
    box: Box, bundle: Path, demo: MisEngine, tmp_path: Path
) -> None:
    # The defaults: the clinic name of config.example.toml, the machine's zone ($TZ here,
    # so the test does not depend on this machine's), profile demo, no bot, login owner.
    env = {**box.env, "KABINET_PORT": str(box.port), "TZ": "Europe/Kaliningrad"}
    term = Terminal(["bash", str(INSTALLER / "install.sh"), str(bundle)], env)
    term.answer("Clinic name, as patients see it [Стоматология «Улыбка»]: ")
    term.answer("Clinic time zone (IANA name) [Europe/Kaliningrad]: ")
    term.answer("MIS profile [demo]: ")
    term.answer("read-only account []: ", str(tmp_path / "typo.sqlite3"))
    term.expect("Let us try again.")
    term.answer("MIS profile [demo]: ")
    term.answer(f"read-only account [{tmp_path / 'typo.sqlite3'}]: ", demo.dsn)
    term.answer("Telegram bot token from @BotFather [empty: none]: ")
    term.answer("Login of the first owner of the panel [owner]: ")
    code = term.finish()
    screen = term.screen
    assert code == 0, screen
    assert f"demo clinic database {tmp_path / 'typo.sqlite3'} does not exist" in screen
    written = tomllib.loads(box.path("/etc/kabinet/config.toml").read_text(encoding="utf-8"))
    assert written["clinic"]["name"] == "Стоматология «Улыбка»"
    assert written["clinic"]["timezone"] == "Europe/Kaliningrad"
    assert written["mis"]["profile"] == "demo" and written["mis"]["dsn"] == demo.dsn
    assert written["telegram"]["mode"] == "off" and "the bot is OFF" in screen
    shown = PASSWORD.findall(screen)
    assert [login for login, _ in shown] == ["owner"], screen
    assert box.logins() == ["owner"]
    assert box.holding(shown[0][1]) == []
    assert box.kabinet("config", "check").returncode == 0
