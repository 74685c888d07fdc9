"""Escalation can be switched off; an MIS that stops answering is noticed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.health import check_stale, mis_health, record_mis_ok
from core.models import OutboxMessage
from core.tasks import create_task, escalate_stale
from tests.conftest import make_config

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

STAFF = -4_000_000_001


# An untaken task's alert, counted in working time, edits its post and pings the managers
# once: tests/core/test_staff_group.py.


def test_escalation_can_be_switched_off(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path, telegram={"staff_chat_id": STAFF}, messaging={"task_escalate_minutes": 0}
    )
    with transaction(factory) as s:
        task = create_task(s, config, kind="message", key="a", text="x")
        task.created_at = utcnow() - timedelta(days=1)
        assert escalate_stale(s, config, utcnow()) == 0


def test_an_mis_that_stops_answering_is_an_outage_and_its_return_is_told(
    tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, telegram={"staff_chat_id": STAFF}, mis={"poll_seconds": 15})
    start = utcnow()
    record_mis_ok(factory, start, config)
    assert not check_stale(factory, config, start + timedelta(minutes=4))
    assert check_stale(factory, config, start + timedelta(minutes=6))
    assert not check_stale(factory, config, start + timedelta(minutes=7))  # already down
    with factory() as s:
        health = mis_health(s)
        alerts = [m.text for m in s.scalars(select(OutboxMessage))]
    assert health["ok"] is False and "no successful read for 6 min" in health["error"]
    assert len(alerts) == 1 and alerts[0].startswith("⚠️ МИС недоступна")
    record_mis_ok(factory, start + timedelta(minutes=8), config)
    record_mis_ok(factory, start + timedelta(minutes=9), config)
    with factory() as s:
        alerts = [m.text for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert len(alerts) == 2 and alerts[1].startswith("✅ МИС снова доступна")
