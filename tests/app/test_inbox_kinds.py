"""The inbox's filter by kind: «все» offers every kind there has been, a new one as soon as
its first task exists (the kinds are kept between views, read on from the last task seen);
the open tasks' page offers the kinds open now."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.db import transaction
from core.models import Task
from core.tasks import create_task, transition
from tests.conftest import Persona


def _task(factory: sessionmaker[Session], config: Config, kind: str, key: str) -> int:
    with transaction(factory) as s:
        return create_task(s, config, kind=kind, key=key, text=f"Задача {key}").id


def _offered(persona: Persona, query: str) -> set[str]:
    page = persona.get("/tasks/" + query).get_data(as_text=True)
    return {k for k in ("reschedule", "cancel_visit", "message") if f"kind={k}" in page}


def test_every_kind_ever_is_offered_on_all_and_a_new_one_at_once(  # type: ignore[no-untyped-def]
    administrator: Persona, factory, config: Config
) -> None:
    assert _offered(administrator, "?show=all") == set()
    first = _task(factory, config, "reschedule", "a")
    assert _offered(administrator, "?show=all") == {"reschedule"}
    # Read once already: a task of a new kind after it is still seen, and so is a third
    # kind arriving between two views.
    _task(factory, config, "cancel_visit", "b")
    assert _offered(administrator, "?show=all") == {"reschedule", "cancel_visit"}
    _task(factory, config, "message", "c")
    _task(factory, config, "reschedule", "d")
    assert _offered(administrator, "?show=all") == {"reschedule", "cancel_visit", "message"}
    # A kind whose tasks are all closed stays among «все»'s, not among the open ones'.
    with transaction(factory) as s:
        for task_id in (first, first + 3):
            transition(s, s.get(Task, task_id), "done", "Ольга")
    assert _offered(administrator, "?show=all") == {"reschedule", "cancel_visit", "message"}
    assert _offered(administrator, "") == {"cancel_visit", "message"}
    assert "Задача b" in administrator.get("/tasks/?show=all&kind=cancel_visit").get_data(
        as_text=True
    )
