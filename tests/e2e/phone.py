"""A patient's phone in either messenger: the same steps through the Telegram or the MAX
emulator, so one conversation test runs on both (issues 11 and 15).

`Phone` is a thin driver over each emulator's own control API — nothing is mocked: a text
is the emulator's user message, a press is its callback update, and the bot's messages are
read back from the emulator's transcript. What the patient does: write a text, share her
own contact or someone else's card, press a button by its label (an inline button, a menu
button — Telegram's keyboard under the input field, MAX's message button under a message —
or the «share my number» button), press data no button offers (a modified client), and
read what the bot has sent, as `Shown` messages (text or caption, buttons, links, picture).
She may also send a photo, a document, a voice note, a video, a sticker or a location, and
edit a message she sent (`text` and the `send_*` steps return the message's id for that):
each as her messenger delivers it (MAX: attachments whose URL the emulator serves; a voice
note is MAX's ``audio``).

One step differs for a real reason: a MAX contact card proves the account but not the
number (bot_handlers/channels/max.py, ``number_proven`` False), so linking there needs the
one-time code the bot sends by SMS to the number the MIS has (bot_handlers/phone_code.py).
`share_number` does that step in MAX — reads the SMS in the SMS.ru emulator and types the
code — and nothing in Telegram, whose own card proves the number.

The `phone` fixture is parametrized over both messengers; `menu_phone` is the same with a
bot username (links), a clinic address and a second branch in the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.db import make_engine, session_factory
from core.migrate import upgrade
from jobs.runner import Appliance
from sandbox.demo_clinic import DemoClinic, persona
from sandbox.max import MaxEmulator
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN, Wired, make_config
from tests.e2e.max_wired import MaxWired, max_emu, smsru, wire_max

__all__ = ["max_emu", "smsru"]  # fixtures the worlds below use

MESSENGERS = ("telegram", "max")
BOT = "kabinet_test_bot"
ADDRESS = "Москва, ул. Ленина, 5"
MENU_SECTIONS: dict[str, dict[str, Any]] = {
    "clinic": {"address": ADDRESS, "branches": "2 = Москва, пр. Мира, 10"},
}
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Shown:
    """One of the bot's messages as the patient's phone shows it."""

    id: int | str
    text: str  # the text, or a picture's caption
    buttons: list[tuple[str, str]]  # (label, callback data) of the buttons that answer
    links: dict[str, str]  # label -> url of the link buttons
    menu: list[str]  # buttons that send their label (a menu) or the number
    asks_number: bool  # a «share my number» button (Telegram's request_contact, MAX's)
    image: bool  # a picture (Telegram's photo, MAX's image attachment)
    raw: dict[str, Any] = field(repr=False)

    def data(self, label: str) -> str:
        return dict(self.buttons)[label]

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]


class Phone:
    """Patients' phones in one messenger, driven through its emulator; `world` is the
    appliance wired to it (its pump polls the messenger and runs the outbox)."""

    messenger: str

    def __init__(self, world: Wired) -> None:
        self.world = world

    # -- who and what: per messenger ------------------------------------------------------

    def person(self, first_name: str, last_name: str = "") -> int:
        """A new person who opened the bot's chat; returns the chat id."""
        raise NotImplementedError

    def start(self, chat: int, payload: str = "") -> None:
        """Telegram's /start (with a deep link's payload), MAX's Start button."""
        raise NotImplementedError

    def text(self, chat: int, text: str) -> int | str:
        """Write `text`; returns the message's id (for `edit`)."""
        raise NotImplementedError

    def contact(self, chat: int, number: str, *, own: bool = True, first_name: str = "") -> None:
        """A contact card: her own (the «share my number» button), else someone else's card
        (forwarded, or picked from the address book)."""
        raise NotImplementedError

    def send_photo(self, chat: int, data: bytes, caption: str = "") -> int | str:
        raise NotImplementedError

    def send_file(self, chat: int, data: bytes, file_name: str, mime_type: str) -> int | str:
        raise NotImplementedError

    def send_voice(self, chat: int, data: bytes) -> int | str:
        raise NotImplementedError

    def send_video(self, chat: int, data: bytes, caption: str = "") -> int | str:
        raise NotImplementedError

    def send_sticker(self, chat: int) -> int | str:
        raise NotImplementedError

    def send_location(self, chat: int, latitude: float, longitude: float) -> int | str:
        raise NotImplementedError

    def edit(self, chat: int, message_id: int | str, text: str) -> None:
        """She edits a message she sent (its words, or a file's caption)."""
        raise NotImplementedError

    def messages(self, chat: int) -> list[Shown]:
        raise NotImplementedError

    def _press(self, chat: int, message: Shown, data: str) -> None:
        raise NotImplementedError

    def _notices(self) -> list[str]:
        raise NotImplementedError

    def _menu_button(self, chat: int, label: str) -> bool:
        """Telegram: `label` is on the keyboard under the input field (press it)."""
        return False

    def staff_posts(self) -> list[dict[str, Any]]:
        """The staff group's messages (the group stays in Telegram in both worlds)."""
        raise NotImplementedError

    # -- the same for both ------------------------------------------------------------------

    def wait(self, chat: int, count: int, timeout: float = 15.0) -> list[Shown]:
        """The chat's messages once it has at least `count`."""
        self.world.pump(lambda: len(self.messages(chat)) >= count, timeout)
        return self.messages(chat)

    def settle(self) -> None:
        """Run the poller and the outbox once more: what is due has gone out."""
        self.world.pump(lambda: True)

    def say(self, chat: int, text: str, more: int = 1) -> Shown:
        """Write `text`; returns the first of the `more` messages that answer it."""
        seen = len(self.messages(chat))
        self.text(chat, text)
        return self.wait(chat, seen + more)[seen]

    def message(self, chat: int, message_id: int | str) -> Shown:
        return next(m for m in self.messages(chat) if m.id == message_id)

    def shown(self, chat: int, message: Shown, needle: str) -> Shown:
        """`message` as the chat shows it once the bot's edit saying `needle` arrived."""
        self.world.pump(lambda: needle in self.message(chat, message.id).text)
        return self.message(chat, message.id)

    def press(self, chat: int, label: str, message: Shown | None = None) -> str:
        """Press the button labelled `label` — on `message`, else on the newest message
        offering it, else on the menu — and wait for the press's answer; returns its
        notice ("" when the answer shows none). A menu button sends its label, so it has no
        answer of its own: "" at once."""
        candidates = [message] if message is not None else list(reversed(self.messages(chat)))
        for shown in candidates:
            if label in dict(shown.buttons):
                return self.press_data(chat, shown, shown.data(label))
            if label in shown.menu:
                self.text(chat, label)
                return ""
        if message is None and self._menu_button(chat, label):
            return ""
        offered = [m.labels + m.menu for m in candidates]
        raise AssertionError(f"no button {label!r} in chat {chat}: {offered!r}")

    def press_data(self, chat: int, message: Shown, data: str) -> str:
        """Press with `data` on `message`, whether or not a button offers it (a stale copy
        of a message, or a modified client); returns the answer's notice."""
        count = len(self._notices())
        self._press(chat, message, data)
        self.world.pump(lambda: len(self._notices()) > count)
        return self._notices()[-1]

    def share_number(self, chat: int, number: str, first_name: str = "") -> Shown:
        """Share her own contact and, where the card does not prove the number, prove it;
        returns the bot's answer once the number is proven (or refused)."""
        seen = len(self.messages(chat))
        self.contact(chat, number, first_name=first_name)
        return self.wait(chat, seen + 1)[-1]

    def consent(self, chat: int, payload: str = "") -> int:
        """Start, then «Согласен(на)» on the consent; returns how many of the bot's
        messages the chat has once it asks for the number."""
        seen = len(self.messages(chat))
        self.start(chat, payload)
        ask = self.wait(chat, seen + 1)[-1]
        accept = next(data for _, data in ask.buttons if data.startswith("cs:yes:"))
        self.press_data(chat, ask, accept)
        return len(self.wait(chat, seen + 2))

    def link(self, persona_key: str, first_name: str = "", *, family: bool = True) -> int:
        """A new person of the demo clinic connects: consent, her own number; on a number
        several patients share, «Мы семья — все» with `family`. Returns the chat id."""
        who = persona(persona_key)
        chat = self.person(first_name or who.name)
        self.consent(chat)
        answer = self.share_number(chat, who.phone_e164, first_name or who.name)
        if family and "who:all" in [data for _, data in answer.buttons]:
            seen = len(self.messages(chat))
            self.press_data(chat, answer, "who:all")
            self.wait(chat, seen + 1)
        return chat


class TelegramPhone(Phone):
    messenger = "telegram"

    def __init__(self, world: Wired) -> None:
        super().__init__(world)
        self._files: set[int | str] = set()  # her messages that are files (captions)

    def _file(self, message_id: int) -> int:
        self._files.add(message_id)
        return message_id

    @property
    def emu(self) -> TelegramEmulator:
        return self.world.emulator

    def person(self, first_name: str, last_name: str = "") -> int:
        return int(self.emu.create_user(first_name=first_name, last_name=last_name or None)["id"])

    def start(self, chat: int, payload: str = "") -> None:
        self.emu.send_text(chat, f"/start {payload}" if payload else "/start")

    def text(self, chat: int, text: str) -> int | str:
        return int(self.emu.send_text(chat, text)["message"]["message_id"])

    def send_photo(self, chat: int, data: bytes, caption: str = "") -> int | str:
        return self._file(
            int(self.emu.send_photo(chat, data, caption=caption or None)["message"]["message_id"])
        )

    def send_file(self, chat: int, data: bytes, file_name: str, mime_type: str) -> int | str:
        sent = self.emu.send_document(chat, data, file_name, mime_type)
        return self._file(int(sent["message"]["message_id"]))

    def send_voice(self, chat: int, data: bytes) -> int | str:
        return self._file(int(self.emu.send_voice(chat, data, duration=3)["message"]["message_id"]))

    def send_video(self, chat: int, data: bytes, caption: str = "") -> int | str:
        sent = self.emu.send_video(chat, data, duration=4, caption=caption or None)
        return self._file(int(sent["message"]["message_id"]))

    def send_sticker(self, chat: int) -> int | str:
        return int(self.emu.send_sticker(chat, emoji="😊")["message"]["message_id"])

    def send_location(self, chat: int, latitude: float, longitude: float) -> int | str:
        return int(self.emu.send_location(chat, latitude, longitude)["message"]["message_id"])

    def edit(self, chat: int, message_id: int | str, text: str) -> None:
        # Telegram edits a text and a file's caption by different updates' fields.
        if message_id in self._files:
            self.emu.edit_user_caption(chat, int(message_id), text)
        else:
            self.emu.edit_user_text(chat, int(message_id), text)

    def contact(self, chat: int, number: str, *, own: bool = True, first_name: str = "") -> None:
        # As Telegram sends it: bare international digits; only her own card has her id.
        self.emu.send_contact(
            chat,
            number.lstrip("+"),
            first_name=first_name or None,
            contact_user_id=... if own else None,
        )

    def messages(self, chat: int) -> list[Shown]:
        out = []
        for m in self.emu.messages(chat):
            rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
            flat = [b for row in rows for b in row]
            reply = [b for row in (m.get("reply_markup") or {}).get("keyboard") or [] for b in row]
            out.append(
                Shown(
                    id=m["message_id"],
                    text=m.get("text") or m.get("caption") or "",
                    buttons=[(b["text"], b["callback_data"]) for b in flat if "callback_data" in b],
                    links={b["text"]: b["url"] for b in flat if "url" in b},
                    menu=[b["text"] for b in reply],
                    asks_number=any(b.get("request_contact") for b in reply),
                    image="photo" in m,
                    raw=m,
                )
            )
        return out

    def _press(self, chat: int, message: Shown, data: str) -> None:
        self.emu.press(chat, int(message.id), data, force=True)

    def _notices(self) -> list[str]:
        return [str(a.get("text") or "") for a in self.emu.callback_answers]

    def _menu_button(self, chat: int, label: str) -> bool:
        keyboard = self.emu.reply_keyboard(chat) or {}
        if label not in [b.get("text") for row in keyboard.get("keyboard", []) for b in row]:
            return False
        self.emu.press_reply(chat, label)
        return True

    def staff_posts(self) -> list[dict[str, Any]]:
        return self.emu.messages(self.world.staff_chat_id)


class MaxPhoneDriver(Phone):
    messenger = "max"

    def __init__(self, world: MaxWired) -> None:
        super().__init__(world)
        assert world.max_emulator is not None and world.sms is not None
        self.emu: MaxEmulator = world.max_emulator
        self.sms: SmsRuEmulator = world.sms
        self.telegram: TelegramEmulator = world.telegram

    def person(self, first_name: str, last_name: str = "") -> int:
        return self.emu.create_user(first_name, last_name)

    def start(self, chat: int, payload: str = "") -> None:
        self.emu.start_bot(chat, payload)

    def text(self, chat: int, text: str) -> int | str:
        return self.emu.send_text(chat, text)

    def send_photo(self, chat: int, data: bytes, caption: str = "") -> int | str:
        return self.emu.send_image(chat, data, caption=caption or None, content_type="image/png")

    def send_file(self, chat: int, data: bytes, file_name: str, mime_type: str) -> int | str:
        return self.emu.send_file(chat, data, file_name, content_type=mime_type)

    def send_voice(self, chat: int, data: bytes) -> int | str:
        return self.emu.send_audio(chat, data, content_type="audio/ogg")

    def send_video(self, chat: int, data: bytes, caption: str = "") -> int | str:
        return self.emu.send_video(chat, data, caption=caption or None, duration=4)

    def send_sticker(self, chat: int) -> int | str:
        return self.emu.send_sticker(chat, "smile")

    def send_location(self, chat: int, latitude: float, longitude: float) -> int | str:
        return self.emu.send_location(chat, latitude, longitude)

    def edit(self, chat: int, message_id: int | str, text: str) -> None:
        self.emu.edit_user_text(chat, str(message_id), text)

    def contact(self, chat: int, number: str, *, own: bool = True, first_name: str = "") -> None:
        self.emu.send_contact(chat, number.lstrip("+"), own=own, first_name=first_name)

    def messages(self, chat: int) -> list[Shown]:
        out = []
        for m in self.emu.messages(chat):
            body = m["body"]
            attachments = body.get("attachments") or []
            flat = [
                b
                for a in attachments
                if a.get("type") == "inline_keyboard"
                for row in (a.get("payload") or {}).get("buttons") or []
                for b in row
            ]
            out.append(
                Shown(
                    id=body["mid"],
                    text=body.get("text") or "",
                    buttons=[
                        (b["text"], b.get("payload", "")) for b in flat if b["type"] == "callback"
                    ],
                    links={b["text"]: b["url"] for b in flat if b["type"] == "link"},
                    menu=[b["text"] for b in flat if b["type"] in ("message", "request_contact")],
                    asks_number=any(b["type"] == "request_contact" for b in flat),
                    image=any(a.get("type") == "image" for a in attachments),
                    raw=m,
                )
            )
        return out

    def _press(self, chat: int, message: Shown, data: str) -> None:
        self.emu.press(chat, str(message.id), data)

    def _notices(self) -> list[str]:
        return [str(a.get("notification") or "") for a in self.emu.answers]

    def staff_posts(self) -> list[dict[str, Any]]:
        return self.telegram.messages(self.world.staff_chat_id)

    def share_number(self, chat: int, number: str, first_name: str = "") -> Shown:
        """MAX's card proves the account, not the number: when the MIS has the number the
        bot sends a code there by SMS, and typing it back is the proof."""
        seen = len(self.messages(chat))
        codes = len(self.sms.messages_to(number))
        self.contact(chat, number, first_name=first_name)
        answer = self.wait(chat, seen + 1)[-1]
        if "SMS" not in answer.text:
            return answer
        self.world.pump(lambda: len(self.sms.messages_to(number)) > codes)
        found = _CODE.search(self.sms.messages_to(number)[-1].msg)
        assert found, self.sms.messages_to(number)[-1].msg
        return self.say(chat, found.group(1))


def telegram_world(tmp_path: Path, emulator: TelegramEmulator, **sections: dict[str, Any]) -> Wired:
    """The appliance wired to the Telegram emulator (as conftest's `wired`, plus
    `sections` of configuration)."""
    staff_user = emulator.create_user(first_name="Ольга", last_name="Админова")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff_user["id"]])
    telegram = {"token": TOKEN, "api_url": emulator.url, "staff_chat_id": staff_chat}
    cfg = make_config(
        tmp_path,
        **{
            **sections,
            "telegram": {**telegram, **sections.get("telegram", {})},
            "messaging": {"reminder_send_at": "00:00", **sections.get("messaging", {})},
        },
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    return Wired(Appliance(cfg, factory=session_factory(engine)), emulator, cfg, staff_chat)


def _phone(
    request: pytest.FixtureRequest, tmp_path: Path, emulator: TelegramEmulator, **sections: Any
) -> Iterator[Phone]:
    phone: Phone
    if request.param == "telegram":
        phone = TelegramPhone(telegram_world(tmp_path, emulator, **sections))
    else:
        max_sections = {**sections, "max": {"bot_name": BOT, **sections.get("max", {})}}
        world = wire_max(
            tmp_path,
            emulator,
            request.getfixturevalue("max_emu"),
            request.getfixturevalue("smsru"),
            **max_sections,
        )
        phone = MaxPhoneDriver(world)
    yield phone
    phone.world.appliance.stop()


@pytest.fixture(params=MESSENGERS)
def phone(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    emulator: TelegramEmulator,
    demo_clinic: DemoClinic,
) -> Iterator[Phone]:
    """Patients' phones in Telegram, then in MAX, over the wired appliance and the demo
    clinic."""
    yield from _phone(request, tmp_path, emulator)


@pytest.fixture(params=MESSENGERS)
def menu_phone(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    emulator: TelegramEmulator,
    demo_clinic: DemoClinic,
) -> Iterator[Phone]:
    """As `phone`, with a bot username (links to the bot), a clinic address and a second
    branch."""
    yield from _phone(request, tmp_path, emulator, telegram={"bot_username": BOT}, **MENU_SECTIONS)
