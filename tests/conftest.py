"""Shared fixtures: a fresh configuration, store and app per test, plus test personas."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
import time_machine
from argon2 import PasswordHasher
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.access import passwords
from core.clock import utcnow
from core.config import Config, from_mapping
from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import OutboxMessage
from jobs.runner import Appliance
from sandbox.demo_clinic import DemoClinic, build_demo_clinic
from sandbox.demo_clinic.wallclock import clinic_now  # the demo clinic's naive Moscow time
from sandbox.telegram import TelegramEmulator

if TYPE_CHECKING:
    from tests.app.test_demo import Kabinet

# --- time: one library (time-machine) moves the clock for every component at once -------
#
# The appliance reads "now" only through core.clock.utcnow, i.e. datetime.now(UTC), which
# time-machine replaces underneath: a test that travels moves the outbox, the dispatcher,
# the sync, the rules and the panel together. `make test` reruns the tests marked
# `clock` with the whole session started at each of scripts/instants.txt's instants
# (KABINET_TEST_INSTANT) and once under another TZ, so a test that only passes at some
# hours, dates or machine zones fails here rather than on some customer's night.

INSTANT_ENV = "KABINET_TEST_INSTANT"


def _test_instant() -> datetime | None:
    value = os.environ.get(INSTANT_ENV, "").strip()
    if not value:
        return None
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{INSTANT_ENV}={value!r} needs a UTC offset or a zone")
    return instant


_session_travel: time_machine.travel | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _session_travel
    instant = _test_instant()
    if instant is not None:
        # Started here, before any session fixture, so shared data is built "then" too.
        _session_travel = time_machine.travel(instant, tick=True)
        _session_travel.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_travel is not None:
        _session_travel.stop()


def pytest_report_header(config: pytest.Config) -> str:
    instant = _test_instant()
    zone = os.environ.get("TZ", "(unset)")
    store = "PostgreSQL" if pg_store_wanted() else "SQLite"
    return (
        f"kabinet clock: {'frozen at ' + instant.isoformat() if instant else 'real'}, "
        f"TZ={zone}; store: {store}"
    )


@pytest.fixture(autouse=True)
def _built_in_texts() -> Iterator[None]:
    """Each test starts and ends with the catalogue's own texts: the owner's edits and
    former menu labels are process-wide hooks (core.texts, core.texts.menu_labels)."""
    from core import texts
    from core.texts import menu_labels

    texts.set_panel_overrides({})
    menu_labels.set_former({})
    yield
    texts.set_panel_overrides({})
    menu_labels.set_former({})


@pytest.fixture(autouse=True)
def _at_the_instant() -> Iterator[None]:
    """Under KABINET_TEST_INSTANT every test starts at that very instant (and ticks on)."""
    instant = _test_instant()
    if instant is None:
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield


class WallClock:
    """The wall clock under a test's control: set or advance it, everything sees it."""

    def __init__(self, traveller: time_machine.Traveller) -> None:
        self._traveller = traveller

    def __call__(self) -> datetime:
        return utcnow()

    def set(self, moment: datetime) -> None:
        self._traveller.move_to(moment)

    def advance(self, delta: timedelta) -> None:
        self._traveller.shift(delta)


@pytest.fixture
def clock() -> Iterator[WallClock]:
    """Time that goes on as usual from now (the frozen instant in a rerun) until moved."""
    with time_machine.travel(utcnow(), tick=True) as traveller:
        yield WallClock(traveller)


@pytest.fixture
def processes() -> Iterator[list[Kabinet]]:
    """Appliance processes a test starts (`kabinet demo`/`run`); killed at its end, last first."""
    started: list[Kabinet] = []
    yield started
    for kabinet in reversed(started):
        kabinet.kill()


# The suite logs in hundreds of times: cheap argon2 parameters here (a test of the real
# ones, and of equal work for an unknown login, is in tests/app/test_access.py).
passwords.configure(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

PASSWORDS = {"owner": "owner-pass-123", "manager": "manager-pass-123", "admin": "admin-pass-123"}


def make_config(tmp_path: Path, **sections: dict) -> Config:
    raw: dict[str, dict] = {
        "clinic": {"name": "Тестовая клиника", "timezone": "Europe/Moscow"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3"), "poll_seconds": 2},
        "messaging": {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"},
        # Personas stay logged in while a test moves the clock by hours or days; the real
        # timeouts are tested in tests/app/test_access.py.
        "web": {"session_idle_minutes": 1440, "session_max_hours": 720},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return from_mapping(raw, source="(test)", environ={})


# --- the store: SQLite, or PostgreSQL under KABINET_TEST_STORE=postgresql -----------------
#
# `make test-pg` reruns the store, ledger, outbox, lock and migration tests with
# KABINET_TEST_STORE=postgresql: then `config` (and so `factory`, `app`) and `store_url`
# point at a database of the test's own on the server at 127.0.0.1:5432 (trust auth, user
# postgres, as scripts/services.sh sets it up), created for the test and dropped after.
# `store_url` is empty (the migration tests start from nothing); `config`'s is a copy of
# one migrated once per session (CREATE DATABASE … TEMPLATE: half the time of migrating
# each one again).

STORE_ENV = "KABINET_TEST_STORE"
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def pg_store_wanted() -> bool:
    value = os.environ.get(STORE_ENV, "sqlite").strip() or "sqlite"
    if value not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{STORE_ENV}={value!r}: expected sqlite or postgresql")
    return value == "postgresql"


@contextmanager
def pg_database(template: str = "") -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of `template`), dropped on leaving."""
    name = f"kabinet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(
                text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
            )
    except Exception as exc:  # no server here: skipped (and failed in CI, see below)
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not available: {exc.__class__.__name__}")
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    with pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a database migrated to the head, for tests to copy."""
    with pg_database() as url:
        engine = make_engine(url)
        upgrade(engine, tmp_path_factory.mktemp("pg") / "migrate.lock")
        engine.dispose()  # a template must have no connections while it is copied
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store for this test, of the engine the run is about."""
    if pg_store_wanted():
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'k.sqlite3'}"


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Config]:
    if not pg_store_wanted():
        yield make_config(tmp_path)
        return
    with pg_database(template=request.getfixturevalue("pg_migrated")) as url:
        yield make_config(tmp_path, storage={"database_url": url})


@pytest.fixture
def factory(config: Config) -> Iterator[sessionmaker[Session]]:
    """A migrated local store in the test's own directory."""
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    yield session_factory(engine)
    engine.dispose()


def make_app(config: Config):  # type: ignore[no-untyped-def]
    """A Flask app on an already migrated store, with the owner and admin personas."""
    from app import create_app
    from core.staff import create_user, has_users

    engine = make_engine(config.storage.url)
    with transaction(session_factory(engine)) as session:
        if not has_users(session):
            create_user(session, "owner", "owner", PASSWORDS["owner"], "Владелец Клиники")
            create_user(session, "admin", "admin", PASSWORDS["admin"], "Ольга Админова")
    engine.dispose()
    flask_app = create_app(config)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def app_for() -> Iterator[Callable[[Config], object]]:
    made = []

    def build(config: Config):  # type: ignore[no-untyped-def]
        made.append(make_app(config))
        return made[-1]

    yield build
    from app.extensions import db

    for flask_app in made:
        with flask_app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(config: Config, factory: sessionmaker[Session], app_for):  # type: ignore[no-untyped-def]
    return app_for(config)


class Persona:
    """A browser-less panel user: logs in through the real form, CSRF token included.

    The token is Flask-WTF's: its raw value sits in the session, the form carries it
    signed with the app's key (what the page's csrf_token() renders)."""

    def __init__(self, client, login: str | None) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.login_name = login
        if login is not None:
            self.login(login, PASSWORDS[login])

    def csrf(self) -> str:
        from itsdangerous import URLSafeTimedSerializer

        with self.client.session_transaction() as sess:
            raw = sess.get("csrf_token")
        if raw is None:
            self.client.get("/login")  # the form's page puts one in the session
            with self.client.session_transaction() as sess:
                raw = sess["csrf_token"]
        key = self.client.application.config["SECRET_KEY"]
        return URLSafeTimedSerializer(key, salt="wtf-csrf-token").dumps(raw)

    def login(self, login: str, password: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/login", data={"login": login, "password": password, "csrf_token": self.csrf()}
        )

    def get(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.get(url)

    def post(self, url: str, data: dict | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf()})


@pytest.fixture
def owner(app) -> Persona:  # type: ignore[no-untyped-def]
    return Persona(app.test_client(), "owner")


@pytest.fixture
def administrator(app) -> Persona:  # type: ignore[no-untyped-def]
    return Persona(app.test_client(), "admin")


def add_manager(flask_app) -> None:  # type: ignore[no-untyped-def]
    """The manager persona's account, made only where a test asks for it (others count
    the staff)."""
    from app.extensions import db
    from core.staff import create_user

    with flask_app.app_context():
        create_user(db.session(), "manager", "manager", PASSWORDS["manager"], "Мария Управляющая")
        db.session.commit()


@pytest.fixture
def manager(app) -> Persona:  # type: ignore[no-untyped-def]
    add_manager(app)
    return Persona(app.test_client(), "manager")


@pytest.fixture
def outsider(app) -> Persona:  # type: ignore[no-untyped-def]
    return Persona(app.test_client(), None)


# --- the sandbox: Telegram emulator, demo clinic, a wired appliance ------------------------

MOSCOW = ZoneInfo("Europe/Moscow")
TOKEN = "123456789:TEST-kabinet-token-for-the-emulator"


@pytest.fixture
def emulator() -> Iterator[TelegramEmulator]:
    from telebot import apihelper

    saved = apihelper.API_URL, apihelper.FILE_URL
    emu = TelegramEmulator(host="127.0.0.1", port=0)
    emu.start()
    emu.register_bot(token=TOKEN, username="kabinet_test_bot", first_name="Тестовая клиника")
    yield emu
    emu.stop()
    apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def demo_clinic(config: Config) -> DemoClinic:
    build_demo_clinic(config.mis.dsn, patients=60, seed=7, now=clinic_now())
    return DemoClinic(config.mis.dsn, clock=clinic_now)


@dataclass
class Wired:
    """An appliance driven step by step: poll Telegram, sync the MIS, dispatch."""

    appliance: Appliance
    emulator: TelegramEmulator
    config: Config
    staff_chat_id: int

    def pump(self, until: Callable[[], bool], timeout: float = 15.0) -> None:
        """Poll updates and dispatch the outbox until `until()` holds."""
        deadline = time.monotonic() + timeout
        while True:
            # pyTelegramBotAPI cannot short-poll (a 0 timeout becomes its 10 s default),
            # so only call getUpdates when the emulator holds something.
            if self.emulator.stats()["pending_updates"]:
                self.appliance.poller.poll_once(timeout=1)
            self.appliance.dispatcher.dispatch_once()
            if until():
                return
            if time.monotonic() > deadline:
                raise AssertionError("timed out; outbox: " + repr(self.outbox_states()))
            time.sleep(0.05)

    def wait_messages(self, chat_id: int, count: int, timeout: float = 15.0) -> list[dict]:
        self.pump(lambda: len(self.emulator.messages(chat_id)) >= count, timeout)
        return self.emulator.messages(chat_id)

    def prove_number(self, chat_id: int, answer: dict, seen: int) -> tuple[dict, int]:
        """Telegram's own card proves the number: nothing more to do (MAX's does not:
        tests/e2e/max_wired.py types the code sent by SMS)."""
        return answer, seen

    def outbox_states(self) -> list[tuple[str, str, str]]:
        with self.appliance.factory() as s:
            return [(m.key, m.state, m.last_error) for m in s.scalars(select(OutboxMessage))]


@pytest.fixture
def wired(tmp_path: Path, emulator: TelegramEmulator, demo_clinic: DemoClinic) -> Iterator[Wired]:
    staff_user = emulator.create_user(first_name="Ольга", last_name="Админова")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff_user["id"]])
    cfg = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url, "staff_chat_id": staff_chat},
        messaging={"reminder_send_at": "00:00"},
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    appliance = Appliance(cfg, factory=session_factory(engine))
    yield Wired(appliance, emulator, cfg, staff_chat)
    appliance.stop()
    engine.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI every test must run: a skip (a missing service, browser or driver) fails."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
