"""`kabinet demo` with both messengers: the demo starts the Telegram and the MAX emulators
(and an SMS.ru stand-in), configures Kabinet for both, and each phone page links to the
other. A visitor who picks MAX plays the demo's patient there through the MAX emulator's
control API — Start, consent, her contact card — reads the one-time code the clinic sent
by SMS on the MAX phone page, types it, and is linked."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from core.config import load
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import PatientLink, Subscriber
from jobs.runner import Appliance
from sandbox.demo import DEMO_MAX_TOKEN, DemoSetup, prepare_demo, show_sms_on_max_phones
from sandbox.demo_clinic.personas import persona

_CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[DemoSetup]:
    made = prepare_demo(tmp_path / "demo", port=18080, emulator_port=0, patients=30)
    yield made
    made.stop()


def test_the_demo_starts_both_emulators_and_links_their_phone_pages(setup: DemoSetup) -> None:
    config = load(setup.config_path, environ={})
    assert config.telegram.api_url == setup.emulator.url
    assert config.max.enabled and config.max.api_url == setup.max_emulator.url
    assert config.max.token == DEMO_MAX_TOKEN and config.max.mode == "polling"
    assert config.messaging.sms_enabled and config.messaging.sms_api_url == setup.sms.url
    me = requests.get(setup.max_emulator.url + "/me", headers={"Authorization": DEMO_MAX_TOKEN})
    assert me.status_code == 200 and me.json()["username"] == config.max.bot_name

    telegram_page = requests.get(setup.telegram_phone, timeout=5).text
    max_page = requests.get(setup.max_phone, timeout=5).text
    assert "window.ELSEWHERE" in telegram_page and setup.max_phone in telegram_page
    assert "window.ELSEWHERE" in max_page and setup.telegram_phone in max_page
    assert "window.MESSENGER={" in max_page and "window.MESSENGER={" not in telegram_page
    # The pages' forms say where else to try, too.
    assert (
        setup.max_phone.replace("&", "&amp;")
        in requests.get(setup.emulator.url + "/phone", timeout=5).text
    )
    anna = persona("anna")
    users = requests.get(setup.max_emulator.url + "/_emulator/users", timeout=5).json()
    assert [(u["first_name"], u["phone_number"]) for u in users] == [(anna.name, anna.phone_e164)]


def _pump(appliance: Appliance, until: Callable[[], bool], timeout: float = 20.0) -> None:
    assert appliance.max_poller is not None
    deadline = time.monotonic() + timeout
    while not until():
        appliance.max_poller.poll_once(timeout=0)
        appliance.dispatcher.dispatch_once()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_visitor_tries_the_demo_in_max(setup: DemoSetup) -> None:
    config = load(setup.config_path, environ={})
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    appliance = Appliance(config, factory=session_factory(engine))
    stop = threading.Event()
    sms_app = threading.Thread(
        target=show_sms_on_max_phones, args=(setup.sms, setup.max_emulator, stop), daemon=True
    )
    sms_app.start()
    user_id = setup.max_emulator.user(setup.max_chat_id)["user_id"]
    base = f"{setup.max_emulator.url}/_emulator/users/{user_id}"

    def transcript() -> list[dict[str, Any]]:
        return list(requests.get(base + "/state", timeout=5).json()["transcript"])

    def bot_messages() -> list[dict[str, Any]]:
        return [e for e in transcript() if e.get("from") == "bot" and "callback_data" not in e]

    try:
        appliance.sync_job()
        requests.post(base + "/start", json={"payload": "demo"}, timeout=5)
        _pump(appliance, lambda: bool(bot_messages()))
        consent = bot_messages()[-1]
        accept = next(
            b["callback_data"]
            for row in consent["reply_markup"]["inline_keyboard"]
            for b in row
            if b.get("callback_data", "").startswith("cs:yes:")
        )
        requests.post(
            base + "/press", json={"message_id": consent["message_id"], "data": accept}, timeout=5
        )
        _pump(appliance, lambda: len(bot_messages()) >= 2)
        anna = persona("anna")
        requests.post(base + "/contact", json={"phone_number": anna.phone_e164}, timeout=5)
        # The code arrives by SMS and shows on her MAX phone, as a line of its own.
        _pump(appliance, lambda: any(e.get("event") == "note" for e in transcript()))
        note = next(e for e in transcript() if e.get("event") == "note")
        assert note["text"].startswith("SMS на ")
        code = _CODE.search(note["text"])
        assert code, note
        requests.post(base + "/text", json={"text": code.group(1)}, timeout=5)

        def linked() -> bool:
            with appliance.factory() as s:
                sub = s.scalar(
                    select(Subscriber).where(
                        Subscriber.channel == "max", Subscriber.chat_id == setup.max_chat_id
                    )
                )
                return sub is not None and bool(
                    s.scalar(select(PatientLink.id).where(PatientLink.subscriber_id == sub.id))
                )

        _pump(appliance, linked)
    finally:
        stop.set()
        sms_app.join(timeout=5)
        appliance.stop()
        engine.dispose()


@pytest.mark.browser
def test_each_phone_page_links_to_the_other_in_a_browser(setup: DemoSetup) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("KABINET_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.skip(f"no Chromium at {chromium}")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(setup.telegram_phone)
        page.click("a.elsewhere >> text=→ MAX")
        page.wait_for_url(setup.max_phone)
        page.wait_for_selector("#start-btn")
        assert page.title() == "Клиника — бот в MAX"
        page.click("a.elsewhere >> text=→ Telegram")
        page.wait_for_url(setup.telegram_phone)
        browser.close()
    assert errors == []
