"""«Сотрудники» and «Журнал» (the owner): staff users added, deactivated and reset from
the panel; every change made through the panel in the audit log, filterable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.access.models import AuditEntry
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.models import CareInstruction, StaffUser, Task
from core.tasks import create_task
from tests.conftest import PASSWORDS, Persona

CARE = {
    "title": "После удаления зуба мудрости",
    "text": "Не ешьте 2 часа.",
    "services": "удален",
    "specialties": "",
    "delay_minutes": "45",
    "enabled": "1",
}


def _user(factory: sessionmaker[Session], login: str) -> StaffUser | None:
    with factory() as s:
        return s.scalar(select(StaffUser).where(StaffUser.login == login))


def _entries(factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- staff users --------------------------------------------------------------------------


def test_the_owner_adds_a_manager_who_logs_in_with_the_password_shown_once(
    app, owner: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    assert 'href="/staff/"' in owner.get("/").get_data(as_text=True)
    response = owner.post("/staff/", {"login": " Maria ", "full_name": "Мария", "role": "manager"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "«maria» добавлен" in html
    password = re.search(r'id="new-password">.*?<code>([^<]+)</code>', html, re.S)
    assert password is not None
    assert "не входил(а)" in html
    maria = Persona(app.test_client(), None)
    assert maria.login("maria", password.group(1)).status_code == 302
    assert "(управляющий)" in maria.get("/").get_data(as_text=True)
    assert maria.get("/campaigns/").status_code == 200 and maria.get("/staff/").status_code == 403
    user = _user(factory, "maria")
    assert user is not None and user.role == "manager" and user.last_login_at is not None
    row = owner.get("/staff/").get_data(as_text=True).split('data-login="maria"', 1)[1]
    assert (
        user.last_login_at.astimezone(app.config["KABINET"].clinic.tz).strftime("%d.%m.%Y %H:%M")
        in row.split("</tr>", 1)[0]
    )
    # The password chosen by the owner is not shown back.
    chosen = owner.post("/staff/", {"login": "ivan", "role": "admin", "password": "ivan-pass-123"})
    assert 'id="new-password"' not in chosen.get_data(as_text=True)
    assert Persona(app.test_client(), None).login("ivan", "ivan-pass-123").status_code == 302


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"login": "", "role": "admin"}, "Укажите логин."),
        ({"login": "ольга", "role": "admin"}, "Логин — латинские буквы"),
        ({"login": "x" * 65, "role": "admin"}, "не длиннее 64 символов"),
        ({"login": "admin", "role": "admin"}, "Логин «admin» уже занят."),
        ({"login": "new", "role": "admin", "password": "short"}, "не короче 8 символов"),
        ({"login": "new", "role": "admin", "password": " "}, "Пароль из одних пробелов"),
        ({"login": "new", "role": "superuser"}, "Неверный вариант."),
    ],
)
def test_a_wrong_new_user_is_refused_with_the_reason(
    owner: Persona, factory: sessionmaker[Session], form: dict, message: str
) -> None:
    response = owner.post("/staff/", form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="flash error"' in html and message in html
    with factory() as s:
        assert len(s.scalars(select(StaffUser)).all()) == 2


def test_the_owner_cannot_lock_the_clinic_out(
    owner: Persona, factory: sessionmaker[Session]
) -> None:
    me = _user(factory, "owner")
    assert me is not None
    owner.post(f"/staff/{me.id}/deactivate")
    assert "Свою учётную запись отключить нельзя." in owner.get("/staff/").get_data(as_text=True)
    assert _user(factory, "owner").active  # type: ignore[union-attr]
    assert owner.post("/staff/424242/deactivate").status_code == 404


def test_a_deactivated_user_comes_back_when_activated(
    app, owner: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    admin = _user(factory, "admin")
    assert admin is not None
    owner.post(f"/staff/{admin.id}/deactivate")
    page = owner.get("/staff/").get_data(as_text=True)
    assert 'data-login="admin" data-active="no"' in page
    owner.post(f"/staff/{admin.id}/activate")
    assert Persona(app.test_client(), None).login("admin", PASSWORDS["admin"]).status_code == 302


# --- the audit log ------------------------------------------------------------------------


def test_a_change_is_logged_with_who_what_before_and_after_and_when(
    administrator: Persona, owner: Persona, factory: sessionmaker[Session], clock
) -> None:  # type: ignore[no-untyped-def]
    clock.set(utcnow() + timedelta(hours=3))  # "when" is the appliance's clock, moved
    before = utcnow()
    administrator.post("/care/", CARE)
    with factory() as s:
        care_id = s.scalar(select(CareInstruction.id).where(CareInstruction.title == CARE["title"]))
    administrator.post(f"/care/{care_id}", {**CARE, "title": "После удаления"})

    [created] = _entries(factory, "care.create")
    assert created.user_login == "admin" and before <= created.at <= utcnow()
    [insert] = [c for c in created.changes if c["table"] == "care_instructions"]
    assert insert["op"] == "insert" and insert["id"] == care_id
    assert insert["after"]["title"] == CARE["title"] and insert["before"] == {}

    [updated] = _entries(factory, "care.update")
    [change] = [c for c in updated.changes if c["table"] == "care_instructions"]
    assert change["before"]["title"] == CARE["title"]
    assert change["after"]["title"] == "После удаления"
    assert "text" not in change["after"]  # only what changed

    page = owner.get("/audit/").get_data(as_text=True)
    assert 'data-action="care.update"' in page and "После удаления" in page


def test_a_conditional_update_is_logged_only_when_it_changed_a_row(
    administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    with transaction(factory) as s:
        task_id = create_task(s, config, kind="reschedule", key="a", text="Перенос").id
    administrator.post(f"/tasks/{task_id}/take")
    [take] = _entries(factory, "tasks.act")
    [change] = [c for c in take.changes if c["table"] == "tasks"]
    assert change["op"] == "update" and change["after"]["state"] == "taken"
    assert "tasks.id" in change["where"]
    assert change["rows"] == 1
    # Taking it again changes nothing (the update matches no row): no entry.
    administrator.post(f"/tasks/{task_id}/take")
    with factory() as s:
        assert s.get(Task, task_id).taken_by == "Ольга Админова"
    assert len(_entries(factory, "tasks.act")) == 1


def test_passwords_never_enter_the_log(owner: Persona, factory: sessionmaker[Session]) -> None:
    owner.post("/staff/", {"login": "ivan", "role": "admin", "password": "ivan-pass-123"})
    [added] = _entries(factory, "staff.add")
    [insert] = [c for c in added.changes if c["table"] == "staff_users"]
    assert insert["after"]["password_hash"] == "***" and insert["after"]["login"] == "ivan"
    assert "argon2" not in str(added.changes)


def test_the_owner_filters_the_log(
    owner: Persona, administrator: Persona, factory: sessionmaker[Session], config: Config
) -> None:
    administrator.post("/care/", CARE)
    owner.post("/staff/", {"login": "ivan", "role": "admin"})
    by_admin = owner.get("/audit/?user=admin").get_data(as_text=True)
    assert 'data-action="care.create"' in by_admin and 'data-action="staff.add"' not in by_admin
    by_action = owner.get("/audit/?action=staff.add").get_data(as_text=True)
    assert 'data-action="staff.add"' in by_action and 'data-action="care.create"' not in by_action
    by_table = owner.get("/audit/?table=care_instructions").get_data(as_text=True)
    assert 'data-action="care.create"' in by_table and 'data-action="staff.add"' not in by_table
    today = utcnow().astimezone(config.clinic.tz).date()
    in_range = owner.get(f"/audit/?since={today}&until={today}").get_data(as_text=True)
    assert 'data-action="care.create"' in in_range
    later = today + timedelta(days=1)
    assert "Записей нет." in owner.get(f"/audit/?since={later}").get_data(as_text=True)
    assert "Записей нет." in owner.get(f"/audit/?until={today - timedelta(days=1)}").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "query", ["page=1000000000000000000", "page=abc", "page=-1", "since=31.12.2026", "table=x;y"]
)
def test_bad_filters_are_a_400_with_a_message(owner: Persona, query: str) -> None:
    response = owner.get(f"/audit/?{query}")
    assert response.status_code == 400
    assert 'class="flash error"' in response.get_data(as_text=True)


def test_the_log_is_the_owners(administrator: Persona, manager: Persona) -> None:
    assert administrator.get("/audit/").status_code == 403
    assert manager.get("/audit/").status_code == 403
    assert 'href="/audit/"' not in manager.get("/").get_data(as_text=True)


def test_a_change_rolled_back_leaves_no_entry(app, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    """The entry is written on the change's own transaction."""
    from flask import g

    from app.extensions import db
    from core.access.audit import Actor

    with app.test_request_context("/care/", method="POST"):
        g.audit_actor = Actor(1, "owner")
        db.session.add(CareInstruction(title="Черновик", text="…", created_at=utcnow()))
        db.session.flush()
        assert db.session.scalar(select(AuditEntry.id)) is not None  # written with the row
        db.session.rollback()
    with factory() as s:
        assert s.scalars(select(AuditEntry)).all() == []
        assert (
            s.scalar(select(CareInstruction.id).where(CareInstruction.title == "Черновик")) is None
        )


def test_the_owner_gives_a_colleague_a_telegram_code_and_unlinks_it(
    owner: Persona, administrator: Persona, factory: sessionmaker[Session]
) -> None:
    """The front desk's phone has no panel: the owner shows the code; later, the phone is
    lost and the owner unlinks it. Both are in the log; the administrator cannot."""
    from core.conversations import staff_links

    admin = _user(factory, "admin")
    assert admin is not None
    assert administrator.post(f"/staff/{admin.id}/telegram/code", {}).status_code == 403
    page = owner.post(f"/staff/{admin.id}/telegram/code", {}).get_data(as_text=True)
    found = re.search(r"/link ([0-9A-Z]{4}-[0-9A-Z]{4})", page)
    assert found is not None and "«<b>admin</b>»" in page
    with transaction(factory) as s:
        linked = staff_links.redeem(s, found.group(1), 7777, "Ольга с ресепшн", utcnow())
        assert linked is not None and linked.login == "admin"
    row = re.search(
        r'data-login="admin".*?</tr>', owner.get("/staff/").get_data(as_text=True), re.S
    )
    assert (
        row is not None
        and "Ольга с ресепшн" in row.group(0)
        and "Отвязать Telegram" in row.group(0)
    )
    assert administrator.post(f"/staff/{admin.id}/telegram/unlink", {}).status_code == 403
    owner.post(f"/staff/{admin.id}/telegram/unlink", {})
    with factory() as s:
        assert staff_links.staff_for(s, 7777) is None
    row = re.search(
        r'data-login="admin".*?</tr>', owner.get("/staff/").get_data(as_text=True), re.S
    )
    assert row is not None and "не привязан" in row.group(0)
    assert _entries(factory, "staff.telegram_unlink")
