"""Shared fixtures: a fresh configuration, store and app per test, plus test personas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config, from_mapping
from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade

PASSWORDS = {"owner": "owner-pass-123", "admin": "admin-pass-123"}


def make_config(tmp_path: Path, **sections: dict) -> Config:
    raw: dict[str, dict] = {
        "clinic": {"name": "Тестовая клиника", "timezone": "Europe/Moscow"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3"), "poll_seconds": 2},
        "messaging": {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return from_mapping(raw, source="(test)", environ={})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def factory(config: Config) -> Iterator[sessionmaker[Session]]:
    """A migrated local store in the test's own directory."""
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def app(config: Config, factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    from app import create_app
    from core.staff import create_user

    with transaction(factory) as session:
        create_user(session, "owner", "owner", PASSWORDS["owner"], "Владелец Клиники")
        create_user(session, "admin", "admin", PASSWORDS["admin"], "Ольга Админова")
    flask_app = create_app(config)
    flask_app.config["TESTING"] = True
    yield flask_app
    from app.extensions import db

    with flask_app.app_context():
        db.engine.dispose()


class Persona:
    """A browser-less panel user: logs in through the real form, CSRF token included."""

    def __init__(self, client, login: str | None) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.login_name = login
        if login is not None:
            self.login(login, PASSWORDS[login])

    def csrf(self) -> str:
        self.client.get("/login")
        with self.client.session_transaction() as sess:
            return str(sess["csrf"])

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


@pytest.fixture
def outsider(app) -> Persona:  # type: ignore[no-untyped-def]
    return Persona(app.test_client(), None)
