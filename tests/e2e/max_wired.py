"""The wired appliance with MAX enabled, driven through the MAX emulator.

`MaxPhone` gives the MAX emulator the control shape the shared steps (tests/e2e/flows.py)
use for Telegram's — create a user, send text, share the own contact, press, read the bot's
messages with their buttons — so the very same steps play the patient in MAX. `/start`
becomes MAX's Start button (``bot_started``, with the deep link's payload).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot_handlers.channels.max import keyboard_of
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import OutboxMessage
from jobs.runner import Appliance
from sandbox.max import MaxEmulator
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN, Wired, make_config

MAX_TOKEN = "max-e2e-token"
SMS_API_ID = "sms-e2e-api-id"
_CODE = re.compile(r"\b(\d{6})\b")


class MaxPhone:
    """The MAX emulator in the Telegram emulator's control shape (what flows.py calls)."""

    def __init__(self, emu: MaxEmulator) -> None:
        self.emu = emu

    def create_user(self, first_name: str, last_name: str | None = None) -> dict[str, Any]:
        return {"id": self.emu.create_user(first_name, last_name or "")}

    def send_text(self, chat: int, text: str) -> None:
        if text == "/start" or text.startswith("/start "):
            self.emu.start_bot(chat, text.removeprefix("/start").strip())
        else:
            self.emu.send_text(chat, text)

    def send_contact(self, chat: int, phone: str, first_name: str = "", own: bool = True) -> None:
        self.emu.send_contact(chat, phone, own=own, first_name=first_name)

    def press(self, chat: int, message_id: str, data: str) -> None:
        self.emu.press(chat, message_id, data)

    def messages(self, chat: int) -> list[dict[str, Any]]:
        shown = []
        for m in self.emu.messages(chat):
            body = m["body"]
            attachments = body.get("attachments") or []
            shown.append(
                {
                    "message_id": body["mid"],
                    "text": body.get("text") or "",
                    "reply_markup": keyboard_of(attachments) or {},
                    "max": m,
                }
            )
        return shown

    def stats(self) -> dict[str, int]:
        return self.emu.stats()


@dataclass
class MaxWired(Wired):
    max_emulator: MaxEmulator | None = None
    sms: SmsRuEmulator | None = None

    def pump(self, until: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        telegram: TelegramEmulator = self.telegram  # the staff group stays in Telegram
        assert self.appliance.max_poller is not None and self.max_emulator is not None
        while True:
            if self.max_emulator.stats()["pending_updates"]:
                self.appliance.max_poller.poll_once(timeout=0)
            if telegram.stats()["pending_updates"]:
                self.appliance.poller.poll_once(timeout=1)
            self.appliance.dispatcher.dispatch_once()
            if until():
                return
            if time.monotonic() > deadline:
                raise AssertionError("timed out; outbox: " + repr(self.outbox_states()))
            time.sleep(0.05)

    def prove_number(self, chat_id: int, answer: dict, seen: int) -> tuple[dict, int]:
        """The bot sent a code by SMS to the MIS number: read it there, type it here."""
        assert self.sms is not None
        if "SMS" not in answer["text"]:
            return answer, seen
        self.pump(lambda: bool(self.sms and self.sms.sent))
        found = _CODE.search(self.sms.sent[-1].msg)
        assert found, self.sms.sent[-1].msg
        self.emulator.send_text(chat_id, found.group(1))
        return self.wait_messages(chat_id, seen + 2)[-1], seen + 1

    telegram: Any = None


def wire_max(
    tmp_path: Path,
    emulator: TelegramEmulator,
    max_emu: MaxEmulator,
    sms: SmsRuEmulator,
    *,
    sms_enabled: bool = True,
    **sections: dict[str, Any],
) -> MaxWired:
    staff_user = emulator.create_user(first_name="Ольга", last_name="Админова")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff_user["id"]])
    cfg = make_config(
        tmp_path,
        **{
            **sections,
            "telegram": {
                "token": TOKEN,
                "api_url": emulator.url,
                "staff_chat_id": staff_chat,
                **sections.get("telegram", {}),
            },
            "max": {
                "enabled": True,
                "token": MAX_TOKEN,
                "api_url": max_emu.url,
                **sections.get("max", {}),
            },
            "messaging": {
                "reminder_send_at": "00:00",
                "sms_enabled": sms_enabled,
                "sms_api_url": sms.url,
                "sms_api_id": SMS_API_ID,
                **sections.get("messaging", {}),
            },
        },
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    appliance = Appliance(cfg, factory=session_factory(engine))
    wired = MaxWired(appliance, MaxPhone(max_emu), cfg, staff_chat)  # type: ignore[arg-type]
    wired.max_emulator, wired.sms, wired.telegram = max_emu, sms, emulator
    return wired


@pytest.fixture
def max_emu() -> Iterator[MaxEmulator]:
    emu = MaxEmulator(MAX_TOKEN).start()
    yield emu
    emu.stop()


@pytest.fixture
def smsru() -> Iterator[SmsRuEmulator]:
    with SmsRuEmulator([SMS_API_ID]) as emu:
        yield emu


@pytest.fixture
def max_wired(
    tmp_path: Path,
    emulator: TelegramEmulator,
    max_emu: MaxEmulator,
    smsru: SmsRuEmulator,
    demo_clinic: Any,
) -> Iterator[MaxWired]:
    wired = wire_max(tmp_path, emulator, max_emu, smsru)
    yield wired
    wired.appliance.stop()


@pytest.fixture(params=["telegram", "max"])
def any_wired(request: pytest.FixtureRequest) -> Wired:
    """The same conversation through either messenger."""
    name = "wired" if request.param == "telegram" else "max_wired"
    fixture: Wired = request.getfixturevalue(name)
    return fixture


def outbox_channels(wired: Wired) -> set[str]:
    with wired.appliance.factory() as s:
        return set(s.scalars(select(OutboxMessage.channel)))
