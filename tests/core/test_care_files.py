"""Care instructions with an attachment and an English version: the file's type is read from
its content, the file follows the text into every chat as the bot's line of the thread, and
a chat in English gets the English text (the Russian one when there is none)."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import care
from core.care import attachments
from core.clock import utcnow
from core.config import Config
from core.conversations.files import outgoing_file
from core.conversations.models import ThreadMessage
from core.db import transaction
from core.models import Appointment, CareInstruction, CareSent, DomainEvent, OutboxMessage
from core.rules import Rules
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def pdf_bytes(pages: int = 1, password: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if password:
        writer.encrypt(password)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(kind: str) -> bytes:
    out = BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def test_the_type_is_read_from_the_content_not_the_name() -> None:
    pdf = attachments.check(pdf_bytes(), "Памятка после удаления.pdf")
    assert (pdf.mime_type, pdf.file_name, pdf.as_photo) == (
        "application/pdf",
        "Памятка после удаления.pdf",
        False,
    )
    for kind, mime, ext in (("PNG", "image/png", ".png"), ("JPEG", "image/jpeg", ".jpg"),
                            ("WEBP", "image/webp", ".webp")):  # fmt: skip
        checked = attachments.check(image_bytes(kind), "схема.bin")
        assert (checked.mime_type, checked.file_name, checked.as_photo) == (
            mime,
            "схема" + ext,
            True,
        )
    # A PDF named like a picture is a PDF; the name the patient sees says so.
    assert attachments.check(pdf_bytes(), "photo.png").file_name == "photo.pdf"
    # A path in the browser's name is dropped.
    assert attachments.check(pdf_bytes(), "C:\\docs\\care.pdf").file_name == "care.pdf"


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (b"", "a.pdf", "Файл пуст."),
        (b"MZ\x90\x00 an executable", "care.pdf", "не PDF и не изображение"),
        (b"<html>care</html>", "care.png", "проверен по содержимому"),
        (b"%PDF-1.7\nnot really", "care.pdf", "PDF не читается"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "care.png", "Изображение не читается"),
        (b"\xff\xd8\xff" + b"\x00" * 40, "care.jpg", "Изображение не читается"),
    ],
)
def test_what_is_not_a_whole_pdf_or_image_is_refused(data: bytes, name: str, says: str) -> None:
    with pytest.raises(attachments.BadFile, match=says):
        attachments.check(data, name)


def test_an_encrypted_pdf_a_pdf_without_pages_and_a_huge_file_are_refused() -> None:
    with pytest.raises(attachments.BadFile, match="защищён паролем"):
        attachments.check(pdf_bytes(password="secret"), "a.pdf")
    with pytest.raises(attachments.BadFile, match="нет страниц"):
        attachments.check(pdf_bytes(pages=0), "a.pdf")
    huge = pdf_bytes() + b"\n%" + b"x" * attachments.LIMIT_BYTES
    with pytest.raises(attachments.BadFile, match="больше 10 МБ"):
        attachments.check(huge, "a.pdf")


def test_a_file_is_kept_by_its_content_and_only_care_files_are_read_back(config: Config) -> None:
    checked = attachments.check(pdf_bytes(), "a.pdf")
    relative = attachments.keep(config, 7, checked)
    assert relative.startswith("care/7/") and relative.endswith(".pdf")
    assert attachments.keep(config, 7, checked) == relative  # the same file, once
    path = attachments.path_of(config, relative)
    assert path is not None and path.read_bytes() == checked.data
    assert attachments.path_of(config, "care/../../secret_key") is None
    assert attachments.path_of(config, "12/3-out.pdf") is None  # a thread's own file
    assert attachments.path_of(config, "care/7/missing.pdf") is None


def test_the_form_takes_an_english_version_and_explains_its_mistakes() -> None:
    form = care.check_form(
        {"title": "После удаления", "text": "Не ешьте 2 часа.", "title_en": " After an "
         "extraction ", "text_en": "Do not eat\r\nfor 2 hours."}
    )  # fmt: skip
    assert form.errors == []
    assert (form.title_en, form.text_en) == ("After an extraction", "Do not eat\nfor 2 hours.")
    orphan = care.check_form({"title": "t", "text": "x", "title_en": "After"})
    assert orphan.errors and orphan.errors[0].startswith("Есть английское название")
    long = care.check_form({"title": "t", "text": "x", "text_en": "w" * (care.MAX_TEXT + 1)})
    assert len(long.errors) == 1 and long.errors[0].startswith("Английский текст слишком")
    assert care.check_form(
        {"title": "t", "text": "x", "title_en": "T" * 201, "text_en": "y"}
    ).errors


def test_localized_falls_back_to_russian() -> None:
    assert care.localized("en", "Рус", "Текст", "Eng", "Text") == ("Eng", "Text")
    assert care.localized("en", "Рус", "Текст", "", "Text") == ("Рус", "Text")
    assert care.localized("en", "Рус", "Текст", "Eng", "") == ("Рус", "Текст")
    assert care.localized("ru", "Рус", "Текст", "Eng", "Text") == ("Рус", "Текст")


def _with_file(
    s: Session, config: Config, data: bytes, name: str, **english: str
) -> CareInstruction:
    row = CareInstruction(
        title="После удаления зуба",
        text="Не ешьте 2 часа.",
        services="удален",
        delay_minutes=30,
        enabled=True,
        **english,
    )
    s.add(row)
    s.flush()
    checked = attachments.check(data, name)
    row.file_path = attachments.keep(config, row.id, checked)
    row.file_name, row.file_type = checked.file_name, checked.mime_type
    row.file_size = len(checked.data)
    return row


def _complete(s: Session, visit: str, patient_id: str) -> None:
    end = utcnow() - timedelta(minutes=5)
    s.add(
        Appointment(
            mis_id=visit,
            patient_mis_id=patient_id,
            doctor_mis_id="",
            starts_at=end - timedelta(minutes=60),
            ends_at=end,
            status="completed",
            services=["Удаление зуба простое"],
        )
    )
    s.add(
        DomainEvent(
            key=f"appointment.completed:{visit}:{patient_id}",
            kind="appointment.completed",
            subject=visit,
            payload={"patient_mis_id": patient_id, "status": "completed"},
            created_at=utcnow(),
        )
    )


def _rows(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_the_file_follows_the_text_in_each_chat_language_and_thread(
    config: Config, factory: sessionmaker[Session]
) -> None:
    pdf = pdf_bytes()
    with transaction(factory) as s:
        anna = patient(s, "p1")
        russian, english = chat_for(s, anna), chat_for(s, anna, language="en")
        instruction = _with_file(
            s, config, pdf, "памятка.pdf", title_en="After an extraction", text_en="Do not eat."
        )
        _complete(s, "v1", "p1")
        chats = {russian.chat_id: "ru", english.chat_id: "en"}
        instruction_id = instruction.id
    Rules(config).process_pending(factory)

    rows = _rows(factory)
    assert [(r.kind, chats[r.chat_id]) for r in rows] == [
        ("care", "ru"), ("file", "ru"), ("care", "en"), ("file", "en"),
    ]  # fmt: skip
    text_ru, file_ru, text_en, file_en = rows
    assert "После удаления зуба\n\nНе ешьте 2 часа." in text_ru.text
    assert text_en.text.startswith("Анна Сергеевна, care instructions after your visit")
    assert "After an extraction\n\nDo not eat." in text_en.text
    assert (file_ru.text, file_en.text) == ("📎 После удаления зуба", "📎 After an extraction")
    for text, file in ((text_ru, file_ru), (text_en, file_en)):
        # In its turn: the same priority and due time, queued right after the text.
        assert (file.due_at, file.priority, file.respect_quiet_hours) == (
            text.due_at, text.priority, True,
        )  # fmt: skip
        assert file.patient_mis_id == "p1" and file.key.startswith("staff-reply:")
        assert outgoing_file(factory, config, file) == (pdf, "памятка.pdf", False)
    with factory() as s:
        lines = s.scalars(select(ThreadMessage).order_by(ThreadMessage.id)).all()
        kept = s.scalar(select(CareSent))
    assert [(ln.direction, ln.kind, ln.author, ln.file_name) for ln in lines] == [
        ("out", "document", "", "памятка.pdf")
    ] * 2
    assert {ln.outbox_id for ln in lines} == {file_ru.id, file_en.id}
    assert kept is not None and kept.instruction_id == instruction_id
    assert (kept.title_en, kept.text_en, kept.file_name) == (
        "After an extraction", "Do not eat.", "памятка.pdf",
    )  # fmt: skip

    # A repeated completion sends neither again.
    with transaction(factory) as s:
        s.add(
            DomainEvent(
                key="appointment.completed:v1:again",
                kind="appointment.completed",
                subject="v1",
                payload={"patient_mis_id": "p1", "status": "completed"},
                created_at=utcnow(),
            )
        )
    Rules(config).process_pending(factory)
    assert len(_rows(factory)) == 4


def test_an_image_goes_as_a_photo_and_english_without_a_text_gets_russian(
    config: Config, factory: sessionmaker[Session]
) -> None:
    png = image_bytes("PNG")
    with transaction(factory) as s:
        chat_for(s, patient(s, "p1"), language="en")
        _with_file(s, config, png, "scheme.png")
        _complete(s, "v1", "p1")
    Rules(config).process_pending(factory)
    text, file = _rows(factory)
    assert "После удаления зуба\n\nНе ешьте 2 часа." in text.text
    assert file.text == "📎 После удаления зуба"
    assert outgoing_file(factory, config, file) == (png, "scheme.png", True)
    with factory() as s:
        assert s.scalar(select(ThreadMessage.kind)) == "photo"


def test_an_attachment_gone_from_disk_leaves_the_text_alone(
    config: Config, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        chat_for(s, patient(s, "p1"))
        row = _with_file(s, config, pdf_bytes(), "a.pdf")
        path = attachments.path_of(config, row.file_path)
        _complete(s, "v1", "p1")
    assert path is not None
    path.unlink()
    Rules(config).process_pending(factory)
    assert [r.kind for r in _rows(factory)] == ["care"]
    with factory() as s:
        assert s.scalar(select(ThreadMessage.id)) is None
