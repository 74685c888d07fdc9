"""One patient in Telegram and in MAX, through both emulators at once: every message goes to
one of her messengers (the one she chose in the bot, else the one used last); a blocked
chat's message goes by the other and the thread says so; the thread shows each line's
messenger, and a staff reply goes back by the messenger of the message it answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.conversations import inbox, staff_links
from core.conversations.models import Conversation, ThreadMessage
from core.conversations.threads import reply
from core.db import transaction
from core.models import Appointment, OutboxMessage, Subscriber, Task
from core.staff import create_user
from sandbox.demo_clinic import persona
from tests.conftest import WallClock, make_app
from tests.e2e.flows import buttons, connect
from tests.e2e.max_wired import MaxWired, max_emu, max_wired, smsru, wire_max

__all__ = ["max_emu", "max_wired", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


def _in_telegram(wired: MaxWired) -> MaxWired:
    """The same appliance driven through the Telegram emulator (pump polls both)."""
    return MaxWired(
        wired.appliance,
        wired.telegram,
        wired.config,
        wired.staff_chat_id,
        wired.max_emulator,
        wired.sms,
        wired.telegram,
    )


def _anna_in_both(wired: MaxWired, last: str = "max") -> tuple[MaxWired, int, int]:
    """Anna linked in Telegram and in MAX on her number; ``last``: the one used last."""
    who = persona("anna")
    tg = _in_telegram(wired)
    wired.appliance.sync_job()
    if last == "max":
        tg_chat = connect(tg, "anna", who.name, who.surname)
        max_chat = connect(wired, "anna", who.name, who.surname)
    else:
        max_chat = connect(wired, "anna", who.name, who.surname)
        tg_chat = connect(tg, "anna", who.name, who.surname)
    return tg, tg_chat, max_chat


def _rows(wired: MaxWired, kind: str, chats: tuple[int, int]) -> list[tuple[str, int, str]]:
    with wired.appliance.factory() as s:
        return [
            (r.channel, r.chat_id, r.state)
            for r in s.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
            if r.chat_id in chats
        ]


def test_the_messenger_chosen_in_the_bot_gets_the_reminder(max_wired: MaxWired) -> None:
    tg, tg_chat, max_chat = _anna_in_both(max_wired, last="max")
    phone = max_wired.emulator
    seen = len(phone.messages(max_chat))
    phone.send_text(max_chat, "/messenger")
    screen = max_wired.wait_messages(max_chat, seen + 1)[-1]
    assert "Telegram" in screen["text"] and "MAX — где вы писали последним" in screen["text"]
    assert [data for _, data in buttons(screen)] == ["msgr:max", "msgr:telegram", "msgr:last"]
    # In MAX, the last one she used, she asks for Telegram.
    phone.press(max_chat, screen["message_id"], "msgr:telegram")
    max_wired.pump(lambda: "ваш выбор" in phone.messages(max_chat)[seen]["text"])
    assert "Telegram (ваш выбор)" in phone.messages(max_chat)[seen]["text"]
    with max_wired.appliance.factory() as s:
        chosen = {sub.channel: sub.preferred_at for sub in s.scalars(select(Subscriber))}
        assert chosen["telegram"] is not None and chosen["max"] is None

    seen_tg, seen_max = len(tg.emulator.messages(tg_chat)), len(phone.messages(max_chat))
    max_wired.appliance.reminders_job()
    reminder = tg.wait_messages(tg_chat, seen_tg + 1)[-1]
    assert "напоминаем" in reminder["text"]
    max_wired.pump(lambda: True)
    assert len(phone.messages(max_chat)) == seen_max
    assert _rows(max_wired, "reminder", (tg_chat, max_chat)) == [("telegram", tg_chat, "sent")]

    # «Where I wrote last» again: the choice is gone, MAX (used last) is hers again.
    screen = phone.messages(max_chat)[seen]
    phone.press(max_chat, screen["message_id"], "msgr:last")
    max_wired.pump(lambda: "где вы писали последним" in phone.messages(max_chat)[seen]["text"])
    with max_wired.appliance.factory() as s:
        assert all(sub.preferred_at is None for sub in s.scalars(select(Subscriber)))


def test_a_forged_choice_changes_nothing(max_wired: MaxWired) -> None:
    _, _, max_chat = _anna_in_both(max_wired, last="max")
    phone = max_wired.emulator
    seen = len(phone.messages(max_chat))
    phone.send_text(max_chat, "/messenger")
    screen = max_wired.wait_messages(max_chat, seen + 1)[-1]
    phone.press(max_chat, screen["message_id"], "msgr:viber")  # never offered: refused
    emu = max_wired.max_emulator
    assert emu is not None
    max_wired.pump(lambda: bool(emu.answers))
    with max_wired.appliance.factory() as s:
        assert all(sub.preferred_at is None for sub in s.scalars(select(Subscriber)))


def test_a_chat_blocked_on_the_wire_hands_its_message_to_the_other(max_wired: MaxWired) -> None:
    tg, tg_chat, max_chat = _anna_in_both(max_wired, last="telegram")
    seen_max = len(max_wired.emulator.messages(max_chat))
    max_wired.appliance.reminders_job()
    # She blocks the bot in Telegram; the dispatcher learns it from the 403 (the update
    # saying so is not read yet).
    tg.emulator.block_user(tg_chat)
    for _ in range(40):
        max_wired.appliance.dispatcher.dispatch_once()
        if len(max_wired.emulator.messages(max_chat)) > seen_max:
            break
        max_wired.appliance.max_poller.poll_once(timeout=0)  # type: ignore[union-attr]
    reminder = max_wired.wait_messages(max_chat, seen_max + 1)[-1]
    assert "напоминаем" in reminder["text"]
    assert buttons(reminder), "the reminder keeps its buttons in MAX"
    rows = _rows(max_wired, "reminder", (tg_chat, max_chat))
    assert rows == [("telegram", tg_chat, "unreachable"), ("max", max_chat, "sent")]
    # The staff see it in her thread.
    with max_wired.appliance.factory() as s:
        note = s.scalars(select(ThreadMessage).where(ThreadMessage.event == "rerouted")).one()
        assert note.text.startswith("Telegram: не доставлено") and "Отправлено в MAX" in note.text
        conv = s.get(Conversation, note.conversation_id)
        labels = {(line.kind, line.channel) for line in inbox.thread(s, conv.id)}
        assert ("event", "max") in labels
    # The next run does not send it again by MAX, nor does the blocked chat's update.
    max_wired.pump(lambda: not max_wired.telegram.stats()["pending_updates"])
    max_wired.appliance.reminders_job()
    max_wired.pump(lambda: True)
    assert len(_rows(max_wired, "reminder", (tg_chat, max_chat))) == 2
    assert len(max_wired.emulator.messages(max_chat)) == seen_max + 1


def test_a_chat_that_stops_the_bot_hands_over_what_was_queued(max_wired: MaxWired) -> None:
    tg, tg_chat, max_chat = _anna_in_both(max_wired, last="max")
    emu = max_wired.max_emulator
    assert emu is not None
    seen_tg = len(tg.emulator.messages(tg_chat))
    max_wired.appliance.reminders_job()  # queued for MAX, used last
    emu.block(max_chat)  # bot_stopped reaches the bot before the dispatcher sends
    assert max_wired.appliance.max_poller is not None
    max_wired.appliance.max_poller.poll_once(timeout=0)
    reminder = tg.wait_messages(tg_chat, seen_tg + 1)[-1]
    assert "напоминаем" in reminder["text"]
    assert _rows(max_wired, "reminder", (tg_chat, max_chat)) == [
        ("max", max_chat, "unreachable"),
        ("telegram", tg_chat, "sent"),
    ]


def _link_olga(wired: MaxWired) -> int:
    tg = wired.telegram
    olga = next(u["id"] for u in tg.users() if u["first_name"] == "Ольга")
    with transaction(wired.appliance.factory) as s:
        user, _ = create_user(s, "olga", "admin", "секретный-пароль", "Ольга Админова")
        code = staff_links.new_code(s, user, utcnow())
    tg.send_text(olga, f"/link {code}")
    _in_telegram(wired).wait_messages(olga, 1)
    return olga


def test_one_thread_shows_each_messenger_and_replies_go_back_by_the_last(
    max_wired: MaxWired,
) -> None:
    tg, tg_chat, max_chat = _anna_in_both(max_wired, last="max")
    olga = _link_olga(max_wired)
    group = max_wired.staff_chat_id
    tg.emulator.send_text(tg_chat, "Можно перенести визит?")
    tg.wait_messages(tg_chat, len(tg.emulator.messages(tg_chat)) + 1)  # acknowledged there
    max_wired.emulator.send_text(max_chat, "На пятницу, если можно")
    max_wired.pump(lambda: bool(tg.emulator.messages(group)))
    with max_wired.appliance.factory() as s:
        (task,) = s.scalars(select(Task).where(Task.kind == "message"))
        assert task.message_count == 2  # one episode across both messengers
        lines = inbox.thread(s, task.conversation_id)
        came = [(line.text, line.channel) for line in lines if line.direction == "in"]
        assert came == [("Можно перенести визит?", "telegram"), ("На пятницу, если можно", "max")]

    # The panel's thread labels each line with its messenger.
    app = make_app(max_wired.config)
    client = app.test_client()
    from tests.conftest import Persona

    staff = Persona(client, None)
    staff.login("olga", "секретный-пароль")
    page = staff.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-channel="telegram"' in page and 'data-channel="max"' in page
    # The card names both chats and the one her messages go to now (MAX, written in last).
    card = page[page.index('id="patient-card"') :]
    assert '<p class="chat" data-channel="telegram">' in card
    mine = card[card.index('<p class="chat" data-channel="max">') :]
    assert mine[: mine.index("</p>")].endswith("сообщения идут сюда</b> (писал(а) здесь последним)")

    # A reply in the staff group answers the last message: it goes to MAX.
    seen_tg, seen_max = (
        len(tg.emulator.messages(tg_chat)),
        len(max_wired.emulator.messages(max_chat)),
    )
    post = tg.emulator.messages(group)[0]
    tg.emulator.send_text(olga, "Да, в пятницу в 10:00.", group, post["message_id"])
    got = max_wired.wait_messages(max_chat, seen_max + 1)[-1]
    assert got["text"] == "Да, в пятницу в 10:00."
    assert len(tg.emulator.messages(tg_chat)) == seen_tg

    # She writes in Telegram again; the panel's reply goes back there.
    tg.emulator.send_text(tg_chat, "А в 11 можно?")
    max_wired.pump(lambda: True)
    with transaction(max_wired.appliance.factory) as s:
        task = s.get(Task, task.id)
        reply(s, task, "Можно и в 11.", author="Ольга Админова")
    got = tg.wait_messages(tg_chat, seen_tg + 1)[-1]  # (the episode was acknowledged once)
    assert got["text"] == "Можно и в 11."
    assert max_wired.emulator.messages(max_chat)[-1]["text"] == "Да, в пятницу в 10:00."
    with max_wired.appliance.factory() as s:
        replies = s.scalars(select(ThreadMessage).where(ThreadMessage.kind == "reply")).all()
        chats = {sub.id: sub.channel for sub in s.scalars(select(Subscriber))}
        assert [chats[r.subscriber_id] for r in replies if r.subscriber_id] == ["max", "telegram"]
        page = staff.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Можно и в 11." in page


def test_a_reply_to_a_blocked_messenger_goes_by_the_other(max_wired: MaxWired) -> None:
    tg, tg_chat, max_chat = _anna_in_both(max_wired, last="max")
    max_wired.emulator.send_text(max_chat, "Болит зуб")
    max_wired.pump(lambda: bool(max_wired.telegram.messages(max_wired.staff_chat_id)))
    with transaction(max_wired.appliance.factory) as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.channel == "max"))
        assert sub is not None
        sub.unreachable_at = utcnow()
    seen_tg = len(tg.emulator.messages(tg_chat))
    with transaction(max_wired.appliance.factory) as s:
        (task,) = s.scalars(select(Task).where(Task.kind == "message"))
        reply(s, task, "Приходите сегодня в 17:00", author="Ольга Админова")
    got = tg.wait_messages(tg_chat, seen_tg + 1)[-1]
    assert got["text"] == "Приходите сегодня в 17:00"
    with max_wired.appliance.factory() as s:
        note = s.scalars(select(ThreadMessage).where(ThreadMessage.event == "rerouted")).one()
        assert note.text == (
            "MAX недоступен (бот заблокирован или чат удалён): ответ уходит в Telegram."
        )


def test_settings_lead_to_the_messenger_choice(max_wired: MaxWired) -> None:
    tg, tg_chat, _ = _anna_in_both(max_wired, last="max")
    emu = tg.emulator
    seen = len(emu.messages(tg_chat))
    emu.send_text(tg_chat, "/settings")
    settings = tg.wait_messages(tg_chat, seen + 1)[-1]
    button = dict(buttons(settings))["📨 Мессенджер для сообщений"]
    emu.press(tg_chat, settings["message_id"], button)
    screen = tg.wait_messages(tg_chat, seen + 2)[-1]
    # Telegram was just used, so it is where messages go now.
    assert "Telegram — где вы писали последним" in screen["text"]
    emu.press(tg_chat, screen["message_id"], "msgr:max")
    tg.pump(lambda: "MAX (ваш выбор)" in emu.messages(tg_chat)[-1]["text"])
    with max_wired.appliance.factory() as s:
        chosen = {sub.channel: sub.preferred_at for sub in s.scalars(select(Subscriber))}
    assert chosen["max"] is not None and chosen["telegram"] is None


def test_a_patient_in_one_messenger_is_told_there_is_nothing_to_choose(
    max_wired: MaxWired,
) -> None:
    who = persona("anna")
    max_wired.appliance.sync_job()
    chat = connect(max_wired, "anna", who.name, who.surname)
    seen = len(max_wired.emulator.messages(chat))
    max_wired.emulator.send_text(chat, "/messenger")
    answer = max_wired.wait_messages(chat, seen + 1)[-1]
    assert answer["text"].startswith("Вы подключены к клинике только в MAX")
    assert buttons(answer) == []


def test_a_patient_in_both_gets_every_reminder_of_the_sequence_once(
    tmp_path: Path, emulator: Any, max_emu: Any, smsru: Any, demo_clinic: Any, clock: WallClock
) -> None:
    """The day before and two hours before: each step once, in the messenger she used
    last, however often the planner runs; nothing in the other."""
    wired = wire_max(
        tmp_path, emulator, max_emu, smsru, messaging={"reminder_sequence": ["1d", "2h"]}
    )
    try:
        tg, tg_chat, max_chat = _anna_in_both(wired, last="max")
        anna = str(persona("anna").patient_id)
        with wired.appliance.factory() as s:
            visit = s.scalars(
                select(Appointment)
                .where(Appointment.patient_mis_id == anna, Appointment.starts_at > utcnow())
                .order_by(Appointment.starts_at)
            ).first()
        assert visit is not None
        seen_tg, seen_max = (
            len(tg.emulator.messages(tg_chat)),
            len(wired.emulator.messages(max_chat)),
        )

        def reminders() -> list[dict]:
            return [
                m for m in wired.emulator.messages(max_chat)[seen_max:] if "напоминаем" in m["text"]
            ]

        for _ in range(2):
            wired.appliance.reminders_job()
        wired.pump(lambda: len(reminders()) == 1)
        clock.set(visit.starts_at - timedelta(hours=2) + timedelta(minutes=1))
        for _ in range(2):
            wired.appliance.reminders_job()
        wired.pump(lambda: len(reminders()) == 2)
        wired.appliance.reminders_job()
        wired.pump(lambda: True)
        assert len(reminders()) == 2
        assert len(tg.emulator.messages(tg_chat)) == seen_tg
        assert _rows(wired, "reminder", (tg_chat, max_chat)) == [("max", max_chat, "sent")] * 2
    finally:
        wired.appliance.stop()
