"""The inbox through the panel's real forms (CSRF included) on a real store: filters,
a reply through the outbox with its state, two staff taking, files behind the login."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.conversations.models import ThreadMessage
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.models import OutboxMessage, Task
from core.outbox import PRIORITY_REPLY
from core.tasks import create_task, transition
from tests.conftest import Persona
from tests.core.people import chat_for, patient

pytestmark = pytest.mark.clock


def _episode(factory: sessionmaker[Session], config: Config, text: str, **chat: bool) -> int:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, f"p-{text}"), **chat)
        return receive(s, config, sub, Incoming(telegram_message_id=1, text=text)).task.id


def test_a_reply_goes_out_at_reply_priority_and_shows_its_state(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id = _episode(factory, config, "Болит зуб")
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "Болит зуб" in page and 'id="reply"' in page
    response = administrator.post(f"/tasks/{task_id}/reply", {"text": "Приходите в 17:00"})
    assert response.status_code == 302
    with factory() as s:
        line = s.scalars(select(ThreadMessage).where(ThreadMessage.kind == "reply")).one()
        row = s.get(OutboxMessage, line.outbox_id)
        assert row is not None and row.priority == PRIORITY_REPLY and row.state == "pending"
        assert line.author == "Ольга Админова" and row.text == "Приходите в 17:00"
        task = s.get(Task, task_id)
        assert task.state == "taken" and task.taken_by == "Ольга Админова"
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'data-state="pending"' in page and "отправляется" in page
    with transaction(factory) as s:
        s.get(OutboxMessage, line.outbox_id).state = "unreachable"
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "пациент заблокировал бота" in page
    # Without the form's token nothing is sent.
    assert (
        administrator.client.post(f"/tasks/{task_id}/reply", data={"text": "x"}).status_code == 400
    )


def test_a_reply_to_a_blocked_patient_is_refused_with_a_reason(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id = _episode(factory, config, "Вопрос", unreachable=True)
    administrator.post(f"/tasks/{task_id}/reply", {"text": "Ответ"})
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'class="flash error"' in page and "заблокировал бота" in page
    with factory() as s:
        assert s.scalars(select(ThreadMessage).where(ThreadMessage.kind == "reply")).all() == []


def test_the_second_to_take_is_told_who_has_it(
    administrator: Persona, owner: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id = _episode(factory, config, "Запись")
    owner.post(f"/tasks/{task_id}/take")
    administrator.post(f"/tasks/{task_id}/take", {"next": "thread"})
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "уже в состоянии «в работе» (Владелец Клиники)" in page


def test_filters_and_oldest_waiting_first(
    administrator: Persona, factory: sessionmaker[Session], config: Config, clock
) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    older = _episode(factory, config, "Первый")
    clock.advance(timedelta(minutes=30))
    newer = _episode(factory, config, "Второй")
    with transaction(factory) as s:
        other = create_task(s, config, kind="reschedule", key="r1", text="Перенос визита")
        transition(s, s.get(Task, newer), "take", "Ольга Админова")
    page = administrator.get("/tasks/").get_data(as_text=True)
    assert page.index("Первый") < page.index("Второй")
    assert "30 мин" in page
    mine = administrator.get("/tasks/?who=mine").get_data(as_text=True)
    assert "Второй" in mine and "Первый" not in mine
    free = administrator.get("/tasks/?who=unassigned").get_data(as_text=True)
    assert "Первый" in free and "Второй" not in free
    kind = administrator.get("/tasks/?kind=reschedule").get_data(as_text=True)
    assert "Перенос визита" in kind and "Первый" not in kind
    assert f'data-task="{older}"' in page and f'data-task="{other.id}"' in page


def test_files_are_served_only_to_staff(
    administrator: Persona, outsider: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "p1"))
        line = receive(
            s, config, sub, Incoming(1, kind="photo", file_id="F", mime_type="image/png")
        ).line
        line.file_state, line.file_path = "stored", f"{line.conversation_id}/{line.id}.png"
        line_id, relative = line.id, line.file_path
    target = Path(config.storage.data_dir, "files", relative)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\x89PNG fake")
    assert outsider.get(f"/tasks/file/{line_id}").status_code == 302  # to the login
    response = administrator.get(f"/tasks/file/{line_id}")
    assert response.status_code == 200 and response.data == b"\x89PNG fake"
    assert response.mimetype == "image/png"
    with transaction(factory) as s:
        s.get(ThreadMessage, line_id).file_path = "../../etc/passwd"
    assert administrator.get(f"/tasks/file/{line_id}").status_code == 404


def test_a_malformed_reply_is_refused_in_russian_and_sends_nothing(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    import io

    task_id = _episode(factory, config, "Есть запись?")

    def replies() -> list[str]:
        with factory() as s:
            return list(
                s.scalars(select(OutboxMessage.text).where(OutboxMessage.key.like("staff-reply:%")))
            )

    url = f"/tasks/{task_id}/reply"
    for data in ({}, {"text": " \r\n\t"}, {"text": "", "seen": "abc"}):
        response = administrator.post(url, data)
        assert response.status_code == 302, data
        page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
        assert "Пустой ответ: напишите текст или приложите файл." in page, data
    # A file posted where the text goes is not the text; a file box left empty is no file.
    response = administrator.client.post(
        url,
        data={
            "csrf_token": administrator.csrf(),
            "text": (io.BytesIO(b"not text"), "a.txt"),
            "file": (io.BytesIO(b""), ""),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "Пустой ответ" in administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    # An empty file chosen is refused by name, not sent.
    response = administrator.client.post(
        url,
        data={"csrf_token": administrator.csrf(), "file": (io.BytesIO(b""), "empty.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "Файл пустой: выберите другой." in administrator.get(f"/tasks/{task_id}").get_data(
        as_text=True
    )
    assert replies() == []
    with factory() as s:
        assert s.get(Task, task_id).state == "open"
    # A `seen` no line number can be read from means no check: the typed answer goes out.
    for seen in ("abc", "1e400", "", "-"):
        assert administrator.post(url, {"text": f"Да ({seen})", "seen": seen}).status_code == 302
    assert replies() == ["Да (abc)", "Да (1e400)", "Да ()", "Да (-)"]


def test_a_malformed_action_is_refused_and_changes_nothing(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id = _episode(factory, config, "Перезвоните")
    response = administrator.post(f"/tasks/{task_id}/frobnicate", {"next": "thread"})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/tasks/{task_id}"
    )
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "уже в состоянии «новая»: сделать это с ней нельзя." in page
    # Anywhere else to go back to than the thread is the inbox, never an address sent.
    for where in ("//evil.example", "https://evil.example/", "", "THREAD"):
        response = administrator.post(f"/tasks/{task_id}/frobnicate", {"next": where})
        assert response.status_code == 302
        assert response.headers["Location"].rstrip("/").endswith("/tasks"), where
    # Without the CSRF token the task is not taken.
    assert administrator.client.post(f"/tasks/{task_id}/take").status_code == 400
    with factory() as s:
        task = s.get(Task, task_id)
        assert task.state == "open" and task.taken_by in (None, "")
