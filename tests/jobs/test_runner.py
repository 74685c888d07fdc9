"""The runner as `kabinet run` starts it: threads, the scheduler, the single-runner lock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from filelock import Timeout
from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.models import OutboxMessage
from core.outbox import enqueue
from core.visits.models import ReminderReach
from jobs import backups
from jobs.lock import RunnerLock
from jobs.runner import Appliance
from jobs.table import JOBS, JobSpec
from tests.conftest import Wired, make_config

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def test_every_row_names_a_function_and_a_valid_schedule(tmp_path: Path, wired: Wired) -> None:
    config = make_config(tmp_path, mis={"poll_seconds": 7}, messaging={"birthday_send_at": "08:30"})
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for spec in JOBS:
        assert callable(wired.appliance.function(spec)), spec.id
        if spec.thread:
            continue
        assert spec.trigger(config).get_next_fire_time(None, now) > now, spec.id
    by_id = {spec.id: spec for spec in JOBS}
    assert by_id["mis_sync"].interval(config) == 7
    assert by_id["birthdays"].crontab(config) == "30 8 * * *"
    expected = {
        "outbox_dispatcher",
        "telegram_updates",
        "mis_sync",
        "reminders",
        "ratings",
        "birthdays",
        "holidays",
        "campaigns",
        "task_escalation",
        "mis_health",
        "backup",
    }
    assert expected <= set(by_id)


@pytest.mark.parametrize("zone", ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Almaty"])
def test_cron_rows_fire_at_the_clinics_local_time(tmp_path: Path, zone: str) -> None:
    config = make_config(
        tmp_path, clinic={"timezone": zone}, messaging={"birthday_send_at": "10:15"}
    )
    by_id = {spec.id: spec for spec in JOBS}
    tz = ZoneInfo(zone)
    start = datetime(2026, 11, 25, 12, 0, tzinfo=tz)
    backup = by_id["backup"].trigger(config).get_next_fire_time(None, start)
    assert backup == datetime(2026, 11, 26, 3, 30, tzinfo=tz)
    birthdays = by_id["birthdays"].trigger(config).get_next_fire_time(None, start)
    assert birthdays == datetime(2026, 11, 26, 10, 15, tzinfo=tz)
    # The same instant in UTC differs per zone: 10:15 local is 07:15 UTC in Moscow.
    offset = tz.utcoffset(datetime(2026, 11, 26, 10, 15))
    assert birthdays.astimezone(UTC).replace(tzinfo=None) == datetime(2026, 11, 26, 10, 15) - offset


def _probe(appliance: Appliance, *args: object) -> tuple[Appliance, tuple[object, ...]]:
    return appliance, args


def test_a_row_may_name_a_module_function(wired: Wired) -> None:
    # How the loyalty engine's own jobs can join the table without an Appliance method.
    function = wired.appliance.function(JobSpec("probe", "tests.jobs.test_runner:_probe"))
    assert function() == (wired.appliance, ())
    stop = threading.Event()
    assert function(stop) == (wired.appliance, (stop,))


def test_running_appliance_answers_a_patient_through_its_own_threads(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.start()
    user = emu.create_user(first_name="Анна")
    emu.send_text(user["id"], "/start")
    consent = emu.wait_for_messages(user["id"], 1, timeout=15)[0]
    # The consent comes first (its own step); accepting it brings the request for the number.
    accept = next(
        b["callback_data"]
        for row in consent["reply_markup"]["inline_keyboard"]
        for b in row
        if b.get("callback_data", "").startswith("cs:yes:")
    )
    emu.press(user["id"], consent["message_id"], accept)
    ask = emu.wait_for_messages(user["id"], 2, timeout=15)[-1]
    assert "Поделиться номером" in ask["text"]
    appliance.stop()


def test_second_runner_is_told_and_waits(tmp_path: Path) -> None:
    first = RunnerLock(tmp_path)
    first.acquire()
    told: list[str] = []
    second = RunnerLock(tmp_path)
    with pytest.raises(Timeout):
        second.acquire(on_wait=told.append, timeout=0.5)
    assert told == [f"pid {__import__('os').getpid()}"]

    took_over = threading.Event()

    def wait_for_it() -> None:
        second.acquire(on_wait=told.append)
        took_over.set()

    threading.Thread(target=wait_for_it, daemon=True).start()
    time.sleep(0.3)
    assert not took_over.is_set()
    first.release()
    assert took_over.wait(5)
    second.release()


def test_nightly_backup_and_pruning(wired: Wired) -> None:
    appliance = wired.appliance
    path = Path(backups.nightly(appliance))
    assert path.exists() and path.parent == Path(wired.config.storage.data_dir, "backups")
    with transaction(appliance.factory) as s:
        for key, state, age in (
            ("old-sent", "sent", 200),
            ("old-pending", "pending", 200),
            ("new-sent", "sent", 1),
            ("reminder:v1:2026-03-17T07:00:00+00:00:1d:1", "sent", 200),
        ):
            kind = "reminder" if key.startswith("reminder:") else "notice"
            m = enqueue(s, key=key, chat_id=1, text="t", kind=kind)
            assert m is not None
            m.state, m.created_at = state, utcnow() - timedelta(days=age)
            m.sent_at = m.created_at if state == "sent" else None
    assert appliance.prune_job() == 2
    with appliance.factory() as s:
        assert sorted(s.scalars(select(OutboxMessage.key))) == ["new-sent", "old-pending"]
        # The reminder's reach outlives it, for «Отчёты → Подтверждение визитов».
        assert [(r.appointment_mis_id, r.messenger) for r in s.scalars(select(ReminderReach))] == [
            ("v1", True)
        ]


def test_a_mis_connection_kept_in_the_panel_is_read_from_without_a_restart(
    wired: Wired, tmp_path: Path
) -> None:
    """The owner moves the MIS on «Подключение к МИС» (its check passed): the running
    runner reads the new database at its next poll, and the file's is no longer read."""
    import shutil
    from datetime import date

    from core.models import Patient
    from core.settings import store as settings_store
    from sandbox.demo_clinic.clinic import DemoClinic

    appliance, config = wired.appliance, wired.config
    assert appliance.sync_job() is not None
    before = appliance.connector
    moved = str(tmp_path / "moved.sqlite3")
    shutil.copy(config.mis.dsn, moved)
    # Only the moved copy has this patient.
    DemoClinic(moved).add_patient("Новикова", "Вера", "Павловна", date(1990, 5, 1), "+79005550101")
    with appliance.factory() as s:
        settings_store.save(s, config, {"mis.dsn": moved}, "owner")
        s.commit()

    report = appliance.sync_job()
    assert report is not None and appliance.connector is not before
    with appliance.factory() as s:
        assert s.scalar(select(Patient).where(Patient.last_name == "Новикова")) is not None
    # Put back to the file's value: followed the same way.
    with appliance.factory() as s:
        settings_store.save(s, config, {"mis.dsn": config.mis.dsn}, "owner")
        s.commit()
    moved_connector = appliance.connector
    appliance.sync_job()
    assert appliance.connector is not moved_connector
