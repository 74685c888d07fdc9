"""MAX by webhook, end to end: the runner subscribes the panel's /max/webhook at MAX (the
emulator) with its secret, the emulator posts the patient's updates there, the view stores
them in the MAX inbox, the runner handles each once and the patient gets the bot's answer.
An update posted with a wrong secret is refused and nothing is stored or answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import MaxUpdate
from jobs.runner import Appliance
from sandbox.max import MaxEmulator
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN, make_config
from tests.e2e.max_wired import MAX_TOKEN, MaxWired, max_emu, max_wired, smsru

__all__ = ["max_emu", "max_wired", "smsru"]  # fixtures

SECRET = "max-e2e-webhook-secret-0123"


@pytest.fixture
def webhook_appliance(
    tmp_path: Path, emulator: TelegramEmulator, max_emu: MaxEmulator, demo_clinic: Any
) -> Iterator[Appliance]:
    from app import create_app

    holder: dict[str, Any] = {}

    def wsgi(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    config = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url, "mode": "off"},
        max={
            "enabled": True,
            "token": MAX_TOKEN,
            "api_url": max_emu.url,
            "mode": "webhook",
            # The emulator takes plain http on 127.0.0.1; MAX itself only HTTPS.
            "webhook_url": f"http://127.0.0.1:{server.server_port}/max/webhook",
            "webhook_secret": SECRET,
        },
        messaging={"reminder_send_at": "00:00"},
    )
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    holder["app"] = create_app(config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    appliance = Appliance(config, factory=session_factory(engine))
    stop = threading.Event()
    receiver = threading.Thread(target=appliance.max_updates_loop, args=(stop,), daemon=True)
    receiver.start()
    try:
        yield appliance
    finally:
        stop.set()
        receiver.join(timeout=5)
        server.shutdown()
        appliance.stop()
        engine.dispose()


def _pump(appliance: Appliance, until: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        appliance.dispatcher.dispatch_once()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _stored(appliance: Appliance) -> list[MaxUpdate]:
    with appliance.factory() as s:
        return list(s.scalars(select(MaxUpdate).order_by(MaxUpdate.id)))


def test_updates_by_webhook_reach_the_bot_and_the_patient_gets_an_answer(
    webhook_appliance: Appliance, max_emu: MaxEmulator
) -> None:
    assert webhook_appliance.max_poller is None and webhook_appliance.max_webhook is not None
    _pump(webhook_appliance, lambda: max_emu.subscription is not None)
    sub = max_emu.subscription
    assert sub is not None and sub["url"].endswith("/max/webhook") and sub["secret"] == SECRET
    assert set(sub["update_types"]) >= {"bot_started", "message_created", "message_callback"}

    chat = max_emu.create_user("Анна", "Иванова")
    max_emu.start_bot(chat, "demo")
    _pump(webhook_appliance, lambda: bool(max_emu.messages(chat)))
    greeting = max_emu.messages(chat)[0]
    assert greeting["body"]["text"]
    assert max_emu.stats()["pending_updates"] == 0  # nothing went the long-polling way

    max_emu.send_text(chat, "Здравствуйте")
    _pump(webhook_appliance, lambda: len(max_emu.messages(chat)) >= 2)
    _pump(webhook_appliance, lambda: all(r.processed_at for r in _stored(webhook_appliance)))
    rows = _stored(webhook_appliance)
    assert [r.payload["update_type"] for r in rows] == ["bot_started", "message_created"]
    assert {r.source for r in rows} == {"webhook"} and not any(r.error for r in rows)
    _pump(webhook_appliance, lambda: len(max_emu.deliveries) >= 2)
    assert [d["status"] for d in max_emu.deliveries] == [200, 200]
    assert max_emu.schema_errors == []


def test_an_update_with_a_wrong_secret_is_refused_and_stores_nothing(
    webhook_appliance: Appliance, max_emu: MaxEmulator
) -> None:
    _pump(webhook_appliance, lambda: max_emu.subscription is not None)
    assert max_emu.subscription is not None
    # Someone else's subscription to the same URL, with a secret of their own.
    max_emu.subscription = {**max_emu.subscription, "secret": "forged-secret-0123456789"}
    chat = max_emu.create_user("Пётр")
    max_emu.start_bot(chat)
    _pump(webhook_appliance, lambda: len(max_emu.deliveries) >= max_emu.delivery_attempts)
    assert {d["status"] for d in max_emu.deliveries} == {401}
    webhook_appliance.dispatcher.dispatch_once()
    assert _stored(webhook_appliance) == [] and max_emu.messages(chat) == []


def test_polling_mode_removes_a_webhook_left_from_webhook_mode(
    max_wired: MaxWired, max_emu: MaxEmulator
) -> None:
    max_emu.subscription = {"url": "https://old.example.ru/max/webhook", "time": 1}
    poller = max_wired.appliance.max_poller
    assert poller is not None
    chat = max_emu.create_user("Анна")
    max_emu.start_bot(chat)  # goes to the old webhook, which is not there
    stop = threading.Event()
    stop.set()  # run() removes the webhook, handles what is stored, and returns
    poller.run(stop)
    assert max_emu.subscription is None
    max_emu.start_bot(chat)
    assert poller.poll_once(timeout=0) == 1  # long polling works again
