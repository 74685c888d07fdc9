"""The rule that sends the chosen template before a patient's first visit: once per
patient, not to one who has been before, not without a chat, off when nothing is chosen."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.documents import rules, templates
from core.documents.models import DocumentRequest
from core.models import Appointment, OutboxMessage, Patient, PatientLink, Subscriber
from tests.conftest import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, documents={"code_in_chat": True})


def patient(s, mis_id: str, chat: int | None, visits: list[tuple[int, str]]) -> None:  # type: ignore[no-untyped-def]
    s.add(
        Patient(
            mis_id=mis_id,
            last_name="Орлова",
            first_name=mis_id,
            birth_date=date(1990, 1, 1),
            phones=["+79155557788"],
        )
    )
    if chat is not None:
        sub = Subscriber(telegram_user_id=chat, chat_id=chat)
        s.add(sub)
        s.flush()
        s.add(PatientLink(subscriber_id=sub.id, patient_mis_id=mis_id, phone="+79155557788"))
    for n, (days, status) in enumerate(visits):
        at = utcnow() + timedelta(days=days)
        s.add(
            Appointment(
                mis_id=f"{mis_id}-{n}",
                patient_mis_id=mis_id,
                starts_at=at,
                ends_at=at + timedelta(hours=1),
                status=status,
            )
        )


def test_the_contract_goes_once_before_a_first_visit(factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        patient(s, "new", 601, [(3, "scheduled")])
        patient(s, "returning", 602, [(-30, "completed"), (2, "scheduled")])
        patient(s, "far", 603, [(30, "scheduled")])  # beyond request_days: later
        patient(s, "no-chat", None, [(1, "scheduled")])
        contract, _ = templates.save(
            s,
            None,
            title="Договор",
            body="<p>{{ФИО}}, визит {{дата_визита}}</p>",
            pep_allowed=True,
            who="Ольга",
            now=utcnow(),
        )
        assert rules.send_before_first_visit(s, config, utcnow()) == 0  # nothing chosen: off
        rules.choose_first_visit_template(s, contract.id)
    with transaction(factory) as s:
        assert rules.send_before_first_visit(s, config, utcnow()) == 1
    with transaction(factory) as s:
        assert rules.send_before_first_visit(s, config, utcnow()) == 0  # once per patient
        sent = s.scalars(select(DocumentRequest)).all()
        assert [(r.patient_mis_id, r.created_by) for r in sent] == [("new", rules.WHO)]
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "file"))
        assert row is not None and row.chat_id == 601


def test_a_template_not_marked_for_a_pep_is_never_sent_by_the_rule(factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        patient(s, "new", 601, [(3, "scheduled")])
        consent, _ = templates.save(
            s,
            None,
            title="ИДС",
            body="<p>{{ФИО}}</p>",
            pep_allowed=False,
            who="Ольга",
            now=utcnow(),
        )
        rules.choose_first_visit_template(s, consent.id)
        assert rules.first_visit_template(s) is None
        assert rules.send_before_first_visit(s, config, utcnow()) == 0
