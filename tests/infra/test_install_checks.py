"""install.sh's refusals before anything is built, and installer/answers.py's answers.

The refusals run the real install.sh in a sandbox root with a release that does not even
exist: each check must stop the install first, with its own message and exit code, and
leave nothing behind. The answers are checked against the real MIS engines of
tests/connectors/contract (the demo clinic's SQLite, IDENT's schema on PostgreSQL through
ODBC) with this checkout's own `kabinet mis check`.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.connectors.contract.engines import MisEngine, demo_sqlite, ident_postgres

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
KABINET = str(Path(sys.executable).with_name("kabinet"))


def load_answers_module() -> ModuleType:
    # As install.sh runs it: a script beside its helper module (answers_config.py).
    if str(INSTALLER) not in sys.path:
        sys.path.insert(0, str(INSTALLER))
    spec = importlib.util.spec_from_file_location("installer_answers", INSTALLER / "answers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


answers_py = load_answers_module()


def write_answers(path: Path, **values: object) -> Path:
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MisEngine]:
    with demo_sqlite(tmp_path_factory.mktemp("demo-mis")) as engine:
        yield engine


# --------------------------------------------------------------- refusals --


class Refusals:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = root / "prefix"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KABINET_")},
            "KABINET_PREFIX": str(self.prefix),
            "KABINET_NO_SYSTEMD": "1",
        }

    def install(self, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(INSTALLER / "install.sh"), *map(str, args)],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def written(self) -> list[str]:
        """What the refused install left: at most its lock file."""
        if not self.prefix.exists():
            return []
        return sorted(
            str(p.relative_to(self.prefix))
            for p in self.prefix.rglob("*")
            if p.is_file() and p.name != ".installer.lock"
        )


@pytest.fixture
def box(tmp_path: Path) -> Refusals:
    return Refusals(tmp_path)


def test_each_check_refuses_with_its_reason_and_code(box: Refusals, tmp_path: Path) -> None:
    nowhere = tmp_path / "no-such-release"  # a check that lets it through fails at staging
    good = write_answers(
        tmp_path / "good.env", CLINIC_NAME="Улыбка", TIMEZONE="Europe/Moscow", MIS_DSN="x.db"
    )
    # Reached only when every check passed: the proof that the cases below stop earlier.
    result = box.install("--answers", good, nowhere)
    assert result.returncode == 1 and "no such release" in result.stderr, result.stderr

    cases: list[tuple[str, tuple[str | Path, ...], dict[str, str], int, str]] = [
        ("no terminal, no answers", (nowhere,), {}, 2, "no terminal to ask the questions on"),
        ("missing file", ("--answers", tmp_path / "nope.env", nowhere), {}, 2, "no such answers"),
        ("bad option", ("--force",), {}, 2, "unknown option: --force"),
        (
            "not Linux",
            ("--answers", good, nowhere),
            {"PATH": f"{fake_uname(tmp_path)}:{os.environ['PATH']}"},
            3,
            "Kabinet installs on Linux (Debian 12, Ubuntu 24.04), not on Darwin",
        ),
        (
            "no systemd",
            ("--answers", good, nowhere),
            {"KABINET_NO_SYSTEMD": "0", "KABINET_SYSTEMD_RUN": str(tmp_path / "none")},
            3,
            "does not run systemd",
        ),
        (
            "disk",
            ("--answers", good, nowhere),
            {"KABINET_MIN_FREE_MB": str(10**9)},
            4,
            f"Kabinet needs at least {10**9} MB",
        ),
    ]
    bad_tz = write_answers(tmp_path / "tz.env", TIMEZONE="Moscow", MIS_DSN="x.db")
    cases.append(
        (
            "time zone",
            ("--answers", bad_tz, nowhere),
            {},
            6,
            "TIMEZONE = 'Moscow': not an IANA time zone (like Europe/Moscow); did you mean "
            "Europe/Moscow?",
        )
    )
    bad_token = write_answers(tmp_path / "tok.env", MIS_DSN="x.db", TELEGRAM_TOKEN="12345:short")
    cases.append(("token", ("--answers", bad_token, nowhere), {}, 6, "@BotFather"))
    typo = write_answers(tmp_path / "typo.env", MIS_DSN="x.db", TIME_ZONE="Europe/Moscow")
    cases.append(("typo", ("--answers", typo, nowhere), {}, 6, "did you mean TIMEZONE?"))
    no_dsn = write_answers(tmp_path / "nodsn.env", CLINIC_NAME="Улыбка")
    cases.append(("no DSN", ("--answers", no_dsn, nowhere), {}, 6, "MIS_DSN: missing"))

    for name, args, env, code, message in cases:
        result = box.install(*args, **env)
        assert result.returncode == code, (name, result.stdout, result.stderr)
        assert message in result.stderr, (name, result.stderr)
        assert box.written() == [], name


def fake_uname(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    uname = bin_dir / "uname"
    uname.write_text("#!/bin/sh\necho Darwin\n")
    uname.chmod(0o755)
    return bin_dir


def test_the_port_in_use_is_refused(box: Refusals, tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        answers = write_answers(tmp_path / "a.env", MIS_DSN="x.db", WEB_PORT=port)
        result = box.install("--answers", answers, tmp_path / "no-release")
        assert result.returncode == 5, result.stderr
        assert f"port {port} on 127.0.0.1 is in use" in result.stderr
        # $KABINET_PORT wins over the answer, as it does for the service.
        result = box.install(
            "--answers",
            write_answers(tmp_path / "b.env", MIS_DSN="x.db"),
            tmp_path / "no-release",
            KABINET_PORT=str(port),
        )
        assert result.returncode == 5 and f"port {port}" in result.stderr, result.stderr
    assert box.written() == []


# ---------------------------------------------------------------- answers --


def test_answers_file_forms(tmp_path: Path) -> None:
    shell = tmp_path / "answers.env"
    shell.write_text(
        '# comment\n\nclinic_name="Клиника \\"Зуб\\""\nMIS_DSN=\'C:\\dir\\pz.db\'\nWEB_PORT=9090\n',
        encoding="utf-8",
    )
    assert answers_py.read_answers(shell) == {
        "CLINIC_NAME": 'Клиника "Зуб"',
        "MIS_DSN": "C:\\dir\\pz.db",
        "WEB_PORT": "9090",
    }
    toml = tmp_path / "answers.toml"
    toml.write_text('clinic_name = "Улыбка"\nweb_port = 9091\ntelegram_check = true\n')
    assert answers_py.read_answers(toml) == {
        "CLINIC_NAME": "Улыбка",
        "WEB_PORT": "9091",
        "TELEGRAM_CHECK": "true",
    }
    broken = tmp_path / "broken.toml"
    broken.write_text("clinic_name = \n")
    with pytest.raises(answers_py.Refused, match="is not valid TOML") as caught:
        answers_py.read_answers(broken)
    assert caught.value.code == 2
    with pytest.raises(answers_py.Refused, match="line 1: expected KEY=VALUE"):
        bad = tmp_path / "bad.env"
        bad.write_text("just words\n")
        answers_py.read_answers(bad)


def test_render_keeps_the_example_and_sets_the_answers() -> None:
    example = (REPO / "config.example.toml").read_text(encoding="utf-8")
    text = answers_py.render(
        example,
        {
            ("clinic", "name"): 'Клиника "Зуб" \\ 1',
            ("mis", "dsn"): "DRIVER={x};SERVER=a\\b",
            ("web", "port"): 9000,
            ("telegram", "mode"): "off",
        },
    )
    config = tomllib.loads(text)
    assert config["clinic"]["name"] == 'Клиника "Зуб" \\ 1'
    assert config["mis"]["dsn"] == "DRIVER={x};SERVER=a\\b"
    assert config["web"]["port"] == 9000 and config["telegram"]["mode"] == "off"
    # Everything else as in the example, comments included.
    assert config["messaging"] == tomllib.loads(example)["messaging"]
    assert text.count("\n#") == example.count("\n#")


def configure(
    tmp_path: Path, answers: Path, config: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    owner = tmp_path / "owner.txt"
    result = subprocess.run(
        [
            sys.executable,
            str(INSTALLER / "answers.py"),
            "configure",
            "--example",
            str(REPO / "config.example.toml"),
            "--config",
            str(config),
            "--kabinet",
            KABINET,
            "--owner-out",
            str(owner),
            "--answers",
            str(answers),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, owner


@pytest.mark.postgres
def test_ident_on_postgresql_checked_before_it_is_saved(tmp_path: Path) -> None:
    with ident_postgres() as ident:
        config = tmp_path / "config.toml"
        wrong = write_answers(
            tmp_path / "wrong.env",
            MIS_PROFILE="ident",
            MIS_DSN=ident.dsn.replace(
                f"DATABASE={ident.extra['admin_dsn'].rsplit('/', 1)[1]}",
                "DATABASE=kabinet_no_such_db",
            ),
            MIS_PASSWORD=ident.password,
            TIMEZONE="Europe/Moscow",
        )
        result, _ = configure(tmp_path, wrong, config)
        assert result.returncode == 7, result.stdout + result.stderr
        assert "the MIS check failed; nothing was saved" in result.stderr
        assert "kabinet_no_such_db" in result.stderr  # the check's own reason, passed on
        assert not config.exists()
        assert list(tmp_path.glob(".config.toml*")) == []  # no candidate left either

        right = write_answers(
            tmp_path / "right.env",
            MIS_PROFILE="ident",
            MIS_DSN=ident.dsn,
            MIS_PASSWORD=ident.password,
            TIMEZONE="Asia/Yekaterinburg",
            OWNER_LOGIN="Glavvrach",
        )
        result, owner = configure(tmp_path, right, config)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "✓ appointment: OK" in result.stdout
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        written = tomllib.loads(config.read_text(encoding="utf-8"))
        assert written["mis"]["profile"] == "ident" and written["mis"]["dsn"] == ident.dsn
        assert written["mis"]["password"] == ident.password
        assert written["clinic"]["timezone"] == "Asia/Yekaterinburg"
        assert written["telegram"]["mode"] == "off"  # no token given: the bot is off
        assert owner.read_text() == "owner=glavvrach\nbot=off\n"
        check = subprocess.run(
            [KABINET, "config", "check", str(config)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0 and "profile 'ident'" in check.stdout, check.stderr


def test_demo_dsn_that_fails_is_never_saved(tmp_path: Path, demo: MisEngine) -> None:
    config = tmp_path / "config.toml"
    wrong = write_answers(tmp_path / "w.env", MIS_DSN=tmp_path / "missing.sqlite3")
    result, _ = configure(tmp_path, wrong, config)
    assert result.returncode == 7, result.stderr
    assert f"demo clinic database {tmp_path / 'missing.sqlite3'} does not exist" in result.stderr
    assert not config.exists()
    store = "postgresql://kabinet@db-host/kabinet"  # a PostgreSQL store, from the file only
    right = write_answers(
        tmp_path / "r.env", MIS_DSN=demo.dsn, TIMEZONE="Europe/Samara", DATABASE_URL=store
    )
    result, _ = configure(tmp_path, right, config)
    assert result.returncode == 0, result.stderr
    written = tomllib.loads(config.read_text())
    assert written["mis"]["dsn"] == demo.dsn
    # Named with the driver every release carries (psycopg2), not SQLAlchemy's default.
    assert written["storage"]["database_url"] == "postgresql+psycopg2://kabinet@db-host/kabinet"
    with pytest.raises(answers_py.Refused, match="DATABASE_URL: expected empty"):
        answers_py.check_value("DATABASE_URL", "mysql://kabinet@db/kabinet", [])
