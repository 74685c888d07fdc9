"""Care instructions after treatment: which visits they match, once per visit and chat,
after their delay, never to a patient the MIS marks "no messages"."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core import care
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.models import (
    Appointment,
    CareInstruction,
    CareSent,
    Doctor,
    DomainEvent,
    OutboxMessage,
)
from core.rules import Rules
from tests.conftest import WallClock
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

_events = count(1)


def _instruction(s: Session, title: str, *, services: str = "", specialties: str = "",
                 delay: int = 30, enabled: bool = True) -> CareInstruction:  # fmt: skip
    row = CareInstruction(
        title=title,
        text=f"{title}: не ешьте 2 часа, не пейте горячего.",
        services=services,
        specialties=specialties,
        delay_minutes=delay,
        enabled=enabled,
    )
    s.add(row)
    s.flush()
    return row


def _completed(
    s: Session,
    visit: str,
    patient_id: str,
    *,
    services: list[str] | None = None,
    doctor: str = "surgeon",
    ended_ago: timedelta = timedelta(minutes=5),
) -> DomainEvent:
    """A visit the MIS has just marked completed, and the event the sync produced."""
    end = utcnow() - ended_ago
    s.add(
        Appointment(
            mis_id=visit,
            patient_mis_id=patient_id,
            doctor_mis_id=doctor,
            starts_at=end - timedelta(minutes=60),
            ends_at=end,
            status="completed",
            services=services or [],
        )
    )
    return _event(s, visit, patient_id)


def _event(s: Session, visit: str, patient_id: str) -> DomainEvent:
    event = DomainEvent(
        key=f"appointment.completed:{visit}:{next(_events)}",
        kind="appointment.completed",
        subject=visit,
        payload={"patient_mis_id": patient_id, "status": "completed"},
        created_at=utcnow(),
    )
    s.add(event)
    s.flush()
    return event


def _doctors(s: Session) -> None:
    s.add(Doctor(mis_id="surgeon", full_name="Смирнов А. В.", specialty="Стоматолог-хирург"))
    s.add(Doctor(mis_id="hygienist", full_name="Орлова Е. Н.", specialty="Гигиенист"))


def _care(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as s:
        return list(
            s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "care")
                .order_by(OutboxMessage.key)
            )
        )


def test_the_examples_are_there_and_off(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        rows = list(s.scalars(select(CareInstruction).order_by(CareInstruction.id)))
    titles = [r.title for r in rows]
    assert titles == [
        "После удаления зуба",
        "После профессиональной гигиены",
        "После пломбирования",
        "После имплантации",
    ]
    assert not any(r.enabled for r in rows)
    assert all(len(r.text) <= care.MAX_TEXT and r.delay_minutes == 30 for r in rows)


def _clinic_day_at(config: Config, hour: int, minute: int = 0) -> datetime:
    """Today's date (the frozen instant's in a rerun) in the clinic's zone, at this hour:
    the wording «сегодня» or a date depends on the clinic's day, not on when CI runs."""
    zone = ZoneInfo(config.clinic.timezone)
    return datetime.combine(utcnow().astimezone(zone).date(), time(hour, minute), zone)


def test_a_matching_visit_gets_its_instruction_in_every_chat_after_the_delay(
    config: Config, factory: sessionmaker[Session], clock: WallClock
) -> None:
    clock.set(_clinic_day_at(config, 12))
    with transaction(factory) as s:
        _doctors(s)
        anna = patient(s, "p1")
        phone, tablet = chat_for(s, anna), chat_for(s, anna)
        extraction = _instruction(s, "После удаления зуба", services="удален", delay=45)
        _instruction(s, "После имплантации", services="имплант")  # does not match
        _instruction(s, "Отключённая", services="удален", enabled=False)
        # The seeded examples match too, but are off.
        event = _completed(s, "v1", "p1", services=["Удаление зуба простое", "Анестезия"])
        noticed = event.created_at
        ids = (extraction.id, phone.id, tablet.id, phone.chat_id, tablet.chat_id)
    Rules(config).process_pending(factory)

    rows = _care(factory)
    extraction_id, phone_id, tablet_id, phone_chat, tablet_chat = ids
    assert [r.key for r in rows] == sorted(
        [f"care:v1:{extraction_id}:{phone_id}", f"care:v1:{extraction_id}:{tablet_id}"]
    )
    assert {r.chat_id for r in rows} == {phone_chat, tablet_chat}
    for row in rows:
        assert row.due_at == noticed + timedelta(minutes=45)
        assert row.respect_quiet_hours and row.patient_mis_id == "p1"
        assert row.text.startswith("Анна Сергеевна, рекомендации после визита сегодня")
        assert "После удаления зуба: не ешьте 2 часа" in row.text
    with factory() as s:
        kept = s.scalars(select(CareSent)).all()
    assert [(k.appointment_mis_id, k.instruction_id, k.title) for k in kept] == [
        ("v1", extraction_id, "После удаления зуба")
    ]


def test_no_matching_instruction_sends_nothing(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        _doctors(s)
        chat_for(s, patient(s, "p1"))
        _instruction(s, "После имплантации", services="имплант")
        _instruction(s, "Хирургу", specialties="хирург")
        _completed(s, "v1", "p1", services=["Профессиональная гигиена"], doctor="hygienist")
    Rules(config).process_pending(factory)
    assert _care(factory) == []


def test_a_visit_without_services_matches_by_specialty_or_any_visit(
    config: Config, factory: sessionmaker[Session]
) -> None:
    """Many MIS installs leave a visit's services empty: such a visit still gets the
    instructions for the doctor's specialty and those for every visit, not the ones that
    need a service."""
    with transaction(factory) as s:
        _doctors(s)
        chat_for(s, patient(s, "p1"))
        by_specialty = _instruction(s, "После хирургии", specialties="ХИРУРГ")
        every = _instruction(s, "Спасибо за визит")
        _instruction(s, "После удаления зуба", services="удален")
        _instruction(s, "Удаление у хирурга", services="удален", specialties="хирург")
        _completed(s, "v1", "p1", services=[])
        wanted = {by_specialty.id, every.id}
    Rules(config).process_pending(factory)
    assert {int(r.key.split(":")[2]) for r in _care(factory)} == wanted


def test_a_repeated_event_sends_nothing_twice(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        _doctors(s)
        chat_for(s, patient(s, "p1"))
        _instruction(s, "После удаления зуба", services="удален")
        _completed(s, "v1", "p1", services=["Удаление зуба мудрости"])
    rules = Rules(config)
    rules.process_pending(factory)
    assert len(_care(factory)) == 1
    # The MIS reopens and closes the visit again: a second completion of the same visit.
    with transaction(factory) as s:
        _event(s, "v1", "p1")
    assert rules.process_pending(factory) == 1
    assert len(_care(factory)) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CareSent)) == 1


def test_no_messages_flag_and_unreachable_chats_are_respected(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        _doctors(s)
        refused = patient(s, "p1", allowed=False)
        chat_for(s, refused)
        boris = patient(s, "p2", first="Борис", middle="Ильич")
        blocked = chat_for(s, boris, unreachable=True)
        working = chat_for(s, boris)
        _instruction(s, "После удаления зуба", services="удален")
        _completed(s, "v1", "p1", services=["Удаление зуба простое"])
        _completed(s, "v2", "p2", services=["Удаление зуба простое"])
        chats = (blocked.chat_id, working.chat_id)
    Rules(config).process_pending(factory)
    rows = _care(factory)
    assert [(r.patient_mis_id, r.chat_id) for r in rows] == [("p2", chats[1])]
    with factory() as s:
        # Nothing is kept for the patient who refused messages either.
        assert [k.patient_mis_id for k in s.scalars(select(CareSent))] == ["p2"]


def test_a_visit_that_ended_before_midnight_is_named_by_its_date(
    config: Config, factory: sessionmaker[Session], clock: WallClock
) -> None:
    # Noticed at 00:10, the visit of 22:30-23:30 was yesterday: «сегодня» would be wrong.
    clock.set(_clinic_day_at(config, 0, 10))
    with transaction(factory) as s:
        _doctors(s)
        chat_for(s, patient(s, "p1"))
        _instruction(s, "После удаления зуба", services="удален", delay=0)
        _completed(s, "v1", "p1", services=["Удаление зуба"], ended_ago=timedelta(minutes=40))
    Rules(config).process_pending(factory)
    [row] = _care(factory)
    visit = clock().astimezone(ZoneInfo(config.clinic.timezone)) - timedelta(minutes=100)
    assert "сегодня" not in row.text and "вчера" not in row.text
    assert f"{visit.day} " in row.text and "в 22:30" in row.text


def test_a_completion_learned_of_days_later_sends_nothing(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        _doctors(s)
        chat_for(s, patient(s, "p1"))
        _instruction(s, "После удаления зуба", services="удален")
        _completed(s, "v1", "p1", services=["Удаление зуба"], ended_ago=timedelta(days=2))
    Rules(config).process_pending(factory)
    assert _care(factory) == []


def test_matching_ignores_case_and_yo() -> None:
    row = CareInstruction(title="t", text="x", services="Удаление; A16.07.001", specialties="")
    assert care.matches(row, ["УДАЛЕНИЕ ЗУБА"], "")
    assert care.matches(row, ["a16.07.001.002"], "")
    assert not care.matches(row, ["Пломба"], "Стоматолог-хирург")
    hygiene = CareInstruction(title="t", text="x", services="", specialties="Терапёвт, гигиен")
    assert care.matches(hygiene, [], "Стоматолог-терапевт")
    assert not care.matches(hygiene, [], "")


def test_the_form_explains_what_is_wrong() -> None:
    ok = care.check_form({"title": "После удаления", "text": "Не ешьте 2 часа.", "enabled": "1"})
    assert ok.errors == [] and ok.delay_minutes == 30 and ok.enabled
    empty = care.check_form({"title": "После удаления", "text": "   "})
    assert empty.errors == ["Текст рекомендации пуст — напишите, что делать пациенту."]
    long = care.check_form({"title": "t", "text": "ж" * 4097})
    assert len(long.errors) == 1 and "4097 символов" in long.errors[0]
    assert "4096" in long.errors[0]
    # Room is left for the greeting and the title: the limit is below Telegram's own.
    assert care.check_form({"title": "t", "text": "ж" * care.MAX_TEXT}).errors == []
    assert care.check_form({"title": "t", "text": "ж" * (care.MAX_TEXT + 1)}).errors
    titled = {"title": "т" * 200, "text": "ж" * care.MAX_TEXT}
    assert "не длиннее 3695 символов" in care.check_form(titled).errors[0]
    word = care.check_form({"title": "t", "text": "x", "delay_minutes": "полчаса"})
    assert word.errors == ["Задержка «полчаса» — не число. Укажите целое число минут, например 30."]
    negative = care.check_form({"title": "t", "text": "x", "delay_minutes": "-5"})
    assert negative.errors and "от 0 до 10080" in negative.errors[0]
    assert care.check_form({"title": "", "text": "x"}).errors[0].startswith("Укажите название")


def test_the_longest_allowed_text_fits_in_one_telegram_message() -> None:
    title = "т" * 200
    text = care.message_text(
        "ru", "Анна-Мария Александра Константиновна-Оглы", "послезавтра, 27 сентября, в 10:00",
        title, "ж" * care.max_text(title), "Улыбка",
    )  # fmt: skip
    assert len(text) <= care.TELEGRAM_LIMIT and text.endswith("ж")
    # An absurd name is cut rather than refused by Telegram.
    cut = care.message_text("ru", "Я" * 500, "сегодня", title, "ж" * care.max_text(title), "")
    assert len(cut) == care.TELEGRAM_LIMIT and cut.endswith("…")
