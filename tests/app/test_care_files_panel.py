"""«Рекомендации после лечения» with an English version and an attachment: a PDF or an image
is uploaded with the form, shown, downloadable, replaced or removed; a wrong type or a file
too big is refused with the reason, and nothing typed or kept before is lost."""

from __future__ import annotations

from io import BytesIO

from sqlalchemy import select

from core.care import attachments
from core.models import CareInstruction
from tests.conftest import Persona
from tests.core.test_care_files import image_bytes, pdf_bytes

FORM = {
    "title": "После удаления зуба мудрости",
    "text": "Не ешьте 2 часа.",
    "title_en": "After a wisdom tooth extraction",
    "text_en": "Do not eat for 2 hours.",
    "services": "удаление зуба мудрости",
    "delay_minutes": "30",
    "enabled": "1",
}


def _last(factory) -> CareInstruction:  # type: ignore[no-untyped-def]
    with factory() as s:
        row = s.scalar(select(CareInstruction).order_by(CareInstruction.id.desc()))
    assert row is not None
    return row


def test_an_instruction_is_created_with_its_english_text_and_a_pdf(
    administrator: Persona, factory, config
) -> None:  # type: ignore[no-untyped-def]
    form = administrator.get("/care/").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'name="attachment"' in form
    assert 'name="text_en"' in form
    pdf = pdf_bytes()
    response = administrator.post(
        "/care/", {**FORM, "attachment": (BytesIO(pdf), "Памятка.pdf", "image/png")}
    )
    assert response.status_code == 302
    row = _last(factory)
    assert (row.title_en, row.text_en) == (
        "After a wisdom tooth extraction",
        "Do not eat for 2 hours.",
    )
    # The type is the content's, not what the browser said.
    assert (row.file_name, row.file_type, row.file_size) == (
        "Памятка.pdf",
        "application/pdf",
        len(pdf),
    )
    path = attachments.path_of(config, row.file_path)
    assert path is not None and path.read_bytes() == pdf

    page = administrator.get("/care/").get_data(as_text=True)
    assert "📎 Памятка.pdf" in page and "по-английски: After a wisdom tooth extraction" in page
    download = administrator.get(f"/care/{row.id}/file")
    assert download.status_code == 200 and download.data == pdf
    assert download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]

    # Saved again without a file: the attachment stays. With an image: replaced.
    assert administrator.post(f"/care/{row.id}", FORM).status_code == 302
    assert _last(factory).file_path == row.file_path
    png = image_bytes("PNG")
    sent = {**FORM, "attachment": (BytesIO(png), "схема.png")}
    assert administrator.post(f"/care/{row.id}", sent).status_code == 302
    replaced = _last(factory)
    assert (replaced.file_name, replaced.file_type) == ("схема.png", "image/png")
    assert replaced.file_path != row.file_path
    # The old file stays for the patients who got it.
    assert attachments.path_of(config, row.file_path) is not None

    assert administrator.post(f"/care/{row.id}", {**FORM, "remove_file": "1"}).status_code == 302
    gone = _last(factory)
    assert (gone.file_path, gone.file_name, gone.file_size) == ("", "", 0)
    assert administrator.get(f"/care/{row.id}/file").status_code == 404


def test_a_wrong_or_too_big_file_is_refused_and_nothing_is_lost(
    administrator: Persona, factory, config
) -> None:  # type: ignore[no-untyped-def]
    assert (
        administrator.post(
            "/care/", {**FORM, "attachment": (BytesIO(pdf_bytes()), "a.pdf")}
        ).status_code
        == 302
    )
    row = _last(factory)
    changed = {**FORM, "text": "Изменённый текст, который нельзя потерять."}

    # A script named like a PDF.
    fake = {**changed, "attachment": (BytesIO(b"#!/bin/sh\nrm -rf /\n"), "памятка.pdf")}
    response = administrator.post(f"/care/{row.id}", fake)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Вложение не принято: Файл «памятка.pdf» — не PDF и не изображение" in html
    assert "приложите заново" in html
    assert "Изменённый текст, который нельзя потерять." in html  # what was typed is kept
    kept = _last(factory)
    assert (kept.text, kept.file_path) == (FORM["text"], row.file_path)  # nothing changed

    big = b"%PDF-1.4\n" + b"0" * (attachments.LIMIT_BYTES + 10)
    response = administrator.post(
        f"/care/{row.id}", {**changed, "attachment": (BytesIO(big), "big.pdf")}
    )
    assert response.status_code == 400
    assert "Файл больше 10 МБ" in response.get_data(as_text=True)
    assert _last(factory).file_path == row.file_path

    # A new instruction with a bad file is not created at all.
    with factory() as s:
        before = len(s.scalars(select(CareInstruction)).all())
    broken = {**FORM, "title": "Новая", "attachment": (BytesIO(b"\x89PNG\r\n\x1a\nxx"), "a.png")}
    response = administrator.post("/care/", broken)
    assert response.status_code == 400 and "Изображение не читается" in response.get_data(
        as_text=True
    )
    with factory() as s:
        assert len(s.scalars(select(CareInstruction)).all()) == before

    # A form error with a good file: neither is kept, and the page says to attach it again.
    response = administrator.post(
        "/care/", {**FORM, "title": "", "attachment": (BytesIO(pdf_bytes()), "a.pdf")}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Укажите название" in html and "приложите заново" in html
    with factory() as s:
        assert len(s.scalars(select(CareInstruction)).all()) == before
