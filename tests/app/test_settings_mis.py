"""«Подключение к МИС» (app/views/settings.py, core/settings/mis_check.py): «Проверить» runs
the checks of `kabinet mis check` on the typed profile and DSN, against the demo clinic's
SQLite MIS; a DSN that does not connect is refused with the reason in Russian, nothing is
kept, and its password is neither shown nor logged."""

from __future__ import annotations

import html
import logging
import shutil

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.settings import mis_check, store
from core.settings.models import PanelSetting
from tests.conftest import Persona


def _rows(factory: sessionmaker[Session]) -> dict[str, object]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_only_the_owner_checks_it(owner: Persona, administrator: Persona, config: Config) -> None:
    data = {"mis__profile": "demo", "mis__dsn": config.mis.dsn, "action": "check"}
    assert administrator.get("/settings/mis").status_code == 403
    assert administrator.post("/settings/mis", data).status_code == 403
    page = _text(owner.get("/settings/mis"))
    assert "Проверить" in page and config.mis.dsn in page and "из файла" in page


def test_the_check_passes_on_the_demo_mis_and_keeps_nothing(
    owner: Persona, config: Config, factory, demo_clinic
) -> None:  # type: ignore[no-untyped-def]
    response = owner.post(
        "/settings/mis", {"mis__profile": "demo", "mis__dsn": config.mis.dsn, "action": "check"}
    )
    assert response.status_code == 200
    page = _text(response)
    assert "✓ Подключение работает: все запросы профиля выполнены." in page
    assert "connected: " in page and "✓ patient: OK (5 rows read" in page
    assert _rows(factory) == {}


def test_a_checked_dsn_is_kept_and_in_force(
    owner: Persona, config: Config, factory, demo_clinic, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    moved = tmp_path / "moved.sqlite3"
    shutil.copy(config.mis.dsn, moved)
    response = owner.post(
        "/settings/mis", {"mis__profile": "demo", "mis__dsn": str(moved), "action": "save"}
    )
    assert response.status_code == 302
    assert _rows(factory) == {"mis.dsn": str(moved)}
    page = _text(owner.get("/settings/mis"))
    assert "Проверено и сохранено: «Строка подключения (DSN)»." in page
    assert "изменено в панели" in page
    with factory() as s:
        assert store.effective(s, config).mis.dsn == str(moved)
    assert owner.post("/settings/reset", {"key": "mis.dsn"}).status_code == 302
    assert _rows(factory) == {}


def test_an_unreachable_mis_is_refused_nothing_kept_no_password_shown(
    owner: Persona, config: Config, factory, demo_clinic, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    dsn = f"{tmp_path}/PWD=s3cret-pw;none.sqlite3"
    with caplog.at_level(logging.INFO, logger="core.settings.mis_check"):
        response = owner.post(
            "/settings/mis", {"mis__profile": "demo", "mis__dsn": dsn, "action": "save"}
        )
    assert response.status_code == 400
    page = _text(response)
    assert "Не сохранено: проверка не прошла. Подключиться не удалось: сервер базы МИС " in page
    assert "недоступен" in page and "does not exist" in page  # the command's own report
    assert "s3cret-pw" not in page and "PWD=***" in page
    assert "s3cret-pw" not in caplog.text and "MIS check from the panel by owner" in caplog.text
    assert _rows(factory) == {}
    # An unknown profile is refused before anything connects.
    bad = owner.post("/settings/mis", {"mis__profile": "nope", "mis__dsn": dsn, "action": "save"})
    assert bad.status_code == 400 and "s3cret-pw" not in _text(bad)
    assert "«МИС (профиль запросов)»: «nope» не подходит" in _text(bad)
    empty = owner.post("/settings/mis", {"mis__profile": "demo", "mis__dsn": "", "action": "save"})
    assert empty.status_code == 400 and _rows(factory) == {}


def test_a_check_that_does_not_finish_in_time_says_so(config: Config, demo_clinic) -> None:  # type: ignore[no-untyped-def]
    report = mis_check.run(config, seconds=0.000001)
    assert report.ok is False
    assert report.headline.startswith("Проверка не закончилась за 1e-06 с")


def test_the_runner_opens_the_kept_connection(
    config: Config, factory, demo_clinic, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    assert store.mis_in_force(factory, config) is config
    moved = str(tmp_path / "moved.sqlite3")
    shutil.copy(config.mis.dsn, moved)
    with factory() as s:
        store.save(s, config, {"mis.dsn": moved}, "owner")
        s.commit()
    assert store.mis_in_force(factory, config).mis.dsn == moved
    assert store.mis_in_force(factory, config).messaging == config.messaging
