"""The runner as `kabinet run` starts it: threads, the scheduler, the single-runner lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from filelock import Timeout

from jobs.lock import RunnerLock
from jobs.runner import Appliance
from jobs.table import JOBS
from tests.conftest import Wired, make_config


def test_every_job_names_a_method_and_a_valid_interval(tmp_path: Path) -> None:
    config = make_config(tmp_path, mis={"poll_seconds": 7})
    for spec in JOBS:
        assert callable(getattr(Appliance, spec.method)), spec.id
        assert spec.interval(config) > 0
    assert next(s for s in JOBS if s.id == "mis_sync").interval(config) == 7


def test_running_appliance_answers_a_patient_through_its_own_threads(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.start()
    user = emu.create_user(first_name="Анна")
    emu.send_text(user["id"], "/start")
    welcome = emu.wait_for_messages(user["id"], 1, timeout=15)[0]
    assert "Поделиться номером" in welcome["text"]
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
