"""The admin panel through the real login form: access, CSRF, redirects, health, screens."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app import _secret_key
from connectors.registry import open_connector
from connectors.sync import SyncEngine
from core.config import Config
from core.db import transaction
from core.models import Task
from core.tasks import create_task
from sandbox.demo_clinic import persona
from tests.conftest import PASSWORDS, Persona


def _location(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers.get("Location", "")


def _path(response) -> str:  # type: ignore[no-untyped-def]
    return urlsplit(_location(response)).path


# --- access -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/patients/", "/tasks/", "/patients/1"])
def test_outsider_is_sent_to_login(outsider: Persona, url: str) -> None:
    response = outsider.get(url)
    assert response.status_code == 302
    assert _path(response) == "/login"
    # ...and comes back where they were going after logging in.
    assert "next=" in _location(response)


def test_outsider_cannot_act_on_tasks(outsider: Persona, factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    task_id = _make_task(factory, config, "t1")
    response = outsider.post(f"/tasks/{task_id}/done")
    assert response.status_code == 302 and _path(response) == "/login"
    with factory() as s:
        assert s.get(Task, task_id).state == "open"


def test_wrong_password_is_refused_in_russian(outsider: Persona) -> None:
    response = outsider.login("owner", "not-the-password")
    assert response.status_code == 401
    assert "Неверный логин или пароль" in response.get_data(as_text=True)
    assert _path(outsider.get("/")) == "/login"


def test_unknown_login_is_refused_the_same_way(outsider: Persona) -> None:
    response = outsider.login("nobody", PASSWORDS["owner"])
    assert response.status_code == 401
    assert "Неверный логин или пароль" in response.get_data(as_text=True)


def test_the_refused_login_stays_typed_in_and_escaped(outsider: Persona) -> None:
    html = outsider.login('"><script>x()</script>', "wrong").get_data(as_text=True)
    assert 'value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in html
    assert "<script>x()" not in html
    assert 'value="owner"' in outsider.login("owner", "wrong").get_data(as_text=True)


@pytest.mark.parametrize(("who", "label"), [("owner", "(владелец)"), ("admin", "(администратор)")])
def test_staff_log_in_and_see_the_dashboard(app, who: str, label: str) -> None:  # type: ignore[no-untyped-def]
    persona_ = Persona(app.test_client(), None)
    response = persona_.login(who, PASSWORDS[who])
    assert response.status_code == 302 and _path(response) == "/"
    page = persona_.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Сводка</h1>" in html and 'id="stat-connected"' in html
    assert label in html


def test_the_login_is_case_insensitive_and_trimmed(outsider: Persona) -> None:
    response = outsider.login(" Owner ", PASSWORDS["owner"])
    assert response.status_code == 302
    assert outsider.get("/").status_code == 200


def test_post_without_csrf_token_is_refused(owner: Persona, factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    task_id = _make_task(factory, config, "csrf")
    assert owner.client.post(f"/tasks/{task_id}/take").status_code == 400
    assert owner.client.post(f"/tasks/{task_id}/take", data={"csrf_token": "x"}).status_code == 400
    with factory() as s:
        assert s.get(Task, task_id).state == "open"


def test_login_without_csrf_token_is_refused(outsider: Persona) -> None:
    response = outsider.client.post(
        "/login", data={"login": "owner", "password": PASSWORDS["owner"]}
    )
    assert response.status_code == 400
    assert _path(outsider.get("/")) == "/login"


def test_logout(owner: Persona) -> None:
    assert owner.get("/").status_code == 200
    assert owner.client.get("/logout").status_code == 405  # never a GET: links get prefetched
    response = owner.post("/logout")
    assert response.status_code == 302 and _path(response) == "/login"
    assert _path(owner.get("/")) == "/login"


def test_login_returns_to_the_page_asked_for(outsider: Persona) -> None:
    target = _location(outsider.get("/tasks/?show=all"))
    response = outsider.client.post(
        target,
        data={"login": "admin", "password": PASSWORDS["admin"], "csrf_token": outsider.csrf()},
    )
    assert response.status_code == 302
    assert _location(response).endswith("/tasks/?show=all")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "/\t/evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_next_is_never_an_external_url(outsider: Persona, target: str) -> None:
    response = outsider.client.post(
        "/login",
        query_string={"next": target},
        data={"login": "owner", "password": PASSWORDS["owner"], "csrf_token": outsider.csrf()},
    )
    assert response.status_code == 302
    location = _location(response)
    # Browsers read "\" as "/" and drop tabs and newlines: only a plain local path is
    # safe (werkzeug percent-encodes "\" and tabs, which leaves them harmless).
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/") and not location.startswith("//"), location
    assert not any(c in location for c in "\\\t\r\n"), location


# --- roles ------------------------------------------------------------------------------


def test_campaigns_are_for_the_owner_only(
    owner: Persona, administrator: Persona, outsider: Persona
) -> None:
    assert owner.get("/campaigns/").status_code == 200
    assert 'href="/campaigns/"' in owner.get("/").get_data(as_text=True)

    assert administrator.get("/campaigns/").status_code == 403
    assert administrator.post("/campaigns/", {"title": "x", "text": "y"}).status_code == 403
    assert administrator.post("/campaigns/1/cancel").status_code == 403
    assert 'href="/campaigns/"' not in administrator.get("/").get_data(as_text=True)

    assert _path(outsider.get("/campaigns/")) == "/login"


# --- /healthz ---------------------------------------------------------------------------


def test_healthz_answers_without_login(
    outsider: Persona, config: Config, factory: sessionmaker[Session]
) -> None:
    from core import __version__
    from core.backup import make_backup
    from core.clock import utcnow
    from core.health import record_mis_ok
    from tests.app.test_health import beat

    # What a running installation has (tests/app/test_health.py checks each one).
    beat(factory)
    record_mis_ok(factory, utcnow())
    make_backup(config)
    response = outsider.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["schema"] == "current"


def test_healthz_is_503_when_the_schema_is_not_current(
    outsider: Persona, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        # A store from another release: its revision is not this code's head.
        s.execute(text("DELETE FROM alembic_version"))
        s.execute(text("INSERT INTO alembic_version (version_num) VALUES ('f00dfeed0001')"))
    response = outsider.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["schema"] != "current" and "f00dfeed0001" in body["schema"]


def test_healthz_is_503_when_the_store_is_broken(
    outsider: Persona, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        s.execute(text("DROP TABLE alembic_version"))
    response = outsider.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


# --- patients ---------------------------------------------------------------------------


@pytest.fixture
def synced(config: Config, factory: sessionmaker[Session], demo_clinic) -> None:  # type: ignore[no-untyped-def]
    connector = open_connector(config)
    try:
        report = SyncEngine(connector, factory).run_once()
    finally:
        connector.close()
    assert report.read["patient"] > 60


def _rows(page: str) -> str:
    """The patients table only, not the search box echoing the query."""
    return page.split('id="patients"', 1)[1]


def _search(persona_: Persona, query: str) -> str:
    response = persona_.client.get("/patients/", query_string={"q": query})
    assert response.status_code == 200, query
    return _rows(response.get_data(as_text=True))


def test_patients_search_by_surname(owner: Persona, synced) -> None:  # type: ignore[no-untyped-def]
    anna = persona("anna")
    # One sync for all the spellings: the demo clinic takes a moment to build.
    for query in ("Иванова", "иванова", "ИВАНОВА", "иван", " Иванова ", "1"):
        rows = _search(owner, query)
        assert anna.full_name in rows, query
        assert f'href="/patients/{anna.patient_id}"' in rows, query
        assert persona("family").full_name not in rows, query
    assert "Никого не нашли." in _search(owner, "Несуществующая")
    assert "Никого не нашли." in _search(owner, "%")  # a LIKE wildcard matches itself only


def test_patients_search_by_phone_typed_any_way(owner: Persona, synced) -> None:  # type: ignore[no-untyped-def]
    anna = persona("anna")
    for query in (
        anna.phone_as_typed,  # "8 (912) 345-67-89", as in the MIS
        "+7 912 345-67-89",
        "89123456789",
        "+79123456789",
        "9123456789",
        "8-912-345-6789",
    ):
        rows = _search(owner, query)
        assert anna.full_name in rows, query
        assert rows.count('<td><a href="/patients/') == 1, query
    # A family shares one phone: all three are found by it.
    rows = _search(owner, "8 916 000 11 22")
    for key in ("family", "family_daughter", "family_son"):
        assert persona(key).full_name in rows


def test_patient_card(administrator: Persona, synced) -> None:  # type: ignore[no-untyped-def]
    anna = persona("anna")
    response = administrator.get(f"/patients/{anna.patient_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert anna.full_name in html
    assert 'id="balance">0<' in html
    assert "Не подключён к боту." in html
    assert "запланирован" in html and "завершён" in html  # tomorrow's and last month's
    assert administrator.get("/patients/999999").status_code == 404


def test_patients_bad_page_number_is_not_a_500(owner: Persona, synced) -> None:  # type: ignore[no-untyped-def]
    assert owner.get("/patients/?page=2").status_code == 200
    assert owner.get("/patients/?page=-1").status_code == 200
    assert owner.get("/patients/?page=abc").status_code in (200, 400)
    # Past what SQL's 64-bit offset holds (the fuzz test found it): the last page, empty.
    huge = owner.get(f"/patients/?page={10**18}")
    assert huge.status_code == 200 and "Пациенты" in huge.get_data(as_text=True)


# --- tasks ------------------------------------------------------------------------------


def _make_task(factory: sessionmaker[Session], config: Config, key: str) -> int:
    with transaction(factory) as s:
        task = create_task(
            s, config, kind="reschedule", key=key, text=f"Перенос: задача {key}", patient_mis_id="1"
        )
        return task.id


def _state(factory: sessionmaker[Session], task_id: int) -> tuple[str, str]:
    with factory() as s:
        task = s.scalar(select(Task).where(Task.id == task_id))
        return task.state, task.taken_by


def test_tasks_take_then_done(administrator: Persona, factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    task_id = _make_task(factory, config, "a")
    page = administrator.get("/tasks/").get_data(as_text=True)
    assert "Перенос: задача a" in page and f"/tasks/{task_id}/take" in page

    response = administrator.post(f"/tasks/{task_id}/take")
    assert response.status_code == 302 and _path(response) == "/tasks/"
    assert _state(factory, task_id) == ("taken", "Ольга Админова")
    page = administrator.get("/tasks/").get_data(as_text=True)
    assert "в работе (Ольга Админова)" in page
    assert f"/tasks/{task_id}/take" not in page and f"/tasks/{task_id}/done" in page

    administrator.post(f"/tasks/{task_id}/done")
    assert _state(factory, task_id) == ("done", "Ольга Админова")
    assert "Перенос: задача a" not in administrator.get("/tasks/").get_data(as_text=True)
    everything = administrator.get("/tasks/?show=all").get_data(as_text=True)
    assert "Перенос: задача a" in everything and "готово" in everything


def test_tasks_dismiss(owner: Persona, factory, config: Config) -> None:  # type: ignore[no-untyped-def]
    task_id = _make_task(factory, config, "b")
    owner.post(f"/tasks/{task_id}/dismiss")
    assert _state(factory, task_id) == ("dismissed", "Владелец Клиники")


@pytest.mark.parametrize("action", ["take", "done", "dismiss", "reopen"])
def test_invalid_task_transition_is_a_flash_not_a_500(
    owner: Persona, factory, config: Config, action: str
) -> None:  # type: ignore[no-untyped-def]
    task_id = _make_task(factory, config, "c")
    owner.post(f"/tasks/{task_id}/done")
    response = owner.post(f"/tasks/{task_id}/{action}")
    assert response.status_code == 302
    page = owner.get("/tasks/").get_data(as_text=True)
    assert 'class="flash error"' in page
    assert f"Задача #{task_id} уже в состоянии «готово»" in page
    assert _state(factory, task_id)[0] == "done"
    # The message is shown once.
    assert 'class="flash error"' not in owner.get("/tasks/").get_data(as_text=True)


def test_unknown_task_is_404(owner: Persona) -> None:
    assert owner.post("/tasks/424242/take").status_code == 404


# --- the session key ----------------------------------------------------------------------


def _key_in_a_worker(config: Config, start, keys) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    try:
        keys.put(_secret_key(config))
    except Exception as exc:  # the assertion below shows it
        keys.put(repr(exc))


def test_web_workers_starting_together_share_one_session_key(config: Config) -> None:
    """gunicorn boots its workers at once on a fresh install: one key for all, or a login
    made through one worker fails its CSRF check on the other."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for attempt in range(20):
        cfg = config.replace(storage={"data_dir": f"{config.storage.data_dir}-{attempt}"})
        start, keys = ctx.Barrier(4), ctx.Queue()
        workers = [ctx.Process(target=_key_in_a_worker, args=(cfg, start, keys)) for _ in "abcd"]
        for worker in workers:
            worker.start()
        found = {keys.get(timeout=30) for _ in workers}
        for worker in workers:
            worker.join(timeout=30)
        assert len(found) == 1 and len(found.pop()) == 64, found
        key_file = Path(cfg.storage.data_dir, "secret_key")
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in key_file.parent.iterdir()] == ["secret_key"]
