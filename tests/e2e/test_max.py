"""Patients in MAX: the same onboarding and visit conversation as in Telegram (the shared
steps of tests/e2e/flows.py, through either emulator), identity as strict as Telegram's,
and MAX's long-poll marker kept durably."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.models import (
    Appointment,
    LedgerEntry,
    MaxUpdate,
    OutboxMessage,
    PatientLink,
    Subscriber,
    Task,
)
from jobs.max_poller import MARKER_KEY, MaxPoller, MaxUpdateProcessor
from sandbox.demo_clinic import persona
from tests.conftest import Wired
from tests.e2e.flows import buttons, confirmed_and_paid_visit, start_and_consent
from tests.e2e.max_wired import MaxWired, any_wired, max_emu, max_wired, outbox_channels, smsru

__all__ = ["any_wired", "max_emu", "max_wired", "smsru"]  # fixtures

pytestmark = pytest.mark.clock


def test_onboarding_and_a_visit_in_either_messenger(any_wired: Wired, demo_clinic) -> None:  # type: ignore[no-untyped-def]
    loop = confirmed_and_paid_visit(any_wired, demo_clinic)
    channel = "max" if isinstance(any_wired, MaxWired) else "telegram"
    with any_wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == loop.chat))
        assert sub is not None and sub.channel == channel
        links = s.scalars(
            select(PatientLink.patient_mis_id).where(PatientLink.subscriber_id == sub.id)
        )
        assert str(loop.patient_id) in set(links)
        appt = s.get(Appointment, loop.appointment_id)
        assert appt is not None and appt.confirmed_at is not None
        assert s.scalar(select(func.count(LedgerEntry.id))) >= 1
    messages = any_wired.emulator.messages(loop.chat)
    assert any("балл" in m["text"] or "бонус" in m["text"].lower() for m in messages[-2:])
    # Every message to her went by her messenger (SMS carried only the code).
    assert outbox_channels(any_wired) <= {channel, "sms", "telegram"}
    with any_wired.appliance.factory() as s:
        hers = set(
            s.scalars(select(OutboxMessage.channel).where(OutboxMessage.chat_id == loop.chat))
        )
    assert hers == {channel}


def _share(wired: MaxWired, persona_key: str, *, own: bool) -> tuple[int, int]:
    who = persona(persona_key)
    wired.appliance.sync_job()
    chat = wired.emulator.create_user(who.name)["id"]
    seen = start_and_consent(wired, chat)
    wired.emulator.send_contact(chat, who.phone_e164.lstrip("+"), own=own)  # type: ignore[call-arg]
    wired.wait_messages(chat, seen + 1)
    return chat, seen


def _linked(wired: Wired, chat: int) -> bool:
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        return bool(
            sub and s.scalar(select(PatientLink.id).where(PatientLink.subscriber_id == sub.id))
        )


def test_someone_elses_card_never_links(max_wired: MaxWired) -> None:
    chat, seen = _share(max_wired, "anna", own=False)
    answer = max_wired.emulator.messages(chat)[-1]
    assert "SMS" not in answer["text"] and not _linked(max_wired, chat)
    assert max_wired.sms is not None and max_wired.sms.sent == []


def test_an_own_card_links_only_with_the_code_sent_to_the_mis_number(max_wired: MaxWired) -> None:
    chat, seen = _share(max_wired, "anna", own=True)
    ask = max_wired.emulator.messages(chat)[-1]
    assert "SMS" in ask["text"] and not _linked(max_wired, chat)
    max_wired.pump(lambda: bool(max_wired.sms and max_wired.sms.sent))
    assert max_wired.sms is not None
    sms = max_wired.sms.sent[-1]
    assert sms.to == persona("anna").phone_e164.lstrip("+")
    code = next(w for w in sms.msg.replace(".", " ").split() if w.isdigit() and len(w) == 6)
    wrong = "000000" if code != "000000" else "111111"
    for n in range(1, 5):
        max_wired.emulator.send_text(chat, wrong)
        assert "не подошёл" in max_wired.wait_messages(chat, seen + 1 + n)[-1]["text"]
    assert not _linked(max_wired, chat)
    # The fifth wrong try burns the code: even the right one does nothing now.
    max_wired.emulator.send_text(chat, wrong)
    assert "Слишком много" in max_wired.wait_messages(chat, seen + 6)[-1]["text"]
    max_wired.emulator.send_text(chat, code)
    assert "не ждём кода" in max_wired.wait_messages(chat, seen + 7)[-1]["text"]
    assert not _linked(max_wired, chat)
    # A typed number is refused as in Telegram.
    max_wired.emulator.send_text(chat, persona("anna").phone_e164)
    max_wired.wait_messages(chat, seen + 8)
    assert not _linked(max_wired, chat)


def test_without_sms_the_staff_say_the_code(
    tmp_path, emulator, max_emu, smsru, demo_clinic
) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.max_wired import wire_max

    wired = wire_max(tmp_path, emulator, max_emu, smsru, sms_enabled=False)
    try:
        chat, seen = _share(wired, "anna", own=True)
        assert "администратор позвонит" in wired.emulator.messages(chat)[-1]["text"]
        with wired.appliance.factory() as s:
            task = s.scalar(select(Task).where(Task.kind == "phone_confirm"))
            assert task is not None
            code = next(w for w in task.text.split() if w.isdigit() and len(w) == 6)
        assert smsru.sent == []
        wired.emulator.send_text(chat, code)
        wired.wait_messages(chat, seen + 2)
        assert _linked(wired, chat)
    finally:
        wired.appliance.stop()


def test_the_marker_is_kept_so_nothing_is_lost_or_handled_twice(max_wired: MaxWired) -> None:
    appliance, emu = max_wired.appliance, max_wired.max_emulator
    assert appliance.max_poller is not None and emu is not None
    chat = max_wired.emulator.create_user("Анна")["id"]
    emu.start_bot(chat)
    # A crash after MAX answered but before the batch was stored: nothing stored, no marker
    # saved, so the next poll (a new process) gets the same update again.
    lost = appliance.max_poller.client.call("GET", "/updates", {"timeout": 0})
    assert len(lost["updates"]) == 1
    with appliance.factory() as s:
        assert s.scalar(select(func.count(MaxUpdate.id))) == 0
    # Stored with its marker, but the process dies before handling it.
    never_handles = MaxUpdateProcessor(appliance.router, appliance.factory)
    never_handles.process_pending = lambda limit=100: 0  # type: ignore[method-assign]
    dying = MaxPoller(
        appliance.max_poller.client, appliance.factory, appliance.config, never_handles
    )
    assert dying.poll_once(timeout=0) == 1
    with appliance.factory() as s:
        assert s.get(type(s.get(MaxUpdate, 1)), 1) is not None
    # The restarted poller handles the stored one and MAX gives it no more.
    max_wired.pump(lambda: len(max_wired.emulator.messages(chat)) >= 1)
    assert appliance.max_poller.poll_once(timeout=0) == 0
    with appliance.factory() as s:
        rows = list(s.scalars(select(MaxUpdate)))
        assert len(rows) == 1 and rows[0].processed_at is not None and rows[0].error == ""
        assert s.get(type(s.get(MaxUpdate, 1)), 1) is not None
    assert len(max_wired.emulator.messages(chat)) == 1  # one consent request, not two
    with appliance.factory() as s:
        from core.models import KeyValue

        assert s.get(KeyValue, MARKER_KEY) is not None


def test_a_button_from_another_chat_is_refused(max_wired: MaxWired) -> None:
    phone = max_wired.emulator
    a, b = phone.create_user("Анна")["id"], phone.create_user("Борис")["id"]
    phone.send_text(a, "/start")
    ask = max_wired.wait_messages(a, 1)[-1]
    phone.send_text(b, "/start")
    max_wired.wait_messages(b, 1)
    # Boris's client replays Anna's consent button on Anna's message id.
    phone.press(b, ask["message_id"], buttons(ask)[0][1])
    emu = max_wired.max_emulator
    assert emu is not None
    max_wired.pump(lambda: bool(emu.answers))
    assert emu.answers[-1]["notification"] == "Эта кнопка не для вас."
    with max_wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.chat_id == b))
        assert sub is not None and sub.consent_at is None
    assert emu.schema_errors == []


def test_one_chat_per_person_is_the_one_chosen_else_the_one_used_last() -> None:
    from datetime import UTC, datetime

    from core.patients.linking import chat_rank, one_chat_per_person

    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    chats = [
        ("+7916", chat_rank(None, early), 1, "tg"),
        ("+7916", chat_rank(None, late), 2, "max"),
        ("+7903", chat_rank(None, None), 3, "mum"),
    ]
    assert one_chat_per_person(chats) == ["max", "mum"]
    never = chat_rank(None, None)
    assert one_chat_per_person([("+7916", never, 1, "tg"), ("+7916", never, 2, "max")]) == ["tg"]
    assert one_chat_per_person([("", never, 1, "a"), ("", never, 2, "b")]) == ["a", "b"]
    # Chosen in settings, Telegram wins though MAX was used later; the newest choice counts.
    chosen = [
        ("+7916", chat_rank(early, early), 1, "tg"),
        ("+7916", chat_rank(None, late), 2, "max"),
    ]
    assert one_chat_per_person(chosen) == ["tg"]
    both = [("+7916", chat_rank(early, late), 1, "tg"), ("+7916", chat_rank(late, early), 2, "max")]
    assert one_chat_per_person(both) == ["max"]


def test_a_patient_in_both_messengers_gets_the_reminder_once(max_wired: MaxWired) -> None:
    from tests.e2e.flows import connect

    who = persona("anna")
    tg = MaxWired(
        max_wired.appliance,
        max_wired.telegram,
        max_wired.config,
        max_wired.staff_chat_id,
        max_wired.max_emulator,
        max_wired.sms,
        max_wired.telegram,
    )
    max_wired.appliance.sync_job()
    tg_chat = connect(tg, "anna", who.name, who.surname)
    max_chat = connect(max_wired, "anna", who.name, who.surname)  # MAX is used last
    seen_tg = len(tg.emulator.messages(tg_chat))
    seen_max = len(max_wired.emulator.messages(max_chat))
    max_wired.appliance.reminders_job()  # (others of the demo clinic get theirs by SMS)
    reminder = max_wired.wait_messages(max_chat, seen_max + 1)[-1]
    assert "напоминаем" in reminder["text"]
    max_wired.pump(lambda: True)
    assert len(tg.emulator.messages(tg_chat)) == seen_tg
    with max_wired.appliance.factory() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")))
        hers = [r for r in rows if r.chat_id in (tg_chat, max_chat)]
        assert [(r.channel, r.chat_id) for r in hers] == [("max", max_chat)]
