"""The MAX webhook view (max.mode = "webhook") and its configuration: an update with the
subscription's secret is stored in the MAX inbox, once even if MAX sends it again; a wrong
or missing secret is refused with 401 and stores nothing; `kabinet config check` names a
webhook set up wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import cli
from core.config import ConfigError, from_mapping
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import KeyValue, MaxUpdate
from sandbox.demo import write_config
from tests.conftest import make_config

SECRET = "max-webhook-secret-0123456789"
URL = "https://clinic.example.ru/max/webhook"


def _update(text: str = "Здравствуйте") -> dict[str, Any]:
    return {
        "update_type": "message_created",
        "timestamp": 1_767_225_600_000,
        "message": {
            "sender": {"user_id": 100001, "first_name": "Анна", "is_bot": False},
            "recipient": {"chat_id": 900000001, "chat_type": "dialog"},
            "timestamp": 1_767_225_600_000,
            "body": {"mid": "mid.0000000000000001", "seq": 1, "text": text},
        },
        "user_locale": "ru",
    }


def _app(tmp_path: Path, app_for, **max_section: Any):  # type: ignore[no-untyped-def]
    section = {
        "enabled": True,
        "token": "max-token",
        "mode": "webhook",
        "webhook_url": URL,
        "webhook_secret": SECRET,
        **max_section,
    }
    config = make_config(tmp_path, max=section)
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    return app_for(config), session_factory(engine)


def _stored(factory) -> list[MaxUpdate]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return list(s.scalars(select(MaxUpdate).order_by(MaxUpdate.id)))


def test_an_update_with_the_secret_is_stored_once(tmp_path: Path, app_for) -> None:  # type: ignore[no-untyped-def]
    flask_app, factory = _app(tmp_path, app_for)
    client = flask_app.test_client()
    headers = {"X-Max-Bot-Api-Secret": SECRET}
    first = client.post("/max/webhook", json=_update(), headers=headers)
    assert first.status_code == 200 and first.get_json() == {"success": True}
    # MAX did not get the 200 and sends it again: answered, not stored twice.
    again = client.post("/max/webhook", json=_update(), headers=headers)
    assert again.status_code == 200
    other = client.post("/max/webhook", json=_update("Второе"), headers=headers)
    assert other.status_code == 200
    rows = _stored(factory)
    assert [r.payload["message"]["body"]["text"] for r in rows] == ["Здравствуйте", "Второе"]
    assert {r.source for r in rows} == {"webhook"} and all(r.processed_at is None for r in rows)


@pytest.mark.parametrize("sent", ["", "wrong-secret-0123456789", SECRET[:-1], SECRET + "x"])
def test_a_wrong_or_missing_secret_is_refused_and_stores_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, app_for, sent: str
) -> None:
    flask_app, factory = _app(tmp_path, app_for)
    headers = {"X-Max-Bot-Api-Secret": sent} if sent else {}
    answer = flask_app.test_client().post("/max/webhook", json=_update(), headers=headers)
    assert answer.status_code == 401
    assert _stored(factory) == []
    with factory() as s:
        prints = select(func.count()).where(KeyValue.key.startswith("max.webhook:"))
        assert s.scalar(prints) == 0


def test_not_an_update_is_a_400_and_polling_mode_has_no_webhook(  # type: ignore[no-untyped-def]
    tmp_path: Path, app_for
) -> None:
    flask_app, factory = _app(tmp_path, app_for)
    client = flask_app.test_client()
    headers = {"X-Max-Bot-Api-Secret": SECRET}
    assert client.post("/max/webhook", data="{", headers=headers).status_code == 400
    assert client.post("/max/webhook", json=[1], headers=headers).status_code == 400
    assert client.post("/max/webhook", json={"x": 1}, headers=headers).status_code == 400
    assert client.get("/max/webhook").status_code == 405
    assert _stored(factory) == []

    polling, _ = _app(tmp_path / "polling", app_for, mode="polling")
    answer = polling.test_client().post("/max/webhook", json=_update(), headers=headers)
    assert answer.status_code == 404


def _max(**values: Any) -> dict[str, Any]:
    return {"enabled": True, "token": "max-token", **values}


def test_the_webhook_configuration_is_checked() -> None:
    good = from_mapping(
        {"max": _max(mode="webhook", webhook_url=URL, webhook_secret=SECRET)}, environ={}
    )
    assert good.max.mode == "webhook" and good.redacted()["max"]["webhook_secret"] == "***"
    with pytest.raises(ConfigError, match=r"max\.mode = 'hook': expected one of"):
        from_mapping({"max": _max(mode="hook")}, environ={})
    with pytest.raises(ConfigError, match=r"max\.webhook_url = 'http://clinic.ru/h'.*https://"):
        from_mapping(
            {"max": _max(mode="webhook", webhook_url="http://clinic.ru/h", webhook_secret=SECRET)},
            environ={},
        )
    with pytest.raises(ConfigError, match=r"max\.webhook_url = ''"):
        from_mapping({"max": _max(mode="webhook", webhook_secret=SECRET)}, environ={})
    for secret in ("", "short", "has spaces in it 0123", "кириллица-0123456789"):
        with pytest.raises(ConfigError, match=r"max\.webhook_secret = \*\*\*: expected 16-256"):
            from_mapping(
                {"max": _max(mode="webhook", webhook_url=URL, webhook_secret=secret)}, environ={}
            )
    # The secret may come from the environment instead of the file.
    env = from_mapping(
        {"max": _max(mode="webhook", webhook_url=URL)},
        environ={"KABINET_MAX_WEBHOOK_SECRET": SECRET},
    )
    assert env.max.webhook_secret == SECRET
    # Plain http only towards a sandbox emulator (max.api_url set).
    sandbox = from_mapping(
        {
            "max": _max(
                mode="webhook",
                api_url="http://127.0.0.1:8082",
                webhook_url="http://127.0.0.1:8080/max/webhook",
                webhook_secret=SECRET,
            )
        },
        environ={},
    )
    assert sandbox.max.webhook_url.startswith("http://")


def test_kabinet_config_check_names_a_bad_max_webhook(tmp_path: Path) -> None:
    path = tmp_path / "kabinet.toml"
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "telegram": {"mode": "off"},
            "max": _max(mode="webhook", webhook_url="http://clinic.ru/max/webhook"),
        },
    )
    result = CliRunner().invoke(cli, ["config", "check", str(path)], env={})
    assert result.exit_code == 1
    assert "max.webhook_url = 'http://clinic.ru/max/webhook'" in result.output
    write_config(
        path,
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "telegram": {"mode": "off"},
            "max": _max(mode="webhook", webhook_url=URL, webhook_secret=SECRET),
        },
    )
    ok = CliRunner().invoke(cli, ["config", "check", str(path)], env={})
    assert ok.exit_code == 0, ok.output
    assert SECRET not in ok.output
