"""«Настройки» (app/views/settings.py): the owner's alone; each value says whether it is the
file's or changed in the panel; a bad value is refused with the reason and nothing is kept;
each change and each «вернуть значение из файла» is an audit entry; the rating request
made after a change uses it."""

from __future__ import annotations

import html

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.access.models import AuditEntry
from core.ratings.survey import plan_rating_requests
from core.settings.models import PanelSetting
from tests.conftest import Persona, add_manager
from tests.core.test_ratings import _requests, _setup


def _entries(factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _rows(factory: sessionmaker[Session]) -> dict[str, object]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def _page(persona: Persona) -> str:
    response = persona.get("/settings/")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_only_the_owner_opens_it_and_every_value_says_where_it_comes_from(
    app, owner: Persona, administrator: Persona
) -> None:  # type: ignore[no-untyped-def]
    add_manager(app)
    manager = Persona(app.test_client(), "manager")
    assert manager.get("/settings/").status_code == 403
    assert manager.post("/settings/", {"messaging__rating_scale": "1-10"}).status_code == 403
    assert "Настройки</a>" not in manager.get("/").get_data(as_text=True)
    assert administrator.get("/settings/").status_code == 403
    assert administrator.post("/settings/", {"messaging__rating_scale": "1-10"}).status_code == 403
    assert (
        administrator.post("/settings/reset", {"key": "messaging.rating_scale"}).status_code == 403
    )
    page = _page(owner)
    for label in ("Шкала оценки", "Последовательность напоминаний", "Начало тихих часов"):
        assert label in page
    assert "Что предложить (через запятую)" in page and 'value="Чай, Кофе, Вода"' in page
    assert "изменено в панели" not in page and "из файла" in page
    assert "Настройки</a>" in page  # in the menu


def test_a_change_is_kept_audited_shown_and_undone(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    response = owner.post(
        "/settings/",
        {
            "messaging__rating_scale": "1-10",
            "messaging__reminder_sequence": "3d, 2h",
            "messaging__arrival_welcome_enabled": "on",
            "messaging__arrival_welcome_enabled__shown": "1",
        },
    )
    assert response.status_code == 302
    assert _rows(factory) == {
        "messaging.rating_scale": "1-10",
        "messaging.reminder_sequence": ["3d", "2h"],
    }
    (entry,) = _entries(factory, "settings.index")
    assert entry.user_login == "owner"
    changes = {c["id"]: c for c in entry.changes if c["table"] == "panel_settings"}
    assert changes["messaging.rating_scale"]["after"]["value"] == "1-10"
    assert changes["messaging.rating_scale"]["op"] == "insert"
    page = _page(owner)
    assert "Сохранено: «Шкала оценки», «Последовательность напоминаний»." in page
    assert page.count("изменено в панели") == 2
    assert page.count("вернуть значение из файла") == 2
    assert 'value="3d, 2h"' in page

    assert owner.post("/settings/reset", {"key": "messaging.rating_scale"}).status_code == 302
    assert _rows(factory) == {"messaging.reminder_sequence": ["3d", "2h"]}
    (undone,) = _entries(factory, "settings.reset")
    assert [(c["op"], c["before"]["value"]) for c in undone.changes] == [("delete", "1-10")]
    assert "«Шкала оценки»: снова действует значение из файла." in _page(owner)
    assert owner.post("/settings/reset", {"key": "web.secret_key"}).status_code == 400


def test_a_bad_value_is_refused_with_the_reason_and_nothing_is_kept(
    owner: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    for field, value, reason in (
        (
            "messaging__quiet_hours_start",
            "25:00",
            "«Начало тихих часов»: «25:00» не подходит — время в виде ЧЧ:ММ",
        ),
        (
            "messaging__reminder_sequence",
            "3d, 20d",
            "«Последовательность напоминаний»: «3d, 20d» не подходит — шаги",
        ),
        ("messaging__review_every_days", "полгода", "не подходит — целое число от 0 до 3650"),
        ("messaging__review_every_days", "99999", "не подходит — целое число от 0 до 3650"),
        (
            "messaging__rating_scale",
            "1-100",
            "«Шкала оценки»: «1-100» не подходит — одна из шкал списка",
        ),
        ("messaging__review_url", "yandex.ru", "адрес, начинающийся с https://"),
        ("messaging__arrival_offer", "Чай, " + "о" * 31, "до 8 коротких"),
    ):
        response = owner.post("/settings/", {"messaging__rating_scale": "1-10", field: value})
        assert response.status_code == 400, (field, value)
        page = html.unescape(response.get_data(as_text=True))
        assert "Не сохранено:" in page and reason in page, (field, value)
        assert value in page  # the typed value stays, to be corrected
        assert _rows(factory) == {}  # not even the good scale
    assert _entries(factory, "settings.index") == []


def test_a_rating_request_after_the_change_uses_the_new_scale(
    owner: Persona, tmp_path, factory
) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory)
    assert owner.post("/settings/", {"messaging__rating_scale": "smileys"}).status_code == 302
    assert plan_rating_requests(factory, config) == 1
    (request,) = _requests(factory)
    assert [b["text"] for b in request.reply_markup["inline_keyboard"][0]] == [
        "😞",
        "🙁",
        "😐",
        "🙂",
        "😄",
    ]


def test_an_unticked_checkbox_turns_the_welcome_off_but_a_form_without_it_does_not(
    owner: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    owner.post("/settings/", {"messaging__rating_scale": "1-10"})
    assert "messaging.arrival_welcome_enabled" not in _rows(factory)
    owner.post("/settings/", {"messaging__arrival_welcome_enabled__shown": "1"})
    assert _rows(factory)["messaging.arrival_welcome_enabled"] is False
