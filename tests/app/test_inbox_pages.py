"""The inbox a page at a time: the 50 longest-waiting episodes, then «Показать ещё»."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.conversations.threads import Incoming, receive
from core.db import transaction
from tests.conftest import Persona, WallClock
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock

ROW = re.compile(r'<tr class="task"[^>]*data-task="(\d+)"')


@pytest.fixture
def waiting(factory: sessionmaker[Session], config: Config, clock: WallClock) -> list[int]:
    """60 patients who wrote a minute apart: their episodes, the longest-waiting first."""
    ids = []
    for i in range(60):
        with transaction(factory) as s:
            sub = chat_for(s, patient(s, f"p{i}"))
            ids.append(
                receive(s, config, sub, Incoming(telegram_message_id=1, text=f"м{i}")).task.id
            )
        clock.advance(timedelta(minutes=1))
    return ids


def _rows(page: str) -> list[int]:
    return [int(x) for x in ROW.findall(page)]


def test_the_first_page_holds_the_50_waiting_longest(administrator: Persona, waiting) -> None:  # type: ignore[no-untyped-def]
    page = administrator.get("/tasks/").get_data(as_text=True)
    assert _rows(page) == waiting[:50]
    assert "Показать ещё 50" in page and "показаны первые 50" in page
    more = administrator.get("/tasks/?n=100").get_data(as_text=True)
    assert _rows(more) == waiting and "Показать ещё" not in more
    poll = administrator.get("/tasks/poll?n=100").get_json()
    assert _rows(poll["parts"]["task-rows"]) == waiting


@pytest.mark.parametrize("n", ["abc", "-5", "0", "1e400", "99999999999", "10"])
def test_a_strange_page_size_is_a_page_of_50_or_the_most(
    administrator: Persona, waiting, n: str
) -> None:  # type: ignore[no-untyped-def]
    response = administrator.get(f"/tasks/?n={n}")
    assert response.status_code == 200
    assert len(_rows(response.get_data(as_text=True))) == 50
