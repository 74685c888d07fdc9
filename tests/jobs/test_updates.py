"""Telegram updates in: stored first, handled once and in order, through long polling or
a webhook; the poller rides out network errors and 409s."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from bot_handlers.channels.telegram import message_event
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import KeyValue, OutboxMessage, TelegramUpdate
from jobs.poller import Poller
from jobs.runner import Appliance
from tests.conftest import TOKEN, Wired, make_config


class _NotNow:
    """A processor that does nothing: the process "dies" after storing."""

    def process_pending(self, limit: int = 100) -> int:
        return 0


def _replies(factory) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return [m.key for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_stored_updates_are_handled_once_in_order_across_a_restart(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    factory = appliance.factory
    user = emu.create_user(first_name="Анна")
    emu.send_text(user["id"], "/start")
    emu.send_text(user["id"], "Можно перенести визит?")
    # First process: fetches and stores both with the next offset, then dies unhandled.
    dying = Poller(appliance.bot, factory, wired.config, processor=_NotNow())  # type: ignore[arg-type]
    assert dying.poll_once(timeout=1) == 2
    with factory() as s:
        stored = list(s.scalars(select(TelegramUpdate).order_by(TelegramUpdate.update_id)))
        offset = s.get(KeyValue, "telegram.update_offset")
    assert [u.processed_at for u in stored] == [None, None]
    assert offset is not None and offset.value == stored[-1].update_id + 1
    assert _replies(factory) == []
    # The next process handles what was stored, in order, and Telegram sends nothing again.
    assert appliance.poller.poll_once(timeout=1) == 0
    assert appliance.updates.process_pending() == 0
    replies = _replies(factory)
    assert replies[0].startswith("start:") and replies[-1].startswith("message-ack:")
    wired.pump(lambda: len(emu.messages(user["id"])) == 2)
    appliance.updates.process_pending()
    assert _replies(factory) == replies


def test_a_crash_inside_a_handler_rolls_back_and_the_update_is_handled_later(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    user = emu.create_user(first_name="Олег")
    emu.send_text(user["id"], "/start")
    original = appliance.bot.process_new_updates

    def handle_then_die(updates: list[Any]) -> None:
        original(updates)  # the handler wrote its reply...
        raise SystemExit("killed")  # ...and the process died before the commit

    monkeypatch.setattr(appliance.bot, "process_new_updates", handle_then_die)
    with pytest.raises(SystemExit):
        appliance.poller.poll_once(timeout=1)
    assert _replies(appliance.factory) == []  # nothing half-done survives
    monkeypatch.setattr(appliance.bot, "process_new_updates", original)
    appliance.updates.process_pending()
    appliance.updates.process_pending()
    assert len(_replies(appliance.factory)) == 1


def test_a_failing_handler_does_not_wedge_the_queue(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    bot = appliance.bot

    def boom(message: Any) -> None:
        with appliance.ctx.session() as session:
            event = message_event(message)
            assert event is not None
            appliance.ctx.reply(session, appliance.ctx.subscriber(session, event), "boom", "x")
            raise RuntimeError("handler bug")

    # Ahead of every other handler, as a buggy module registered first would be.
    bot.message_handlers.insert(0, bot._build_handler_dict(boom, commands=["boom"]))
    user = emu.create_user(first_name="Ира")
    emu.send_text(user["id"], "/boom")
    emu.send_text(user["id"], "/start")
    appliance.poller.poll_once(timeout=1)
    with appliance.factory() as s:
        rows = list(s.scalars(select(TelegramUpdate).order_by(TelegramUpdate.update_id)))
    assert "handler bug" in rows[0].error and rows[0].processed_at is not None
    keys = _replies(appliance.factory)
    assert "boom" not in keys  # rolled back with the failed update
    assert len(keys) == 1 and keys[0].startswith("start:")


def test_polling_rides_out_network_errors_a_rival_poller_and_a_foreign_webhook(
    wired: Wired,
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.poller.long_poll_seconds = 2
    appliance.poller.backoff_base = 0.05
    emu.inject_fault("500", method="getUpdates", count=2)
    emu.inject_fault("timeout", method="getUpdates", count=1, delay=0.2)
    appliance.start()
    try:
        deadline = time.monotonic() + 20
        while appliance.poller.errors_in_a_row == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Another process polls with the same token: Telegram ends our long poll with 409.
        time.sleep(0.5)
        emu.handle_api(TOKEN, "getUpdates", {"timeout": 0})
        # Someone sets a webhook: getUpdates answers 409 until it is deleted.
        emu.handle_api(TOKEN, "setWebhook", {"url": "https://example.invalid/hook"})
        user = emu.create_user(first_name="Анна")
        emu.send_text(user["id"], "/start")
        emu.wait_for_messages(user["id"], 1, timeout=30)
        assert appliance.poller.conflicts >= 1
        emu.send_text(user["id"], "Ещё вопрос")
        assert len(emu.wait_for_messages(user["id"], 2, timeout=30)) == 2
    finally:
        appliance.stop()
    with appliance.factory() as s:
        assert s.scalar(select(func.count()).select_from(TelegramUpdate)) == 2


WEBHOOK_SECRET = "kabinet-webhook-secret-0123456789"


@pytest.fixture
def webhook_setup(tmp_path: Path, emulator, demo_clinic):  # type: ignore[no-untyped-def]
    from app import create_app

    holder: dict[str, Any] = {}

    def wsgi(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    port = server.server_port
    config = make_config(
        tmp_path,
        telegram={
            "token": TOKEN,
            "api_url": emulator.url,
            "mode": "webhook",
            "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
            "webhook_secret": WEBHOOK_SECRET,
        },
    )
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    holder["app"] = create_app(config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    appliance = Appliance(config, factory=session_factory(engine))
    yield config, appliance, f"http://127.0.0.1:{port}/telegram/webhook"
    appliance.stop()
    server.shutdown()
    engine.dispose()


def test_webhook_updates_are_checked_stored_and_handled_by_the_runner(
    webhook_setup, emulator
) -> None:  # type: ignore[no-untyped-def]
    config, appliance, url = webhook_setup
    appliance.start()
    deadline = time.monotonic() + 10
    while not emulator.handle_api(TOKEN, "getWebhookInfo").body["result"]["url"]:
        assert time.monotonic() < deadline, "setWebhook never came"
        time.sleep(0.05)
    info = emulator.handle_api(TOKEN, "getWebhookInfo").body["result"]
    assert info["url"] == config.telegram.webhook_url
    user = emulator.create_user(first_name="Анна")
    emulator.send_text(user["id"], "/start")
    consent = emulator.wait_for_messages(user["id"], 1, timeout=20)[0]
    # Handled through the webhook: the bot's first step, the consent with its buttons.
    assert any(
        b.get("callback_data", "").startswith("cs:yes:")
        for row in consent["reply_markup"]["inline_keyboard"]
        for b in row
    )

    forged = {
        "update_id": 999_999,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "text": "/start",
        },
    }
    assert requests.post(url, json=forged, timeout=5).status_code == 403
    wrong = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET[:-1] + "x"}
    assert requests.post(url, json=forged, headers=wrong, timeout=5).status_code == 403
    with appliance.factory() as s:
        assert s.get(TelegramUpdate, 999_999) is None

    # Telegram redelivers when it did not see our answer: stored once, handled once.
    with appliance.factory() as s:
        first = s.scalars(select(TelegramUpdate)).first()
        payload = first.payload
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    for _ in range(2):
        assert requests.post(url, json=payload, headers=right, timeout=5).status_code == 200
    emulator.send_text(user["id"], "Вопрос")
    emulator.wait_for_messages(user["id"], 2, timeout=20)
    time.sleep(0.5)
    assert len(emulator.messages(user["id"])) == 2
    with appliance.factory() as s:
        assert s.scalar(select(func.count()).select_from(TelegramUpdate)) == 2
        assert all(u.source == "webhook" for u in s.scalars(select(TelegramUpdate)))
