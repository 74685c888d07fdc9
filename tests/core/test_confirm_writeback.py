"""The patient's Confirm, end to end on the demo clinic: the press in Telegram (the real
pyTelegramBotAPI over the Bot API emulator) records it, the runner's job writes it into
the demo MIS's Receptions.IsNotified, the next sync makes nothing of it; and the [mis]
keys `kabinet config check` validates. The engines' own tests:
tests/connectors/contract/test_confirm_writeback.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import ConfigError
from core.db import make_engine, session_factory
from core.migrate import upgrade
from core.models import Appointment, DomainEvent
from core.visits.models import MisWriteback
from jobs.runner import Appliance
from jobs.table import JOBS
from sandbox.demo_clinic import DemoClinic
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN, Wired, make_config
from tests.e2e.flows import confirm_reminder, connect

pytestmark = pytest.mark.clock


@pytest.fixture
def wired_writeback(
    tmp_path: Path, emulator: TelegramEmulator, demo_clinic: DemoClinic
) -> Iterator[Wired]:
    staff = emulator.create_user(first_name="Ольга")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff["id"]])
    cfg = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url, "staff_chat_id": staff_chat},
        messaging={"reminder_send_at": "00:00"},
        mis={"write_back_confirmations": True, "write_dsn": str(tmp_path / "clinic.sqlite3")},
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    appliance = Appliance(cfg, factory=session_factory(engine))
    yield Wired(appliance, emulator, cfg, staff_chat)
    appliance.stop()
    engine.dispose()


def _is_notified(path: str, visit: str) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT IsNotified FROM Receptions WHERE ID = ?", (int(visit),))
        return int(row.fetchone()[0])


def test_the_press_is_written_back_by_the_job_and_the_sync_sees_nothing(
    wired_writeback: Wired,
) -> None:
    wired = wired_writeback
    appliance = wired.appliance
    assert appliance.sync_job() is not None  # the initial import
    chat = connect(wired, "anna", "Анна")
    appointment_id = confirm_reminder(wired, chat)
    with appliance.factory() as s:
        appt = s.get(Appointment, appointment_id)
        visit = appt.mis_id
        assert appt.confirmation == "confirmed"
        # The press itself queued nothing and wrote nothing: the job does.
        assert s.scalars(select(MisWriteback)).all() == []
    assert _is_notified(wired.config.mis.dsn, visit) == 0

    (spec,) = [j for j in JOBS if j.id == "mis_confirm_writeback"]
    assert spec.enabled(wired.config)
    report = appliance.function(spec)()
    assert report.written == 1
    assert _is_notified(wired.config.mis.dsn, visit) == 1
    with appliance.factory() as s:
        events_before = s.scalars(select(DomainEvent.id)).all()
    appliance.sync_job()
    with appliance.factory() as s:
        news = s.scalars(
            select(DomainEvent).where(
                DomainEvent.id.not_in(events_before), DomainEvent.subject == visit
            )
        ).all()
        assert news == []
        (row,) = s.scalars(select(MisWriteback)).all()
        assert (row.state, row.attempts, row.column) == ("done", 1, "Receptions.IsNotified")
    assert appliance.function(spec)().written == 0


def test_write_back_needs_a_write_dsn(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mis\.write_dsn = ''"):
        make_config(tmp_path, mis={"write_back_confirmations": True})


def test_the_write_account_is_not_the_read_one(tmp_path: Path) -> None:
    dsn = "mysql://kabinet_ro@db:3306/opendental"
    with pytest.raises(ConfigError, match="stays read-only"):
        make_config(
            tmp_path,
            mis={
                "profile": "opendental",
                "dsn": dsn,
                "write_back_confirmations": True,
                "write_dsn": dsn,
            },
        )


def test_a_profile_without_a_column_is_refused_unless_an_override_names_one(
    tmp_path: Path,
) -> None:
    keys = {
        "profile": "infodent",
        "dsn": "firebird://KABINET_RO@db/infodent",
        "write_back_confirmations": True,
        "write_dsn": "firebird://KABINET_RW@db/infodent",
    }
    with pytest.raises(ConfigError, match="'infodent' profile has no column"):
        make_config(tmp_path, mis=keys)
    override = tmp_path / "over.toml"
    override.write_text(
        '[confirm]\ncolumn = "SCHEDULE.CONFIRMED"\n'
        'sql = "UPDATE SCHEDULE SET CONFIRMED = 1 WHERE SCHEDID = {visit_id}"\n',
        encoding="utf-8",
    )
    cfg = make_config(tmp_path, mis={**keys, "profile_overrides": str(override)})
    assert cfg.mis.write_back_confirmations is True
    # A [confirm] that could touch more than its visit's row is refused.
    override.write_text(
        '[confirm]\ncolumn = "SCHEDULE.CONFIRMED"\nsql = "UPDATE SCHEDULE SET CONFIRMED = 1"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"\{visit_id\} once"):
        make_config(tmp_path, mis={**keys, "profile_overrides": str(override)})


def test_off_by_default(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    assert cfg.mis.write_back_confirmations is False and cfg.mis.write_dsn == ""
    (spec,) = [j for j in JOBS if j.id == "mis_confirm_writeback"]
    assert not spec.enabled(cfg)
