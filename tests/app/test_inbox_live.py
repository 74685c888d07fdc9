"""The inbox kept current by polling, files and quick replies from the reply box, and a
second answer written without seeing the first held back — through the panel's real
routes on a real store."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Config
from core.conversations import files
from core.conversations.models import ThreadMessage
from core.conversations.threads import Incoming, receive
from core.db import transaction
from core.models import OutboxMessage, StaffSession, Subscriber, Task
from core.outbox import PRIORITY_REPLY
from tests.conftest import Persona, make_app, make_config
from tests.core.people import chat_for, patient
from tests.sandbox.test_telegram_emulator import _png

pytestmark = pytest.mark.clock


def _episode(factory: sessionmaker[Session], config: Config, text: str) -> tuple[int, int]:
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, f"p-{text}"))
        task = receive(s, config, sub, Incoming(telegram_message_id=1, text=text)).task
        return task.id, sub.id


def _write(factory: sessionmaker[Session], config: Config, sub_id: int, n: int, text: str) -> None:
    with transaction(factory) as s:
        receive(s, config, s.get(Subscriber, sub_id), Incoming(telegram_message_id=n, text=text))


def test_the_inbox_poll_sends_rows_only_when_they_change(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    _episode(factory, config, "Болит зуб")
    page = administrator.get("/tasks/").get_data(as_text=True)
    assert 'id="task-rows"' in page and 'data-poll="/tasks/poll' in page
    first = administrator.get("/tasks/poll").get_json()
    assert first["changed"] and "Болит зуб" in first["parts"]["task-rows"]
    again = administrator.get(f"/tasks/poll?v={first['version']}").get_json()
    assert again == {"version": first["version"], "changed": False, "parts": {}}
    _episode(factory, config, "Выпала пломба")
    later = administrator.get(f"/tasks/poll?v={first['version']}").get_json()
    assert later["changed"] and "Выпала пломба" in later["parts"]["task-rows"]
    # The filters are the page's: a poll of "not taken" leaves out a taken task.
    with transaction(factory) as s:
        s.scalars(select(Task)).first().state = "taken"  # type: ignore[union-attr]
    rows = administrator.get("/tasks/poll?who=unassigned").get_json()["parts"]["task-rows"]
    assert rows.count('class="task"') == 1


def test_a_thread_poll_brings_new_lines_state_and_what_was_seen(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, sub_id = _episode(factory, config, "Болит зуб")
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f'data-poll="/tasks/{task_id}/poll"' in page
    first = administrator.get(f"/tasks/{task_id}/poll").get_json()
    assert (
        administrator.get(f"/tasks/{task_id}/poll?v={first['version']}").get_json()["changed"]
        is False
    )
    _write(factory, config, sub_id, 2, "И десна опухла")
    administrator.post(f"/tasks/{task_id}/take", {"next": "thread"})
    now = administrator.get(f"/tasks/{task_id}/poll?v={first['version']}").get_json()
    assert now["changed"] and "И десна опухла" in now["parts"]["thread"]
    assert "<b>в работе</b> (Ольга Админова)" in now["parts"]["episode-state"]
    with factory() as s:
        newest = max(s.scalars(select(ThreadMessage.id)))
    assert now["seen"] == newest > first["seen"]
    assert administrator.get("/tasks/999999/poll").status_code == 404


def test_a_poll_does_not_keep_an_idle_session_alive(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    _episode(factory, config, "Болит зуб")

    def seen() -> object:
        with factory() as s:
            return s.scalars(select(StaffSession.last_seen_at)).one()

    before = seen()
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=False):
        polled = administrator.client.get("/tasks/poll", headers={"X-Kabinet-Poll": "1"})
        assert polled.status_code == 200
        assert seen() == before
        assert administrator.get("/tasks/poll").status_code == 200  # a real visit counts
        assert seen() != before


def test_quick_replies_from_the_config_are_in_the_reply_box(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, _ = _episode(factory, config, "Болит зуб")
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    for text in config.conversations.quick_replies:
        assert f'data-quick="{text}"' in page
    assert 'enctype="multipart/form-data"' in page and 'name="file"' in page


def test_a_photo_and_a_document_go_out_through_the_outbox(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, _ = _episode(factory, config, "Пришлите памятку")
    png = _png(12, 8)
    response = administrator.client.post(
        f"/tasks/{task_id}/reply",
        data={
            "text": "Вот схема",
            "csrf_token": administrator.csrf(),
            "file": (io.BytesIO(png), "схема.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    administrator.client.post(
        f"/tasks/{task_id}/reply",
        data={
            "text": "",
            "csrf_token": administrator.csrf(),
            "file": (io.BytesIO(b"%PDF-1.4 leaflet"), "../../памятка.pdf", "application/pdf"),
        },
        content_type="multipart/form-data",
    )
    with factory() as s:
        photo, doc = s.scalars(
            select(ThreadMessage)
            .where(ThreadMessage.direction == "out", ThreadMessage.author != "")
            .order_by(ThreadMessage.id)
        ).all()
        assert (photo.kind, photo.text, photo.file_state) == ("photo", "Вот схема", "stored")
        assert doc.kind == "document" and doc.file_name == "памятка.pdf"
        for line, data in ((photo, png), (doc, b"%PDF-1.4 leaflet")):
            row = s.get(OutboxMessage, line.outbox_id)
            assert row is not None and row.kind == "file" and row.priority == PRIORITY_REPLY
            found = files.outgoing_file(factory, config, row)
            assert found is not None and found[0] == data
        assert files.outgoing_file(factory, config, s.get(OutboxMessage, doc.outbox_id))[2] is False  # type: ignore[arg-type, index]
        assert s.get(Task, task_id).first_response_by == "Ольга Админова"  # type: ignore[union-attr]
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f'src="/tasks/file/{photo.id}"' in page and "памятка.pdf" in page
    assert administrator.get(f"/tasks/file/{photo.id}").data == png


def test_a_file_over_the_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    from core.db import make_engine, session_factory
    from core.migrate import upgrade

    config = make_config(tmp_path, conversations={"max_file_mb": 1})
    Path(config.storage.data_dir).mkdir(parents=True)
    engine = make_engine(config.storage.url)
    upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    factory = session_factory(engine)
    task_id, _ = _episode(factory, config, "Пришлите снимок")
    admin = Persona(make_app(config).test_client(), "admin")
    big = b"x" * (1024 * 1024 + 1)
    admin.client.post(
        f"/tasks/{task_id}/reply",
        data={"csrf_token": admin.csrf(), "file": (io.BytesIO(big), "big.bin", "")},
        content_type="multipart/form-data",
    )
    page = admin.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "Файл больше 1 МБ — не отправлен" in page
    with factory() as s:
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "file")).all() == []
    assert not any(files.files_dir(config).rglob("*-out*"))
    engine.dispose()


def test_a_second_answer_written_without_seeing_the_first_is_held(
    administrator: Persona, owner: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, _ = _episode(factory, config, "Можно сегодня?")
    seen = administrator.get(f"/tasks/{task_id}/poll").get_json()["seen"]
    # The owner answers first, from another browser.
    owner_seen = owner.get(f"/tasks/{task_id}/poll").get_json()["seen"]
    owner.post(f"/tasks/{task_id}/reply", {"text": "Да, в 17:00.", "seen": owner_seen})
    held = administrator.post(
        f"/tasks/{task_id}/reply", {"text": "Сегодня всё занято.", "seen": seen}
    )
    assert held.status_code == 409
    page = held.get_data(as_text=True)
    assert "Владелец Клиники только что ответил(а) пациенту" in page
    assert "Ваш ответ не отправлен" in page and "Сегодня всё занято." in page  # kept
    assert "Да, в 17:00." in page  # and the other answer in view

    def replies() -> list[str]:
        with factory() as s:
            return list(
                s.scalars(select(OutboxMessage.text).where(OutboxMessage.key.like("staff-reply:%")))
            )

    assert replies() == ["Да, в 17:00."]
    # Having seen it, sending again sends; and the author's own earlier answer never holds.
    fresh = administrator.get(f"/tasks/{task_id}/poll").get_json()["seen"]
    administrator.post(f"/tasks/{task_id}/reply", {"text": "Сегодня всё занято.", "seen": fresh})
    administrator.post(f"/tasks/{task_id}/reply", {"text": "Завтра в 10?", "seen": fresh})
    assert replies() == ["Да, в 17:00.", "Сегодня всё занято.", "Завтра в 10?"]
    # A forged line number the database cannot hold is "seen all", never a 500; a
    # negative one has seen nothing, so the owner's answer holds it.
    beyond = administrator.post(f"/tasks/{task_id}/reply", {"text": "Ждём вас.", "seen": 10**30})
    assert beyond.status_code == 302 and replies()[-1] == "Ждём вас."
    assert (
        administrator.post(
            f"/tasks/{task_id}/reply", {"text": "Ещё раз.", "seen": -(10**30)}
        ).status_code
        == 409
    )


def test_quick_replies_are_checked(tmp_path: Path) -> None:
    from core.config import ConfigError

    for bad, why in (([""], "non-empty"), (["x" * 4097], "4,096"), (["a"] * 31, "30")):
        with pytest.raises(ConfigError, match=why):
            make_config(tmp_path, conversations={"quick_replies": bad})


def test_search_finds_lines_of_every_thread_by_word_name_or_phone(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    task_id, sub_id = _episode(factory, config, "Болит зуб после пломбы")
    with transaction(factory) as s:
        s.get(Task, task_id).state = "done"  # type: ignore[union-attr]  # closed, still found
        s.get(Subscriber, sub_id).phone = "79161234567"  # type: ignore[union-attr]
    _episode(factory, config, "Запишите на чистку 50% скидка")
    for query in ("болит", "БОЛИТ", "79161234567", "1234567"):
        page = administrator.get(f"/tasks/search?q={query}").get_data(as_text=True)
        assert "Болит зуб после пломбы" in page, query
        assert f"/tasks/{task_id}" in page and "чистку" not in page, query
    page = administrator.get("/tasks/search?q=50%25").get_data(as_text=True)
    assert "чистку" in page and "Болит" not in page  # % is a character, not a wildcard
    page = administrator.get("/tasks/search?q=Иванова").get_data(as_text=True)
    assert "Болит зуб" in page and "чистку" in page  # both patients are Ивановы
    assert "Ничего не нашлось" in administrator.get("/tasks/search?q=кариес").get_data(as_text=True)
    assert administrator.client.get("/tasks/search?q=x").status_code == 200  # too short: none
