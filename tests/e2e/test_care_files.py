"""A care instruction with its attachment, end to end: the owner uploads a PDF (or an image)
and an English text in the panel, the demo clinic completes Anna's visit, and after the
delay her chat gets the text and then the file — in Telegram and in MAX, through the
channel layer, the file recorded in her thread as the bot's line. In English she gets the
English text; «Рекомендации» shows it again, with the file."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import select

from core.conversations.models import ThreadMessage
from core.models import Appointment, CareInstruction, Subscriber
from sandbox.demo_clinic import persona
from tests.conftest import Persona, Wired
from tests.core.test_care_files import image_bytes, pdf_bytes
from tests.e2e.flows import appointment_mis_id, confirm_reminder, connect
from tests.e2e.max_wired import MaxWired, max_emu, max_wired, smsru

__all__ = ["max_emu", "max_wired", "smsru"]  # fixtures

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def _upload(wired: Wired, app_for, data: bytes, name: str, **english: str) -> int:  # type: ignore[no-untyped-def]
    """The owner attaches the file to «После пломбирования» and turns it on."""
    owner = Persona(app_for(wired.config).test_client(), "owner")
    with wired.appliance.factory() as s:
        filling = s.scalar(
            select(CareInstruction).where(CareInstruction.title == "После пломбирования")
        )
        assert filling is not None
        form = {
            "title": filling.title,
            "text": filling.text,
            "services": filling.services,
            "specialties": filling.specialties,
            "delay_minutes": str(filling.delay_minutes),
            "enabled": "1",
            **english,
            "attachment": (BytesIO(data), name),
        }
    assert owner.post(f"/care/{filling.id}", form).status_code == 302
    return filling.id


def _treated(wired: Wired, demo_clinic, chat: int, clock) -> None:  # type: ignore[no-untyped-def]
    """Her visit is confirmed, she comes after its start and is treated."""
    appointment_id = confirm_reminder(wired, chat)
    visit = appointment_mis_id(wired, appointment_id)
    with wired.appliance.factory() as s:
        starts_at = s.get(Appointment, appointment_id).starts_at
    clock.set(starts_at + timedelta(minutes=40))
    demo_clinic.arrive(visit)
    demo_clinic.complete(visit)
    wired.appliance.sync_job()


def _lines(wired: Wired) -> list[tuple[str, str, str, str]]:
    with wired.appliance.factory() as s:
        return [
            (ln.direction, ln.kind, ln.author, ln.file_name)
            for ln in s.scalars(
                select(ThreadMessage)
                .where(ThreadMessage.file_path.like("care/%"))
                .order_by(ThreadMessage.id)
            )
        ]


def test_telegram_the_pdf_follows_the_text_after_the_visit(
    wired: Wired, demo_clinic, app_for, clock
) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    pdf = pdf_bytes()
    _upload(wired, app_for, pdf, "Памятка после пломбы.pdf")
    _treated(wired, demo_clinic, chat, clock)
    seen = len(emu.messages(chat))
    for _ in range(3):
        appliance.dispatcher.dispatch_once()
    assert len(emu.messages(chat)) == seen  # not before the delay

    clock.advance(timedelta(minutes=31))
    text, document = wired.wait_messages(chat, seen + 2)[-2:]
    assert text["text"].startswith("Анна Сергеевна, рекомендации после визита сегодня")
    assert document["caption"] == "📎 После пломбирования"
    assert document["document"]["file_name"] == "Памятка после пломбы.pdf"
    assert emu.file_bytes(document["document"]["file_id"])[0] == pdf
    assert _lines(wired) == [("out", "document", "", "Памятка после пломбы.pdf")]

    # Asked for again, the instruction comes with its file.
    emu.send_text(chat, "📋 Рекомендации")
    shown, again = wired.wait_messages(chat, seen + 4)[-2:]
    assert shown["text"].startswith("Визит ") and "После пломбирования" in shown["text"]
    assert emu.file_bytes(again["document"]["file_id"])[0] == pdf
    assert len(_lines(wired)) == 2


def test_max_in_english_the_image_follows_the_english_text(
    max_wired: MaxWired, demo_clinic, app_for, clock
) -> None:  # type: ignore[no-untyped-def]
    wired, phone = max_wired, max_wired.emulator
    assert wired.max_emulator is not None
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    with wired.appliance.factory() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.channel == "max"))
        assert sub is not None
        sub.language = "en"  # as «Настройки» → «English» sets it (tests/e2e/test_menu.py)
        s.commit()
    png = image_bytes("PNG")
    _upload(
        wired, app_for, png, "scheme.png",
        title_en="After a filling", text_en="Do not eat for two hours.",
    )  # fmt: skip
    _treated(wired, demo_clinic, chat, clock)
    seen = len(phone.messages(chat))
    clock.advance(timedelta(minutes=31))
    text, image = wired.wait_messages(chat, seen + 2)[-2:]
    assert text["text"].startswith("Анна Сергеевна, care instructions after your visit")
    assert "After a filling\n\nDo not eat for two hours." in text["text"]
    assert image["text"] == "📎 After a filling"
    images = [a for a in image["max"]["body"]["attachments"] if a["type"] == "image"]
    assert wired.max_emulator.uploads[images[0]["payload"]["token"]] == png
    assert _lines(wired) == [("out", "photo", "", "scheme.png")]
