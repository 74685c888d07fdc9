"""An offer changed on «Настройки» reaches the patient through the Telegram emulator: the
arrival welcome offers the panel's choices, not the file's, and a choice is the desk's task."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import transaction
from core.settings import store
from sandbox.demo_clinic import DemoClinic, persona
from sandbox.demo_clinic.wallclock import clinic_now
from tests.conftest import Wired
from tests.e2e.flows import buttons, connect
from tests.e2e.test_visits import _book, _next, _press, _task

pytestmark = pytest.mark.clock


def test_the_arrival_welcome_offers_what_the_panel_set(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    with transaction(wired.appliance.factory) as s:
        store.save(s, wired.config, {"messaging.arrival_offer": ["Сок", "Плед"]}, "owner")
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    soon = (clinic_now() + timedelta(minutes=40)).replace(second=0, microsecond=0)
    visit = _book(demo_clinic, anna.patient_id, soon)
    wired.appliance.sync_job()
    _next(wired, chat)  # «вы записаны»
    demo_clinic.arrive(visit)
    wired.appliance.sync_job()
    welcome = _next(wired, chat)
    assert [t for t, _ in buttons(welcome)] == ["Сок", "Плед"]
    assert _press(wired, chat, welcome, "Плед")["text"] == "Сейчас принесём: Плед."
    assert _task(wired, "arrival_offer").appointment_mis_id == str(visit)
