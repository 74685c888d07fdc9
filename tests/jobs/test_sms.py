"""SMS fallback through SMS.ru's HTTP API (a local stand-in that speaks it): reminders
only, only for patients with no working bot chat, and never marketing."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core import campaigns, outbox
from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, OutboxMessage
from core.reminders import plan_reminders_in_batches
from jobs.dispatcher import Dispatcher
from jobs.transports import SmsRuTransport, TelegramTransport
from sandbox.sms import SmsRuEmulator
from tests.conftest import make_config
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

API_ID = "1A2B3C4D-TEST-KABINET"


@pytest.fixture
def smsru() -> Iterator[SmsRuEmulator]:
    with SmsRuEmulator([API_ID]) as emu:
        yield emu


def _config(tmp_path: Path, smsru: SmsRuEmulator, **messaging):  # type: ignore[no-untyped-def]
    return make_config(
        tmp_path,
        clinic={"phone": "+7 495 123-45-67", "name": "Улыбка"},
        messaging={
            "sms_enabled": True,
            "sms_api_url": smsru.url,
            "sms_api_id": API_ID,
            "reminder_send_at": "00:00",
            **messaging,
        },
    )


def _tomorrow_visit(s, mis_id: str, patient_id: str, tz) -> None:  # type: ignore[no-untyped-def]
    start = datetime.combine(
        utcnow().astimezone(tz).date() + timedelta(days=1), datetime.min.time(), tzinfo=tz
    )
    start = start.replace(hour=10)
    s.add(
        Appointment(
            mis_id=mis_id,
            patient_mis_id=patient_id,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
        )
    )


def _dispatcher(config, factory, smsru: SmsRuEmulator) -> Dispatcher:  # type: ignore[no-untyped-def]
    telegram = TelegramTransport(None)  # type: ignore[arg-type]  # no Telegram message here
    sms = SmsRuTransport(smsru.url, API_ID)
    return Dispatcher(factory, telegram, config, sms=sms, rng=random.Random(2), backoff_base=0.05)


def _drain(dispatcher: Dispatcher, until, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "dispatcher did not settle"
        dispatcher.dispatch_once()
        time.sleep(0.05)


def _states(factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {m.key: m.state for m in s.scalars(select(OutboxMessage))}


def test_only_patients_without_a_working_chat_get_reminders_by_sms(
    tmp_path: Path, factory, smsru
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, smsru)
    tz = config.clinic.tz
    with transaction(factory) as s:
        patient(s, "sms", first="Пётр", middle="Ильич", phones=["+79161234567"])
        chat_for(s, patient(s, "bot", phones=["+79160000001"]))
        chat_for(s, patient(s, "blocked", phones=["+79160000002"]), unreachable=True)
        patient(s, "refused", phones=["+79160000003"], allowed=False)
        patient(s, "nophone")
        for mis_id in ("sms", "bot", "blocked", "refused", "nophone"):
            _tomorrow_visit(s, f"v-{mis_id}", mis_id, tz)
    assert plan_reminders_in_batches(factory, config) == 3
    with factory() as s:
        rows = {m.patient_mis_id: m for m in s.scalars(select(OutboxMessage))}
    assert {k: v.channel for k, v in rows.items()} == {
        "sms": "sms",
        "bot": "telegram",
        "blocked": "sms",
    }
    assert rows["sms"].phone == "+79161234567" and rows["sms"].reply_markup is None
    assert rows["sms"].text.startswith("Пётр Ильич, напоминаем о визите завтра")
    assert rows["sms"].text.endswith("Улыбка, +7 495 123-45-67")


def test_sms_are_delivered_once_through_gateway_errors(tmp_path: Path, factory, smsru) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, smsru)
    tz = config.clinic.tz
    with transaction(factory) as s:
        patient(s, "a", phones=["+79161234567"])
        patient(s, "b", phones=["+79167654321"])
        for mis_id in ("a", "b"):
            _tomorrow_visit(s, f"v-{mis_id}", mis_id, tz)
    plan_reminders_in_batches(factory, config)
    smsru.inject_fault(220, count=1)  # "temporarily unavailable"
    smsru.inject_fault(500, count=1)  # the gateway itself fails
    dispatcher = _dispatcher(config, factory, smsru)
    _drain(dispatcher, lambda: set(_states(factory).values()) == {"sent"})
    assert len(smsru.messages_to("+79161234567")) == 1
    assert len(smsru.messages_to("+79167654321")) == 1
    with factory() as s:
        attempts = sorted(m.attempts for m in s.scalars(select(OutboxMessage)))
    assert sum(attempts) == 4  # two faults, each retried once


def test_a_number_the_gateway_refuses_is_given_up_at_once(tmp_path: Path, factory, smsru) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, smsru)
    with transaction(factory) as s:
        patient(s, "bad", phones=["+12025550123"])  # no route: not a Russian mobile
        _tomorrow_visit(s, "v-bad", "bad", config.clinic.tz)
    plan_reminders_in_batches(factory, config)
    dispatcher = _dispatcher(config, factory, smsru)
    _drain(dispatcher, lambda: set(_states(factory).values()) == {"failed"})
    with factory() as s:
        bad = s.scalars(select(OutboxMessage)).one()
    assert bad.attempts == 1 and "SMS.ru 202" in bad.last_error  # retrying cannot help
    assert smsru.sent == [] and smsru.requests == 1


def test_a_wrong_api_key_is_retried_then_given_up(tmp_path: Path, factory, smsru) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, smsru, max_attempts=3)
    with transaction(factory) as s:
        patient(s, "a", phones=["+79161234567"])
        _tomorrow_visit(s, "v-a", "a", config.clinic.tz)
    plan_reminders_in_batches(factory, config)
    dispatcher = _dispatcher(config, factory, smsru)
    dispatcher.sms = SmsRuTransport(smsru.url, "WRONG-KEY")
    _drain(dispatcher, lambda: set(_states(factory).values()) == {"failed"})
    with factory() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert row.attempts == 3 and "wrong api_id" in row.last_error
    assert smsru.sent == []


def test_mailings_never_go_by_sms(tmp_path: Path, factory, smsru) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, smsru)
    with transaction(factory) as s:
        with pytest.raises(ValueError, match="never go by SMS"):
            outbox.enqueue(
                s,
                key="c",
                chat_id=0,
                phone="+79161234567",
                text="sale",
                kind="campaign",
                channel="sms",
            )
        patient(s, "nochat", phones=["+79161234567"])
        campaigns.create_campaign(s, title="t", text="sale", segment="all", created_by="o")
    assert campaigns.advance(factory, config).queued == 0
    with factory() as s:
        assert s.scalars(select(OutboxMessage)).all() == []
