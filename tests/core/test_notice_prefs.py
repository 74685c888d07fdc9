"""A chat's notice settings (core.patients.notice_prefs) and a family member muted in a chat
(PatientLink.muted): the senders skip them, and a muted reminder does not become an SMS."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import delete, select

from core.db import make_engine, session_factory, transaction
from core.loyalty.accounts import account_of
from core.loyalty.notices import notify_account
from core.migrate import upgrade
from core.models import Appointment, OutboxMessage, PatientLink
from core.patients.linking import reachable_subscribers
from core.patients.notice_prefs import OPTIONAL, toggle, turned_off, wants
from core.reminders import plan_reminders
from tests.conftest import make_config
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

VISIT = datetime(2026, 3, 12, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


def _factory(tmp_path: Path, **messaging: object):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, messaging={"reminder_send_at": "12:00", **messaging})
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    return config, session_factory(engine)


def test_toggle_keeps_only_known_kinds(tmp_path: Path) -> None:
    _, factory = _factory(tmp_path)
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        assert turned_off(sub) == set() and all(wants(sub, kind) for kind in OPTIONAL)
        assert toggle(sub, "care") is False
        assert toggle(sub, "ratings") is False
        assert sub.notices_off == "ratings,care"
        assert toggle(sub, "care") is True
        assert turned_off(sub) == {"ratings"} and wants(sub, "loyalty")
        with pytest.raises(ValueError):
            toggle(sub, "reminders")  # visit reminders are not optional
        sub.notices_off = "ratings,nonsense"  # a stray word from a hand edit is ignored
        assert turned_off(sub) == {"ratings"}


def test_a_muted_member_gets_no_reminder_there_and_no_sms_instead(tmp_path: Path) -> None:
    config, factory = _factory(
        tmp_path, sms_enabled=True, sms_api_id="test-key", sms_api_url="http://127.0.0.1:9"
    )
    with transaction(factory) as s:
        son = patient(s, "p2", first="Пётр", phones=["+79160000001"])
        parent = chat_for(s, son)
        grandma = chat_for(s, son)
        s.add(
            Appointment(
                mis_id="a1",
                patient_mis_id="p2",
                starts_at=VISIT,
                ends_at=VISIT + timedelta(minutes=30),
                status="scheduled",
            )
        )
        s.flush()
        for link in s.scalars(select(PatientLink).where(PatientLink.subscriber_id == parent.id)):
            link.muted = True
        assert [sub.id for sub in reachable_subscribers(s, "p2")] == [grandma.id]
    with time_machine.travel(VISIT - timedelta(hours=22), tick=False), transaction(factory) as s:
        plan_reminders(s, config)
    with factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
        assert [(r.channel, r.chat_id) for r in rows] == [("telegram", grandma.chat_id)]
    # Muted in the grandmother's chat too: nothing at all, and still no SMS.
    with transaction(factory) as s:
        for link in s.scalars(select(PatientLink).where(PatientLink.subscriber_id == grandma.id)):
            link.muted = True
        s.execute(delete(OutboxMessage))
    with time_machine.travel(VISIT - timedelta(hours=22), tick=False), transaction(factory) as s:
        assert plan_reminders(s, config) == 0


def test_bonus_notices_skip_a_chat_that_turned_them_off(tmp_path: Path) -> None:
    config, factory = _factory(tmp_path)
    with transaction(factory) as s:
        anna = patient(s, "p1")
        quiet = chat_for(s, anna)
        loud = chat_for(s, anna)
        toggle(quiet, "loyalty")
        account = account_of(s, "p1", datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC")))
        queued = notify_account(
            s,
            config,
            account,
            "grant:1",
            "bonus_granted",
            about="p1",
            points=5,
            reason="тест",
            balance=5,
        )
        assert queued == 1
        chats = s.scalars(select(OutboxMessage.chat_id).where(OutboxMessage.kind == "bonus")).all()
        assert chats == [loud.chat_id]
