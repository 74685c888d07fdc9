"""Care instructions end to end: the owner turns one on in the panel, the demo clinic
completes Anna's visit, and her chat gets the instruction after its delay — and at once
when she asks for it. A completion before the visit's start is not believed: nothing goes,
and «Доставка» shows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.models import Appointment, CareInstruction, OutboxMessage
from sandbox.demo_clinic import persona
from tests.conftest import Persona, Wired
from tests.e2e.flows import appointment_mis_id, confirm_reminder, connect

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def test_a_completed_visit_brings_its_care_instruction_after_the_delay(
    wired: Wired, demo_clinic, app_for, clock
) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    emu.send_text(chat, "📋 Рекомендации")
    assert wired.wait_messages(chat, len(emu.messages(chat)) + 1)[-1]["text"] == (
        "Рекомендаций после ваших недавних визитов нет."
    )

    # The owner turns on the example for fillings (it matches «кариес» too).
    owner = Persona(app_for(wired.config).test_client(), "owner")
    with appliance.factory() as s:
        filling = s.scalar(
            select(CareInstruction).where(CareInstruction.title == "После пломбирования")
        )
    assert filling is not None and not filling.enabled and filling.delay_minutes == 30
    assert owner.post(f"/care/{filling.id}/toggle").status_code == 302

    # Tomorrow's visit («Лечение кариеса (глубокий)») is confirmed; the next day, after
    # its start, she comes and is treated.
    appointment_id = confirm_reminder(wired, chat)
    visit = appointment_mis_id(wired, appointment_id)
    with appliance.factory() as s:
        starts_at = s.get(Appointment, appointment_id).starts_at
    clock.set(starts_at + timedelta(minutes=40))
    seen = len(emu.messages(chat))
    demo_clinic.arrive(visit)
    demo_clinic.complete(visit)
    appliance.sync_job()

    with appliance.factory() as s:
        queued = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "care")).all()
    assert [m.state for m in queued] == ["pending"]
    assert queued[0].key.startswith(f"care:{visit}:{filling.id}:")
    delay = queued[0].due_at - utcnow()
    assert timedelta(minutes=29) < delay <= timedelta(minutes=30)

    # Not before the delay.
    for _ in range(3):
        appliance.dispatcher.dispatch_once()
    assert len(emu.messages(chat)) == seen

    # Asked for, it is shown at once.
    emu.send_text(chat, "📋 Рекомендации")
    shown = wired.wait_messages(chat, seen + 1)[-1]["text"]
    assert shown.startswith("Визит ") and "После пломбирования" in shown
    assert "После установки пломбы" in shown

    # Half an hour later the dispatcher finds it due and Anna's chat gets it.
    clock.advance(timedelta(minutes=31))
    notice = wired.wait_messages(chat, seen + 2)[-1]["text"]
    assert notice.startswith("Анна Сергеевна, рекомендации после визита сегодня")
    assert "После пломбирования\n\nПосле установки пломбы:" in notice

    # Another read of the MIS, or a repeated event, sends nothing more.
    appliance.sync_job()
    for _ in range(3):
        appliance.dispatcher.dispatch_once()
    assert len(emu.messages(chat)) == seen + 2
    with appliance.factory() as s:
        assert s.scalar(select(OutboxMessage.state).where(OutboxMessage.kind == "care")) == "sent"


def test_a_visit_completed_before_its_start_is_not_believed(
    wired: Wired, demo_clinic, app_for
) -> None:  # type: ignore[no-untyped-def]
    """The MIS completes tomorrow's visit today: no care instruction, no welcome, nothing
    «после визита завтра»; the event is kept and shown on «Доставка»."""
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    owner = Persona(app_for(wired.config).test_client(), "owner")
    with appliance.factory() as s:
        filling = s.scalar(
            select(CareInstruction).where(CareInstruction.title == "После пломбирования")
        )
    assert owner.post(f"/care/{filling.id}/toggle").status_code == 302

    visit = appointment_mis_id(wired, confirm_reminder(wired, chat))
    seen = len(emu.messages(chat))
    demo_clinic.arrive(visit)
    demo_clinic.complete(visit)
    appliance.sync_job()
    for _ in range(3):
        appliance.dispatcher.dispatch_once()
    assert len(emu.messages(chat)) == seen
    with appliance.factory() as s:
        kinds = set(s.scalars(select(OutboxMessage.kind)))
    assert not kinds & {"care", "arrival"}

    page = owner.get("/delivery/").get_data(as_text=True)
    # (One read saw it completed: the sync records the completion, not the arrival too.)
    assert f'data-visit="{visit}" data-kind="appointment.completed"' in page
    assert "Не может быть" in page and "Иванова Анна Сергеевна" in page
