"""Restarts in the middle of a 2,000-message campaign, with the runner in a child process.

The emulator (this process) enforces Telegram's limits (the overall one raised: the limit
is not the subject) and answers a fifth of the sends slowly, so kills land while requests
are on the wire. A SIGKILL, then a SIGTERM, then a run to the end: no chat may receive the
campaign twice, every recipient must be accounted for, and the only messages not known to
be delivered are the few a SIGKILL caught mid-request, which are held, never resent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select

from core.campaigns import create_campaign
from core.clock import utcnow
from core.db import transaction
from core.models import Campaign, OutboxMessage, Patient, PatientLink, Subscriber
from sandbox.demo_clinic import build_demo_clinic
from tests.conftest import TOKEN, clinic_now

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 2000
WORKERS = 16


def _toml(sections: dict[str, dict[str, object]]) -> str:
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        f"[{name}]\n" + "\n".join(f"{k} = {value(v)}" for k, v in values.items()) + "\n"
        for name, values in sections.items()
    )


def _start(config_path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.child_appliance", str(config_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _wait(until: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_kill_and_restart_mid_campaign_sends_nothing_twice_and_loses_nobody(
    tmp_path: Path,
    emulator,
    factory,  # type: ignore[no-untyped-def]
) -> None:
    emulator.global_per_second = 300
    now = utcnow()
    chats = []
    for i in range(RECIPIENTS):
        user = emulator.create_user(first_name=f"Пациент{i}")
        emulator.send_text(user["id"], "/start")
        chats.append(int(user["id"]))
    with transaction(factory) as s:
        s.execute(
            insert(Patient),
            [
                {"mis_id": f"r{i}", "last_name": "Тестов", "first_name": f"Имя{i}", "phones": []}
                for i in range(RECIPIENTS)
            ],
        )
        s.execute(
            insert(Subscriber),
            [
                {
                    "telegram_user_id": chat,
                    "chat_id": chat,
                    "consent_at": now,
                    "consent_version": "t",
                }
                for chat in chats
            ],
        )
        ids = dict(s.execute(select(Subscriber.chat_id, Subscriber.id)).all())
        s.execute(
            insert(PatientLink),
            [
                {"subscriber_id": ids[chat], "patient_mis_id": f"r{i}", "phone": ""}
                for i, chat in enumerate(chats)
            ],
        )
        # The runner in the child expands it into the outbox, then sends it.
        campaign = create_campaign(
            s, title="Акция", text="{name}, у нас акция!", segment="all", created_by="test"
        )
        campaign_id = campaign.id

    data_dir = Path(factory.kw["bind"].url.database).parent
    build_demo_clinic(tmp_path / "clinic.sqlite3", patients=10, seed=3, now=clinic_now())
    config_path = tmp_path / "child.toml"
    config_path.write_text(
        _toml(
            {
                "clinic": {"name": "Тест", "timezone": "Europe/Moscow"},
                "storage": {"data_dir": str(data_dir)},
                "telegram": {"token": TOKEN, "api_url": emulator.url},
                "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3")},
                "messaging": {
                    "quiet_hours_start": "00:00",
                    "quiet_hours_end": "00:00",
                    "global_per_second": 200,
                    "send_workers": WORKERS,
                },
            }
        )
    )
    # A tenth of the sends take 0.3 s before Telegram takes them: kills land mid-request.
    emulator.inject_fault("slow", count=None, probability=0.1, delay=0.3, seed=11)

    def delivered() -> int:
        return int(emulator.stats()["messages_sent"])

    def states() -> dict[str, int]:
        with factory() as s:
            return dict(
                s.execute(
                    select(OutboxMessage.state, func.count())
                    .where(OutboxMessage.campaign_id == campaign_id)
                    .group_by(OutboxMessage.state)
                ).all()
            )

    # 1. Killed without warning a fifth of the way in.
    child = _start(config_path)
    _wait(lambda: delivered() >= RECIPIENTS // 5, 60, "the first 400 messages")
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    after_kill = states()
    assert after_kill.get("sending", 0) <= WORKERS  # at most one request per sender

    # 2. Started again, then stopped properly at about 60 %.
    child = _start(config_path)
    _wait(lambda: delivered() >= RECIPIENTS * 3 // 5, 60, "60 % of the campaign")
    child.send_signal(signal.SIGTERM)
    assert child.wait(40) == 0
    after_term = states()
    # A graceful stop leaves nothing half-way: no claims, no request without its answer.
    assert after_term.get("claimed", 0) == 0 and after_term.get("sending", 0) == 0
    # What the kill caught mid-request was found at the restart and held.
    held = after_term.get("unknown", 0)
    assert held == after_kill.get("sending", 0)

    # 3. And to the end.
    child = _start(config_path)
    _wait(
        lambda: set(states()) <= {"sent", "unknown"} and sum(states().values()) == RECIPIENTS,
        120,
        "the campaign to finish",
    )
    child.send_signal(signal.SIGTERM)
    assert child.wait(40) == 0

    final = states()
    assert final == {"sent": RECIPIENTS - held, **({"unknown": held} if held else {})}
    received = {chat: len(emulator.messages(chat)) for chat in chats}
    # Nobody got the campaign twice...
    assert max(received.values()) == 1
    with factory() as s:
        rows = {m.chat_id: m.state for m in s.scalars(select(OutboxMessage))}
        assert s.scalar(select(Campaign.recipients).where(Campaign.id == campaign_id)) == RECIPIENTS
    # ...everyone recorded as sent has it exactly once, and every message Telegram took is
    # accounted for: sent, or held as unknown (those the kill caught after Telegram took
    # them, which is why they are not resent).
    assert all(received[chat] == 1 for chat, state in rows.items() if state == "sent")
    assert all(rows[chat] in ("sent", "unknown") for chat, n in received.items() if n)
    assert len(rows) == RECIPIENTS
