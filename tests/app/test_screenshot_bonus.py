"""A review's screenshot decided in the panel's thread view, through its real forms: approve
credits once (two approvals, one credit), reject tells the patient and credits nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import ledger
from core.config import Config
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.loyalty import screenshots, settings
from core.models import LedgerEntry, OutboxMessage, Task
from tests.conftest import Persona
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock


def _screenshot(factory: sessionmaker[Session], config: Config, mis_id: str) -> tuple[int, int]:
    """A linked patient who pressed «Получить бонус за отзыв» and sent a photo."""
    with transaction(factory) as s:
        settings.save(s, config, {"review_bonus": 200, "bonus_screenshots": True}, "owner")
        sub = chat_for(s, patient(s, mis_id))
        assert screenshots.ask(s, config, sub, "review", f"ask:{mis_id}")
        assert screenshots.awaited(s, config, sub) == "review"
        task = screenshots.file_screenshot(
            s, config, sub, "review", Incoming(telegram_message_id=7, kind="photo", file_id="f1")
        )
        assert screenshots.awaited(s, config, sub) == ""
        return task.id, sub.chat_id


def _texts(factory: sessionmaker[Session], chat_id: int) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(OutboxMessage.text)
                .where(OutboxMessage.chat_id == chat_id)
                .order_by(OutboxMessage.id)
            )
        )


def _credits(factory: sessionmaker[Session]) -> list[int]:
    with factory() as s:
        return list(s.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "review")))


def test_two_approvals_credit_once_and_the_patient_is_thanked(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, chat = _screenshot(factory, config, "p-shot")
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "скриншот отзыва" in page and "Одобрить и начислить" in page and "ПроДокторов" in page

    first = administrator.post(f"/tasks/{task_id}/screenshot/approve", {"platform": "yandex"})
    assert first.status_code == 302
    # A second tab, another platform chosen: the episode is decided, nothing more is credited.
    administrator.post(f"/tasks/{task_id}/screenshot/approve", {"platform": "2gis"})
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "уже рассмотрен" in page and "одобрено" in page
    assert _credits(factory) == [200]
    with factory() as s:
        assert s.get(Task, task_id).state == "done"
        account = ledger.find_account(s, "patient", "p-shot")
        assert account is not None and account.balance == 200
    thanks = [t for t in _texts(factory, chat) if "Начислено 200" in t]
    assert len(thanks) == 1


def test_a_rejected_screenshot_credits_nothing_and_says_so_politely(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, chat = _screenshot(factory, config, "p-reject")
    administrator.post(f"/tasks/{task_id}/screenshot/reject")
    administrator.post(f"/tasks/{task_id}/screenshot/approve", {"platform": "yandex"})
    assert _credits(factory) == []
    with factory() as s:
        assert s.get(Task, task_id).state == "dismissed"
    texts = _texts(factory, chat)
    assert sum("не получилось" in t for t in texts) == 1
    assert not any("Начислено" in t for t in texts)


def test_a_forged_platform_or_a_plain_task_changes_nothing(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, _ = _screenshot(factory, config, "p-forged")
    administrator.post(f"/tasks/{task_id}/screenshot/approve", {"platform": "<script>"})
    assert _credits(factory) == []
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "Неизвестная площадка" in page
    with factory() as s:
        assert s.get(Task, task_id).state in ("open", "taken")  # still to decide
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p-question"))
        other = receive(s, config, sub, Incoming(telegram_message_id=1, text="Вопрос")).task.id
    response = administrator.post(f"/tasks/{other}/screenshot/approve", {"platform": "yandex"})
    assert response.status_code == 404 and _credits(factory) == []
    assert administrator.post("/tasks/999999/screenshot/reject").status_code == 404


def test_a_malformed_decision_is_refused_in_russian_and_credits_nothing(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, chat = _screenshot(factory, config, "p-malformed")
    before = _texts(factory, chat)
    for data in ({}, {"platform": ""}, {"platform": "y" * 5000}, {"platform": "yandex\x00"}):
        response = administrator.post(f"/tasks/{task_id}/screenshot/approve", data)
        assert response.status_code == 302 and response.headers["Location"].endswith(
            f"/tasks/{task_id}"
        ), data
        page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
        assert "Неизвестная площадка." in page, data
    # Without the CSRF token neither button does anything.
    url = f"/tasks/{task_id}/screenshot"
    assert (
        administrator.client.post(f"{url}/approve", data={"platform": "yandex"}).status_code == 400
    )
    assert administrator.client.post(f"{url}/reject").status_code == 400
    assert _credits(factory) == []
    assert _texts(factory, chat) == before
    with factory() as s:
        assert s.get(Task, task_id).state in ("open", "taken")  # still to decide
