"""«Рекомендации после лечения»: owners and administrators edit the care instructions,
with errors explained in Russian; nobody else may see or change them."""

from __future__ import annotations

from sqlalchemy import select

from core.models import CareInstruction
from tests.conftest import Persona

FORM = {
    "title": "После удаления зуба мудрости",
    "text": "Не ешьте 2 часа.\nНе пейте горячего до вечера.",
    "services": "удаление зуба мудрости, A16.07.001.003",
    "specialties": "",
    "delay_minutes": "45",
    "enabled": "1",
}


def _rows(factory) -> list[CareInstruction]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return list(s.scalars(select(CareInstruction).order_by(CareInstruction.id)))


def test_the_screen_lists_the_examples_and_is_in_the_navigation(
    administrator: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    dashboard = administrator.get("/").get_data(as_text=True)
    assert 'href="/care/"' in dashboard and "Рекомендации после лечения" in dashboard
    page = administrator.get("/care/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for title in ("После удаления зуба", "После профессиональной гигиены", "После имплантации"):
        assert title in html
    assert html.count('data-enabled="no"') == 4


def test_an_administrator_creates_and_edits_an_instruction(administrator: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    response = administrator.post("/care/", FORM)
    assert response.status_code == 302
    created = _rows(factory)[-1]
    assert (created.title, created.delay_minutes, created.enabled) == (
        "После удаления зуба мудрости",
        45,
        True,
    )
    assert created.services == "удаление зуба мудрости, A16.07.001.003"
    assert created.text == "Не ешьте 2 часа.\nНе пейте горячего до вечера."
    assert created.updated_by == "Ольга Админова"
    assert "добавлена" in administrator.get("/care/").get_data(as_text=True)

    form = administrator.get(f"/care/{created.id}").get_data(as_text=True)
    assert "Изменить «После удаления зуба мудрости»" in form and "A16.07.001.003" in form
    changed = {**FORM, "specialties": "хирург; пародонтолог", "delay_minutes": "0"}
    del changed["enabled"]  # an unchecked box is not sent
    assert administrator.post(f"/care/{created.id}", changed).status_code == 302
    row = _rows(factory)[-1]
    assert (row.specialties, row.delay_minutes, row.enabled) == (
        "хирург, пародонтолог",
        0,
        False,
    )


def test_the_owner_switches_on_and_off_and_deletes(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    example = _rows(factory)[0]
    assert owner.post(f"/care/{example.id}/toggle").status_code == 302
    assert _rows(factory)[0].enabled is True
    assert 'data-enabled="yes"' in owner.get("/care/").get_data(as_text=True)
    owner.post(f"/care/{example.id}/toggle")
    assert _rows(factory)[0].enabled is False
    assert owner.post(f"/care/{example.id}/delete").status_code == 302
    assert example.id not in [r.id for r in _rows(factory)]
    assert owner.post(f"/care/{example.id}/delete").status_code == 404


def test_mistakes_are_explained_and_nothing_is_saved(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    before = len(_rows(factory))
    cases = {
        "Текст рекомендации пуст": {**FORM, "text": "  \r\n "},
        "Текст слишком длинный: 4097 символов. Telegram принимает сообщение до 4096": {
            **FORM,
            "text": "ж" * 4097,
        },
        "Задержка «полчаса» — не число": {**FORM, "delay_minutes": "полчаса"},
        "Задержка -10 мин. вне допустимого": {**FORM, "delay_minutes": "-10"},
    }
    for message, data in cases.items():
        response = owner.post("/care/", data)
        assert response.status_code == 400, message
        html = response.get_data(as_text=True)
        assert message in html
        # What was typed stays in the form, to be corrected rather than retyped.
        assert "После удаления зуба мудрости" in html
    assert len(_rows(factory)) == before
    # Editing keeps the old text when the new one is refused.
    example = _rows(factory)[0]
    response = owner.post(f"/care/{example.id}", {**FORM, "text": ""})
    assert response.status_code == 400 and "пуст" in response.get_data(as_text=True)
    assert _rows(factory)[0].text == example.text


def test_outsiders_and_forged_forms_are_refused(
    outsider: Persona, administrator: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    example = _rows(factory)[0]
    response = outsider.get("/care/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    for url in ("/care/", f"/care/{example.id}", f"/care/{example.id}/toggle"):
        response = outsider.post(url, FORM)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    outsider.post(f"/care/{example.id}/delete")
    # Without the CSRF token even a logged-in administrator changes nothing.
    forged = administrator.client.post(f"/care/{example.id}/delete", data={})
    assert forged.status_code == 400
    rows = _rows(factory)
    assert len(rows) == 4 and rows[0].enabled is False and rows[0].title == example.title


def test_malformed_input_is_refused_in_russian_and_changes_nothing(owner: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    import io

    example = _rows(factory)[0]
    cases = {
        # A number no delay can be, in the forms people and scripts type.
        "Задержка «1e400» — не число": {**FORM, "delay_minutes": "1e400"},
        "Задержка «0x1F» — не число": {**FORM, "delay_minutes": "0x1F"},
        f"Задержка {10**40} мин. вне допустимого": {**FORM, "delay_minutes": str(10**40)},
        "Название длиннее 200 символов (201)": {**FORM, "title": "ж" * 201},
        "Список услуг длиннее 1000 символов": {**FORM, "services": "ж" * 1001},
    }
    for message, data in cases.items():
        for url in ("/care/", f"/care/{example.id}"):
            response = owner.post(url, data)
            assert response.status_code == 400, (url, message)
            assert message in response.get_data(as_text=True), (url, message)
    # A file sent where the text goes is no text: refused as an empty one, not read as text.
    response = owner.client.post(
        "/care/",
        data={
            **FORM,
            "csrf_token": owner.csrf(),
            "text": (io.BytesIO(b"%PDF-1.4 text"), "text.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Текст рекомендации пуст" in response.get_data(as_text=True)
    # A box sent with a value no browser sends for it is not ticked.
    assert owner.post("/care/", {**FORM, "enabled": "maybe"}).status_code == 302
    created = _rows(factory)[-1]
    assert created.title == FORM["title"] and created.enabled is False
    rows = _rows(factory)
    assert len(rows) == 5
    assert (rows[0].title, rows[0].text, rows[0].delay_minutes) == (
        example.title,
        example.text,
        example.delay_minutes,
    )
    # The buttons' forms without their CSRF token change nothing either.
    for url in (f"/care/{example.id}/toggle", f"/care/{example.id}"):
        assert owner.client.post(url, data=FORM).status_code == 400
    assert _rows(factory)[0].enabled is False and _rows(factory)[0].title == example.title
