"""Property-based: random interleavings of several patients' messages, staff replies (from
the panel and by replying to a post in the staff group) and Take / Done / Dismiss, on a
real migrated store, with the outbox carried out between steps.

Whatever the order: a staff reply reaches only its own thread's chat, and every patient
message belongs to exactly one episode — the one that was open when it came, or a new one
if none was.

Driven through the domain functions (core.conversations.threads.receive / reply,
core.tasks.transition, staff_group.task_for_message for a group reply) rather than the
Telegram emulator: the emulator adds a poller, the dispatcher's per-chat pacing and HTTP
to every step, so a few hundred interleavings would take many minutes, while the routing
these properties are about (which thread a message joins, which chat a reply's outbox row
names, which task a group post is) is all in these functions. The end-to-end paths through
the emulator are tests/e2e/test_conversations.py and test_staff_group.py. "Sending" here
is the outbox's own claim -> begin_send -> mark_sent, with Telegram message ids handed out
as Telegram would, so group posts get the ids a reply to them names.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config, from_mapping
from core.conversations import staff_group
from core.conversations.models import Conversation, ThreadMessage
from core.conversations.threads import Incoming, receive, reply
from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import OutboxMessage, Subscriber, Task
from core.outbox import begin_send, claim, mark_sent
from core.tasks import OPEN_STATES, TaskStateError, transition
from tests.core.people import chat_for, patient

STAFF_CHAT = -100_777
PATIENTS = 3
STAFF = ("Ольга", "Ирина")


class _Store:
    """One migrated store for the whole run: each example makes its own patients and
    checks only its own rows (a fresh migrated store per example would cost ~1 s)."""

    factory: ClassVar[sessionmaker[Session] | None] = None
    config: ClassVar[Config | None] = None

    @classmethod
    def get(cls) -> tuple[sessionmaker[Session], Config]:
        if cls.factory is None or cls.config is None:
            data = Path(tempfile.mkdtemp(prefix="kabinet-props-"))
            cls.config = from_mapping(
                {
                    "clinic": {"name": "Тест", "timezone": "Europe/Moscow"},
                    "storage": {"data_dir": str(data)},
                    "mis": {"profile": "demo", "dsn": str(data / "clinic.sqlite3")},
                    "telegram": {"staff_chat_id": STAFF_CHAT},
                },
                source="(test)",
                environ={},
            )
            engine = make_engine(cls.config.storage.url)
            upgrade(engine, data / "migrate.lock")
            cls.factory = session_factory(engine)
        return cls.factory, cls.config


_telegram_ids = itertools.count(1)
_patient_ids = itertools.count(1)
_reply_ids = itertools.count(1)  # reply texts unique across examples too


def _carry_out(s: Session) -> list[OutboxMessage]:
    """The dispatcher's part: claim what is due (edits are spaced into the future, so
    "due" is a day on), mark it on the wire and sent with a Telegram message id."""
    rows = claim(s, utcnow() + timedelta(days=1), 500, "props:1")
    for row in rows:
        assert begin_send(s, row.id, "props:1")
        mark_sent(s, row.id, row.edit_message_id or next(_telegram_ids), utcnow())
        s.refresh(row)
    return rows


class Conversations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.factory, self.config = _Store.get()
        with transaction(self.factory) as s:  # what earlier examples left queued
            _carry_out(s)
        self.chats: list[int] = []
        self.subs: list[int] = []
        with transaction(self.factory) as s:
            for _ in range(PATIENTS):
                sub = chat_for(s, patient(s, f"prop-{next(_patient_ids)}"))
                self.subs.append(sub.id)
                self.chats.append(sub.chat_id)
        self.open_task: dict[int, int | None] = dict.fromkeys(self.subs)
        self.tasks: dict[int, int] = {}  # task id -> subscriber id, this example's
        self.expected_in: dict[int, int] = {}  # line id -> the task it must be in
        self.reply_chat: dict[str, int] = {}  # reply text -> the chat it must reach
        self.delivered: list[tuple[int, str, str]] = []  # (chat, key, text)
        self.posts: dict[int, int] = {}  # group message id -> task id
        self.msg_ids = itertools.count(1)

    # --- what patients and staff do -------------------------------------------------------

    @rule(who=st.integers(0, PATIENTS - 1), photo=st.booleans())
    def patient_writes(self, who: int, photo: bool) -> None:
        sub_id = self.subs[who]
        n = next(self.msg_ids)
        incoming = (
            Incoming(n, kind="photo", text="снимок", file_id=f"f{n}", mime_type="image/jpeg")
            if photo
            else Incoming(n, text=f"пациент {who} строка {n}")
        )
        with transaction(self.factory) as s:
            got = receive(s, self.config, s.get(Subscriber, sub_id), incoming)
            was_open = self.open_task[sub_id]
            if was_open is None:
                assert got.opened and got.task.id not in self.tasks
            else:
                assert not got.opened and got.task.id == was_open
            self.open_task[sub_id] = got.task.id
            self.tasks[got.task.id] = sub_id
            self.expected_in[got.line.id] = got.task.id

    def _reply(self, s: Session, task: Task, *, group: bool) -> None:
        text = f"ответ {next(_reply_ids)}"
        reply(
            s,
            task,
            text,
            author=STAFF[0],
            config=self.config if group else None,  # the panel has none at hand
        )
        self.reply_chat[text] = self.chats[self.subs.index(self.tasks[task.id])]

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def staff_reply_in_panel(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(list(self.tasks)))
        with transaction(self.factory) as s:
            self._reply(s, s.get(Task, task_id), group=False)

    @precondition(lambda self: self.posts)
    @rule(data=st.data())
    def staff_reply_in_group(self, data: st.DataObject) -> None:
        message_id = data.draw(st.sampled_from(list(self.posts)))
        with transaction(self.factory) as s:
            # What bot_handlers/staff.py does with a reply's reply_to_message.
            task = staff_group.task_for_message(s, STAFF_CHAT, message_id)
            assert task is not None and task.id == self.posts[message_id]
            self._reply(s, task, group=True)

    @precondition(lambda self: self.tasks)
    @rule(
        data=st.data(),
        action=st.sampled_from(("take", "done", "dismiss")),
        who=st.sampled_from(STAFF),
    )
    def state_change(self, data: st.DataObject, action: str, who: str) -> None:
        task_id = data.draw(st.sampled_from(list(self.tasks)))
        with transaction(self.factory) as s:
            task = s.get(Task, task_id)
            try:
                transition(s, task, action, who)
            except TaskStateError:
                return
            staff_group.refresh(s, self.config, task, urgent=True)
            if task.state not in OPEN_STATES:
                sub_id = self.tasks[task_id]
                if self.open_task[sub_id] == task_id:
                    self.open_task[sub_id] = None

    @rule()
    def outbox_goes_out(self) -> None:
        with transaction(self.factory) as s:
            for row in _carry_out(s):
                self.delivered.append((row.chat_id, row.key, row.text))
                if row.chat_id == STAFF_CHAT and row.key.endswith(":announce"):
                    task_id = int(row.key.split(":")[1])
                    if task_id in self.tasks:
                        assert row.telegram_message_id is not None
                        self.posts[row.telegram_message_id] = task_id

    # --- what must hold after every step ------------------------------------------------

    @invariant()
    def replies_reach_only_their_thread(self) -> None:
        mine = set(self.chats)
        for chat, key, text in self.delivered:
            if text in self.reply_chat:
                assert key.startswith("staff-reply:")
                assert chat == self.reply_chat[text], (text, chat)
            if chat in mine and key.startswith("staff-reply:"):
                assert self.reply_chat.get(text) == chat
        with self.factory() as s:
            for line, conv_chat, row_chat in s.execute(
                select(ThreadMessage, Conversation.chat_id, OutboxMessage.chat_id)
                .join(Conversation, Conversation.id == ThreadMessage.conversation_id)
                .join(OutboxMessage, OutboxMessage.id == ThreadMessage.outbox_id)
                .where(
                    ThreadMessage.kind == "reply",
                    Conversation.subscriber_id.in_(self.subs),
                )
            ):
                assert row_chat == conv_chat == self.reply_chat[line.text]
                task = s.get(Task, line.task_id)
                assert task is not None and task.conversation_id == line.conversation_id

    @invariant()
    def every_patient_message_in_exactly_one_episode(self) -> None:
        with self.factory() as s:
            lines = s.execute(
                select(ThreadMessage, Conversation.subscriber_id)
                .join(Conversation, Conversation.id == ThreadMessage.conversation_id)
                .where(ThreadMessage.direction == "in", Conversation.subscriber_id.in_(self.subs))
            ).all()
            assert {line.id for line, _ in lines} == set(self.expected_in)
            for line, sub_id in lines:
                assert line.task_id == self.expected_in[line.id]
                task = s.get(Task, line.task_id)
                assert task is not None and task.subscriber_id == sub_id
                assert task.conversation_id == line.conversation_id
            counts = dict(
                s.execute(
                    select(ThreadMessage.task_id, func.count())
                    .where(ThreadMessage.direction == "in", ThreadMessage.task_id.in_(self.tasks))
                    .group_by(ThreadMessage.task_id)
                ).all()
            )
            for task_id in self.tasks:
                task = s.get(Task, task_id)
                assert task is not None and task.message_count == counts.get(task_id, 0)
            # At most one open episode per thread, and it is the one the model expects.
            for sub_id in self.subs:
                open_ids = list(
                    s.scalars(
                        select(Task.id).where(
                            Task.subscriber_id == sub_id, Task.state.in_(OPEN_STATES)
                        )
                    )
                )
                expected = self.open_task[sub_id]
                assert open_ids == ([expected] if expected is not None else [])


Conversations.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestConversations = Conversations.TestCase
