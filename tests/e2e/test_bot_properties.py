"""Property-based (issue 11, Tests): random sequences of what several people do in the bot's
chat — texts and commands, menu buttons, their own contact and other people's cards, codes
typed, presses on their own messages old and new, presses forged from another chat's
buttons, blocking the bot and coming back — thrown at the real bot through the Telegram
emulator and through the MAX emulator (tests/e2e/phone.py drives both).

Whatever the sequence: no exception escapes (every stored update is handled without an
error, nothing is logged as an error), and no chat ever receives another patient's data —
checked over every chat's transcript in the emulator, buttons included, against the names
of the demo clinic's personas that chat could rightly be linked to.

One world per messenger for the whole module (an appliance, the emulators, the demo
clinic), with Anna and the Petrov family linked once and acting in every example; each
example adds a new person with Anna's number and a stranger.

What a sequence costs. At first an example took ~4 s, almost all of it waiting: the
Telegram emulator's `pending_updates` also counts updates stored but not yet confirmed by
the next offset, so `Wired.pump` called getUpdates after every step and waited out its
1-second long poll for nothing; and the emulator enforced Telegram's 1 message a second
per chat against an outbox sending 30, so most answers went through a 429 and a retry
(plus the staff group's 20 a minute). Flood limits are tested elsewhere
(tests/e2e/test_delivery.py, bench/), so here the emulator does not enforce them and the
outbox does not space messages; `_round` polls only when the emulator made updates the bot
has not stored, and `_settle` turns until every update is handled and nothing due is left
(no fixed sleeps). An example now takes ~0.1 s (MAX) to ~0.4 s (Telegram), the bot's own
work: `make test` runs 200 a messenger in about two minutes together.

A long run: `KABINET_BOT_EXAMPLES=2000 pytest tests/e2e/test_bot_properties.py` (both
messengers side by side in two such runs, one `-k` each). Run on 2 December 2026 on the
shared 2-core machine, both side by side with others' work: Telegram 2,000 sequences
passed in 16 min 50 s, MAX 2,000 in 22 min 11 s — 0 failing (hypothesis statistics); a
sequence grows slower as the module's two linked people's transcripts grow.
The check can fail: with a planted leak (Telegram's adapter taking every card as the
sender's own) 200 examples found a stranger shown «Анна Сергеевна, здравствуйте! Мы вас
узнали» after forwarding Anna's card, and shrank the sequence.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.clock import utcnow
from core.models import Doctor, MaxUpdate, OutboxMessage, TelegramUpdate
from core.ratelimit import AdaptiveSpacer
from jobs.dispatcher import GLOBAL_SLACK_SECONDS
from sandbox.demo_clinic import build_demo_clinic, persona
from sandbox.demo_clinic.wallclock import clinic_now
from sandbox.max import MaxEmulator
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN
from tests.e2e.max_wired import MAX_TOKEN, SMS_API_ID, wire_max
from tests.e2e.phone import MaxPhoneDriver, Phone, TelegramPhone, telegram_world

# The demo clinic's visits are built around now: `make test` reruns this at frozen instants.
pytestmark = pytest.mark.clock
# Sequences a messenger: 200 in `make test` (~0.1-0.4 s each); KABINET_BOT_EXAMPLES=2000
# for a long run. pytest-timeout counts the whole test, so its limit grows with the number
# (2 s an example, a loaded machine's pace; at least the suite's 300 s).
EXAMPLES = int(os.environ.get("KABINET_BOT_EXAMPLES", "200"))

# The outbox at the highest pace the configuration allows: nothing waits for a slot.
FAST = {
    "messaging": {"per_chat_per_second": 30.0, "global_per_second": 1000.0},
    "max": {"per_second": 30.0},
}
TEXTS = (
    "Здравствуйте",
    "/start",
    "/visits",
    "/balance",
    "/family",
    "/friend",
    "/settings",
    "/help",
    "/messenger",
    "123456",
    "Кто я?",
)
# Each example's new people: one with Anna's number (a second phone of hers), a stranger.
NEW_PEOPLE = ("anna", None)
PEOPLE = 4  # with the two linked for the whole module
MARKERS = {
    "anna": ("anna",),
    "family": ("family", "family_daughter", "family_son"),
}
_CODE = re.compile(r"\b(\d{6})\b")
_strangers = itertools.count(1)  # numbers no patient has, one per stranger


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=("telegram", "max"))
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Phone]:
    from telebot import apihelper

    saved = apihelper.API_URL, apihelper.FILE_URL
    tmp = tmp_path_factory.mktemp(f"props-{request.param}")
    # Flood limits are not what this test is about (tests/e2e/test_delivery.py and
    # bench/ hold them): the emulator does not enforce them here, and the outbox below
    # does not space one chat's messages — else a sequence is seconds of 429s and pacing.
    telegram = TelegramEmulator(host="127.0.0.1", port=0, enforce_limits=False)
    telegram.start()
    telegram.register_bot(token=TOKEN, username="kabinet_test_bot", first_name="Клиника")
    max_emu = MaxEmulator(MAX_TOKEN).start()
    sms = SmsRuEmulator([SMS_API_ID]).__enter__()
    build_demo_clinic(str(tmp / "clinic.sqlite3"), patients=60, seed=7, now=clinic_now())
    phone: Phone
    if request.param == "telegram":
        phone = TelegramPhone(telegram_world(tmp, telegram, **FAST))
    else:
        phone = MaxPhoneDriver(wire_max(tmp, telegram, max_emu, sms, **FAST))
    dispatcher = phone.world.appliance.dispatcher
    dispatcher.chat_interval = dispatcher.group_interval = 0.0
    dispatcher.other_spacers = {
        name: AdaptiveSpacer(1000.0, slack=GLOBAL_SLACK_SECONDS) for name in dispatcher.others
    }
    phone.world.appliance.sync_job()
    # Two people linked once for the module, acting in every example: Anna, and Oleg with
    # his children (one family in the MIS) — their screens show real visits and points.
    phone.linked = [  # type: ignore[attr-defined]
        _Person(phone.link("anna"), "anna", persona("anna").phone_e164),
        _Person(phone.link("family"), "family", persona("family").phone_e164),
    ]
    phone.checked = set()  # type: ignore[attr-defined]
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    phone.errors = errors  # type: ignore[attr-defined]
    yield phone
    logging.getLogger().removeHandler(errors)
    phone.world.appliance.stop()
    sms.__exit__(None, None, None)
    max_emu.stop()
    telegram.stop()
    apihelper.API_URL, apihelper.FILE_URL = saved


@dataclass
class _Person:
    chat: int
    who: str | None  # persona key, None for a stranger
    number: str
    blocked: bool = False
    codes_seen: int = 0
    sent: list[str] = field(default_factory=list)


def _markers(phone: Phone, keys: tuple[str, ...]) -> set[str]:
    """Names that say whose data a message is: surnames, first name with patronymic
    (minus any that a doctor of the demo clinic also bears)."""
    doctors = getattr(phone, "doctors", None)
    if doctors is None:
        with phone.world.appliance.factory() as s:
            doctors = " ".join(d.full_name for d in s.scalars(select(Doctor)))
        phone.doctors = doctors  # type: ignore[attr-defined]
    found = set()
    for key in keys:
        p = persona(key)
        for marker in (p.surname, f"{p.name} {p.patronymic}"):
            if marker not in doctors:
                found.add(marker)
    return found


ACTION = st.tuples(
    st.sampled_from(
        (
            "text",
            "text",
            "menu",
            "own_contact",
            "others_card",
            "own_card_other_number",
            "code",
            "press",
            "press",
            "press",
            "forged",
            "block",
            "start",
        )
    ),
    st.integers(0, PEOPLE - 1),
    st.integers(0, 1000),
)


def _act(phone: Phone, people: list[_Person], action: tuple[str, int, int]) -> None:
    kind, index, n = action
    me = people[index]
    other = people[(index + 1 + n % (len(people) - 1)) % len(people)]
    if me.blocked and kind != "start":
        return  # a person who blocked the bot does nothing else there until she is back
    if kind == "start":
        if me.blocked and isinstance(phone, TelegramPhone):
            phone.emu.unblock_user(me.chat)
        me.blocked = False
        phone.start(me.chat, "")
    elif kind == "text":
        phone.text(me.chat, TEXTS[n % len(TEXTS)])
    elif kind == "menu":
        labels = [label for m in phone.messages(me.chat) for label in m.menu]
        if isinstance(phone, TelegramPhone):
            keyboard = phone.emu.reply_keyboard(me.chat) or {}
            labels += [b["text"] for row in keyboard.get("keyboard", []) for b in row]
        labels = [label for label in labels if label]
        if labels:
            phone.text(me.chat, labels[n % len(labels)])
    elif kind == "own_contact":
        phone.contact(me.chat, me.number)
    elif kind == "others_card":
        phone.contact(me.chat, other.number, own=False)
    elif kind == "own_card_other_number":
        # Only MAX lets an own card carry any number (it does not prove the number);
        # Telegram's own card is always the account's number.
        if isinstance(phone, MaxPhoneDriver):
            phone.contact(me.chat, other.number)
    elif kind == "code":
        code = f"{n:06d}"
        if isinstance(phone, MaxPhoneDriver) and me.who is not None:
            sent = phone.sms.messages_to(me.number)
            found = _CODE.search(sent[-1].msg) if sent else None
            code = found.group(1) if found else code
        phone.text(me.chat, code)
    elif kind == "press":
        pressable = [(m, data) for m in phone.messages(me.chat) for _, data in m.buttons]
        if pressable:
            message, data = pressable[n % len(pressable)]
            phone._press(me.chat, message, data)
    elif kind == "forged":
        mine = phone.messages(me.chat)
        theirs = [data for m in phone.messages(other.chat) for _, data in m.buttons]
        if mine and theirs:
            phone._press(me.chat, mine[n % len(mine)], theirs[n % len(theirs)])
    elif kind == "block":
        if isinstance(phone, TelegramPhone):
            phone.emu.block_user(me.chat)
        else:
            phone.emu.block(me.chat)  # type: ignore[attr-defined]
        me.blocked = True
    _round(phone)


def _telegram_waiting(phone: Phone) -> bool:
    """Updates the Telegram emulator made that the bot has not stored yet. The emulator's
    `pending_updates` also counts the ones stored but not yet confirmed by the next offset,
    and a getUpdates for those would long-poll for nothing; this module's emulator serves
    one bot, so what it made and what the bot stored compare one for one."""
    emu = phone.telegram if isinstance(phone, MaxPhoneDriver) else phone.world.emulator
    with phone.world.appliance.factory() as s:
        stored = s.scalar(select(func.count(TelegramUpdate.update_id)))
    return int(emu.stats()["updates_created"]) > (stored or 0)


def _round(phone: Phone) -> None:
    """One turn of the appliance as `Wired.pump` does it — poll what the messengers hold,
    dispatch the outbox — without a getUpdates that would only wait out its long poll."""
    appliance = phone.world.appliance
    if isinstance(phone, MaxPhoneDriver):
        assert appliance.max_poller is not None
        if phone.emu.stats()["pending_updates"]:
            appliance.max_poller.poll_once(timeout=0)
    if _telegram_waiting(phone):
        appliance.poller.poll_once(timeout=1)  # returns at once: there are updates
    appliance.dispatcher.dispatch_once()


def _settle(phone: Phone, timeout: float = 30.0) -> None:
    """Turns until every update is handled and nothing due is left in the outbox (the
    paced ones included); raises when that takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        _round(phone)
        if _quiet(phone):
            return
        if time.monotonic() > deadline:
            raise AssertionError("not settled; outbox: " + repr(phone.world.outbox_states()))
        time.sleep(0.005)


def _quiet(phone: Phone) -> bool:
    soon = utcnow() + timedelta(seconds=3)
    with phone.world.appliance.factory() as s:
        due = s.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state.in_(("pending", "claimed", "sending")),
                OutboxMessage.due_at <= soon,
            )
        )
        unhandled = s.scalar(
            select(func.count(TelegramUpdate.update_id)).where(
                TelegramUpdate.processed_at.is_(None)
            )
        ) + s.scalar(select(func.count(MaxUpdate.id)).where(MaxUpdate.processed_at.is_(None)))
    return not due and not unhandled


@pytest.mark.timeout(max(300, 2 * EXAMPLES))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(actions=st.lists(ACTION, min_size=6, max_size=20))
def test_random_sequences_never_fail_and_never_leak(
    world: Phone, actions: list[tuple[str, int, int]]
) -> None:
    phone = world
    people = list(phone.linked)  # type: ignore[attr-defined]
    for key in NEW_PEOPLE:
        number = persona(key).phone_e164 if key else f"+7999{next(_strangers):07d}"
        people.append(_Person(phone.person(key or "Гость"), key, number))
    for action in actions:
        _act(phone, people, action)
    _settle(phone)

    # No exception escaped: every update was handled, none with an error; no error logged.
    with phone.world.appliance.factory() as s:
        failed = [
            u.error for u in s.scalars(select(TelegramUpdate).where(TelegramUpdate.error != ""))
        ] + [u.error for u in s.scalars(select(MaxUpdate).where(MaxUpdate.error != ""))]
    assert failed == []
    errors = phone.errors.records  # type: ignore[attr-defined]
    assert [r.getMessage() for r in errors] == []

    # Nobody received another patient's data: each chat's transcript names only the
    # patients of the persona whose number that chat could prove. Every message of every
    # chat of the example, the linked people's whole transcripts included (the bot edits
    # old messages too); a message as it was already checked is not checked again.
    checked: set[tuple[int, int | str, str]] = phone.checked  # type: ignore[attr-defined]
    for person in people:
        allowed = MARKERS.get(person.who or "", ())
        others = ("anna", *MARKERS["family"])
        foreign = _markers(phone, tuple(k for k in others if k not in allowed))
        for message in phone.messages(person.chat):
            shown = " ".join([message.text, *message.labels, *message.menu])
            if (person.chat, message.id, shown) in checked:
                continue
            leaked = [marker for marker in foreign if marker in shown]
            assert leaked == [], (person.who, message.text, actions)
            checked.add((person.chat, message.id, shown))
