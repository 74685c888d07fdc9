"""One person in Telegram and MAX, in the store alone: their two threads become one with
each line's messenger kept, a choice of messenger holds until taken back, a mailing's chunk
keeps one chat per person, and a MAX chat's lane is skipped in a claim like Telegram's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import messengers
from core.clock import utcnow
from core.config import Config
from core.conversations.inbox import thread
from core.conversations.lines import conversation_for
from core.conversations.models import Conversation, ThreadMessage
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.models import OutboxMessage, Patient, PatientLink, Subscriber, Task
from core.outbox import claim, enqueue
from core.patients.linking import link_patients
from tests.core.people import patient

PHONE = "+79161234567"


def _chat(s: Session, who: Patient, channel: str, chat_id: int, phone: str = PHONE) -> Subscriber:
    sub = Subscriber(
        channel=channel, telegram_user_id=chat_id, chat_id=chat_id, phone=phone, consent_at=utcnow()
    )
    s.add(sub)
    s.flush()
    s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=who.mis_id, phone=phone))
    s.flush()
    return sub


def test_two_threads_begun_apart_become_one_with_each_lines_messenger(
    factory: sessionmaker[Session], config: Config
) -> None:
    with transaction(factory) as s:
        anna = patient(s, "p-1")
        tg = _chat(s, anna, "telegram", 101)
        receive(s, config, tg, Incoming(telegram_message_id=1, text="из Telegram"))
        # Her MAX chat wrote before it was linked: a thread of its own.
        max_chat = Subscriber(channel="max", telegram_user_id=101, chat_id=101)
        s.add(max_chat)
        s.flush()
        receive(s, config, max_chat, Incoming(telegram_message_id=1, text="из MAX"))
        assert len(s.scalars(select(Conversation)).all()) == 2
        max_chat.phone = PHONE
        s.add(PatientLink(subscriber_id=max_chat.id, patient_mis_id=anna.mis_id, phone=PHONE))
        s.flush()
        conv = conversation_for(s, max_chat)
        assert conv.subscriber_id == tg.id
        assert len(s.scalars(select(Conversation)).all()) == 1
        tasks = s.scalars(select(Task).where(Task.kind == "message")).all()
        assert {t.conversation_id for t in tasks} == {conv.id}
        came = [(line.text, line.channel) for line in thread(s, conv.id) if line.direction == "in"]
        assert came == [("из Telegram", "telegram"), ("из MAX", "max")]


def test_a_choice_holds_until_taken_back_and_a_missing_messenger_is_refused(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        anna = patient(s, "p-2")
        tg, max_chat = _chat(s, anna, "telegram", 201), _chat(s, anna, "max", 201)
        max_chat.last_seen_at = utcnow()
        tg.last_seen_at = utcnow() - timedelta(hours=1)
        assert messengers.current_chat(s, tg) is max_chat  # used last
        assert messengers.set_preferred_channel(s, max_chat, "telegram") is tg
        max_chat.last_seen_at = utcnow() + timedelta(minutes=1)  # she writes in MAX again
        assert messengers.current_chat(s, max_chat) is tg  # the choice still holds
        assert messengers.set_preferred_channel(s, tg, None) is max_chat
        with pytest.raises(ValueError):
            messengers.set_preferred_channel(s, tg, "viber")
        max_chat.unreachable_at = utcnow()
        with pytest.raises(ValueError):
            messengers.set_preferred_channel(s, tg, "max")
        # A parent's number is another person: both of them keep their chat.
        mum = _chat(s, anna, "telegram", 202, phone="+79031112233")
        assert messengers.chosen_ids(s, [tg, mum]) == {tg.id, mum.id}


def test_a_mailing_chunk_keeps_one_chat_per_person(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        anna = patient(s, "p-3")
        tg, max_chat = _chat(s, anna, "telegram", 301), _chat(s, anna, "max", 301)
        tg.last_seen_at = utcnow()
        assert messengers.chosen_ids(s, [tg, max_chat]) == {tg.id}
        max_chat.preferred_at = utcnow()
        assert messengers.chosen_ids(s, [tg, max_chat]) == {max_chat.id}


def test_a_full_max_lane_is_skipped_and_telegrams_same_chat_id_is_not(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        for channel in ("max", "telegram"):
            enqueue(s, key=f"k:{channel}", chat_id=77, channel=channel, text="x", kind="reply")
        rows = claim(s, utcnow() + timedelta(seconds=1), 10, "d:1", skip_lanes=[("max", 77)])
        assert [(r.channel, r.chat_id) for r in rows] == [("telegram", 77)]
        left = s.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")).all()
        assert [r.channel for r in left] == ["max"]


def test_linking_the_second_messenger_joins_the_threads_at_once(
    factory: sessionmaker[Session], config: Config
) -> None:
    with transaction(factory) as s:
        anna = patient(s, "p-4")
        tg = _chat(s, anna, "telegram", 401)
        receive(s, config, tg, Incoming(telegram_message_id=1, text="из Telegram"))
        max_chat = Subscriber(channel="max", telegram_user_id=401, chat_id=401)
        s.add(max_chat)
        s.flush()
        receive(s, config, max_chat, Incoming(telegram_message_id=1, text="до привязки"))
        link_patients(s, max_chat, [anna], PHONE)
        (conv,) = s.scalars(select(Conversation)).all()
        assert conv.subscriber_id == tg.id
        assert len(s.scalars(select(ThreadMessage)).all()) >= 2
        assert {m.conversation_id for m in s.scalars(select(ThreadMessage))} == {conv.id}
