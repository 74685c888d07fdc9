"""Signing a document in the bot, end to end through the Telegram emulator and real
pyTelegramBotAPI: the clinic sends a contract, Anna reads the PDF, presses «Подписать»,
gets the code by SMS (the SMS.ru stand-in), types it, and receives the signed copy — which
the test parses back (the signature page's text) and validates with pyHanko. A tampered
copy and a tampered record both fail `kabinet documents verify`; five wrong codes lock the
document; a stale, foreign, expired or unlinked press signs nothing and says why."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import delete, select

from core.clock import utcnow
from core.db import make_engine, session_factory, transaction
from core.documents import pades, requests, templates
from core.documents.models import DocumentRequest, DocumentSignature
from core.migrate import upgrade
from core.models import PatientLink, Task
from jobs.runner import Appliance
from sandbox.demo_clinic import persona
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator
from tests.conftest import TOKEN, Wired, make_config
from tests.e2e.flows import buttons, connect
from tests.e2e.max_wired import MaxWired, max_emu, max_wired, smsru

__all__ = ["max_emu", "max_wired", "smsru"]  # fixtures

pytestmark = pytest.mark.clock

SMS_API_ID = "documents-e2e-sms"
CODE = re.compile(r"\b(\d{6})\b")
CONTRACT = (
    "<h1>Договор на оказание платных медицинских услуг</h1>"
    "<p>Пациент: {{ФИО}}, дата рождения {{дата_рождения}}.</p>"
    "<p>Визит {{дата_визита}} в {{время_визита}}, врач {{врач}}.</p>{{услуги}}"
)


@pytest.fixture
def sms_gateway() -> Iterator[SmsRuEmulator]:
    with SmsRuEmulator([SMS_API_ID]) as emu:
        yield emu


def _wire(tmp_path: Path, emulator: TelegramEmulator, sms: SmsRuEmulator, *, sms_on: bool) -> Wired:
    staff_user = emulator.create_user(first_name="Ольга", last_name="Админова")
    staff_chat = emulator.create_group(title="Администраторы", member_ids=[staff_user["id"]])
    cfg = make_config(
        tmp_path,
        telegram={"token": TOKEN, "api_url": emulator.url, "staff_chat_id": staff_chat},
        messaging={
            "reminder_send_at": "00:00",
            "sms_enabled": sms_on,
            "sms_api_url": sms.url,
            "sms_api_id": SMS_API_ID,
        },
        documents={"code_in_chat": not sms_on},
        web={"secret_key": "documents-e2e-secret"},
    )
    Path(cfg.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.storage.url)
    upgrade(engine, Path(cfg.storage.data_dir, "migrate.lock"))
    return Wired(Appliance(cfg, factory=session_factory(engine)), emulator, cfg, staff_chat)


@pytest.fixture
def sms_wired(
    tmp_path: Path, emulator: TelegramEmulator, sms_gateway: SmsRuEmulator, demo_clinic
) -> Iterator[Wired]:  # type: ignore[no-untyped-def]
    wired = _wire(tmp_path, emulator, sms_gateway, sms_on=True)
    yield wired
    wired.appliance.stop()


@pytest.fixture
def chat_wired(
    tmp_path: Path, emulator: TelegramEmulator, sms_gateway: SmsRuEmulator, demo_clinic
) -> Iterator[Wired]:  # type: ignore[no-untyped-def]
    wired = _wire(tmp_path, emulator, sms_gateway, sms_on=False)
    yield wired
    wired.appliance.stop()


def send_contract(wired: Wired, title: str = "Договор на платные услуги") -> int:
    """The clinic sends Anna the contract from a template; returns the request's id."""
    anna = persona("anna")
    with transaction(wired.appliance.factory) as s:
        template, _ = templates.save(
            s, None, title=title, body=CONTRACT, pep_allowed=True, who="Ольга", now=utcnow()
        )
        request = requests.send_template(
            s, wired.config, template.id, str(anna.patient_id), who="Ольга Админова", now=utcnow()
        )
        return request.id


def offer(wired: Wired, chat: int, seen: int) -> dict:
    return wired.wait_messages(chat, seen + 1)[-1]


def test_anna_signs_the_contract_with_a_code_by_sms(
    sms_wired: Wired, sms_gateway: SmsRuEmulator
) -> None:
    smsru = sms_gateway
    wired, emu = sms_wired, sms_wired.emulator
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    seen = len(emu.messages(chat))
    request_id = send_contract(wired)

    message = offer(wired, chat, seen)
    assert message["caption"].startswith("Документ на подпись: «Договор на платные услуги».")
    assert "придёт SMS с кодом" in message["caption"]
    assert [t for t, _ in buttons(message)] == ["✍️ Подписать", "Есть вопросы", "Не подписывать"]
    original, _ = emu.file_bytes(message["document"]["file_id"])
    text = pypdf.PdfReader(BytesIO(original)).pages[0].extract_text()
    assert "Иванова Анна Сергеевна" in text and "Договор на оказание платных" in text

    emu.press(chat, message["message_id"], f"ds:{request_id}")
    asked = wired.wait_messages(chat, seen + 3)
    assert asked[-2]["text"].startswith("Перед первой подписью — соглашение об использовании")
    assert "…" + anna.phone_e164[-4:] in asked[-1]["text"]
    wired.pump(lambda: bool(smsru.sent))
    code = CODE.search(smsru.sent[-1].msg).group(1)  # type: ignore[union-attr]
    assert smsru.sent[-1].to.lstrip("+") == anna.phone_e164.lstrip("+")

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    emu.send_text(chat, wrong)
    assert wired.wait_messages(chat, seen + 4)[-1]["text"] == "Код не подошёл. Осталось попыток: 4."

    emu.send_text(chat, code)
    done = wired.wait_messages(chat, seen + 6)
    assert done[-2]["text"].startswith("Документ «Договор на платные услуги» подписан ")
    signed, _ = emu.file_bytes(done[-1]["document"]["file_id"])
    assert signed[: len(original)] == original  # the original's bytes, untouched

    # The signature page says who, when and what.
    page = pypdf.PdfReader(BytesIO(signed)).pages[-1].extract_text()
    assert "Лист подписи простой электронной подписью" in page
    assert "Иванова Анна Сергеевна" in page
    assert hashlib.sha256(original).hexdigest() in "".join(page.split())
    assert "код из SMS" in page

    # pyHanko: intact, by the clinic's certificate, over the whole file.
    reader = PdfFileReader(BytesIO(signed))
    context = ValidationContext(trust_roots=[pades.trusted_certificate(wired.config)])
    status = validate_pdf_signature(reader.embedded_signatures[0], context)
    assert status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"

    with wired.appliance.factory() as s:
        rows = s.scalars(select(DocumentSignature).order_by(DocumentSignature.id)).all()
        request = s.get(DocumentRequest, request_id)
        assert [r.kind for r in rows] == ["agreement", "document"]
        assert rows[1].document_sha256 == hashlib.sha256(original).hexdigest()
        assert rows[1].prev_hash == rows[0].record_hash
        assert rows[1].code_hash == "" or code not in rows[1].code_hash
        assert rows[1].phone == anna.phone_e164 and rows[1].agreement_version == "1"
        assert (
            request.state == "signed"
            and request.signed_pdf_sha256 == hashlib.sha256(signed).hexdigest()
        )

    # The CLI: the chain holds, the copy is exactly the signed one ...
    copy = Path(wired.config.storage.data_dir, "copy.pdf")
    copy.write_bytes(signed)
    ok = _cli(wired, ["documents", "verify", str(copy)])
    assert ok.exit_code == 0, ok.output
    assert (
        "✓ Это в точности подписанная копия" in ok.output and "Иванова Анна Сергеевна" in ok.output
    )
    assert _cli(wired, ["documents", "verify"]).exit_code == 0

    # ... a byte changed in the document is found ...
    tampered = bytearray(signed)
    at = tampered.find(b"/MediaBox")
    tampered[at + 11 : at + 12] = b"9" if tampered[at + 11 : at + 12] != b"9" else b"8"
    copy.write_bytes(bytes(tampered))
    bad = _cli(wired, ["documents", "verify", str(copy)])
    assert bad.exit_code == 1 and "файл изменён после подписи" in bad.output, bad.output
    # ... so is anything appended after the signature.
    copy.write_bytes(signed + b"\n%% added later\n")
    assert "добавлено" in _cli(wired, ["documents", "verify", str(copy)]).output

    # A record altered behind the ORM's back breaks the chain.
    db = sqlite3.connect(Path(wired.config.storage.data_dir, "kabinet.sqlite3"))
    db.execute("UPDATE document_signatures SET phone = '+70000000000' WHERE kind = 'document'")
    db.commit()
    db.close()
    broken = _cli(wired, ["documents", "verify"])
    assert broken.exit_code == 1 and "запись № 2 изменена после подписи" in broken.output
    copy.write_bytes(signed)
    assert _cli(wired, ["documents", "verify", str(copy)]).exit_code == 1


def _cli(wired: Wired, args: list[str]):  # type: ignore[no-untyped-def]
    from app.cli import cli

    config_path = Path(wired.config.storage.data_dir, "kabinet.toml")
    if not config_path.exists():
        config_path.write_text(
            f'[clinic]\nname = "Тестовая клиника"\n[storage]\ndata_dir = "{wired.config.storage.data_dir}"\n'
            f'[web]\nsecret_key = "documents-e2e-secret"\n'
        )
    return CliRunner().invoke(cli, ["--config", str(config_path), *args])


def shown_code(message: dict) -> str:
    found = CODE.search(message["text"])
    assert found, message["text"]
    return found.group(1)


def press_and_read(
    wired: Wired, chat: int, message_id: int, data: str, replies: int = 1
) -> list[dict]:
    seen = len(wired.emulator.messages(chat))
    wired.emulator.press(chat, message_id, data)
    return wired.wait_messages(chat, seen + replies)[seen:]


def type_and_read(wired: Wired, chat: int, typed: str, replies: int = 1) -> list[dict]:
    seen = len(wired.emulator.messages(chat))
    wired.emulator.send_text(chat, typed)
    return wired.wait_messages(chat, seen + replies)[seen:]


def test_five_wrong_codes_lock_the_document_for_fifteen_minutes_and_tell_the_staff(
    chat_wired: Wired, clock
) -> None:  # type: ignore[no-untyped-def]
    wired, emu = chat_wired, chat_wired.emulator
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    seen = len(emu.messages(chat))
    request_id = send_contract(wired)
    message = offer(wired, chat, seen)
    assert "бот покажет код" in message["caption"]  # the weaker way, said so

    agreement_text, asked = press_and_read(
        wired, chat, message["message_id"], f"ds:{request_id}", 2
    )
    assert "Соглашение об использовании простой электронной подписи" in agreement_text["text"]
    code = shown_code(asked)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        assert (
            type_and_read(wired, chat, wrong)[0]["text"]
            == f"Код не подошёл. Осталось попыток: {left}."
        )
    locked = type_and_read(wired, chat, wrong)[0]["text"]
    assert locked.startswith(
        "Пять неверных кодов: подпись «Договор на платные услуги» заблокирована до "
    )
    with wired.appliance.factory() as s:
        task = s.scalar(select(Task).where(Task.kind == "document_locked"))
        assert task is not None and "Пять неверных кодов" in task.text
        assert s.get(DocumentRequest, request_id).state == "waiting"
    wired.pump(
        lambda: any(
            "Пять неверных кодов" in (m.get("text") or "")
            for m in emu.messages(wired.staff_chat_id)
        )
    )
    # Even the right code does nothing now: the code is gone, and the chat is told why.
    assert "заблокирована до" in type_and_read(wired, chat, code)[0]["text"]
    still = press_and_read(wired, chat, message["message_id"], f"ds:{request_id}")[0]["text"]
    assert still.startswith("Подпись «Договор на платные услуги» заблокирована до ")

    # Fifteen minutes on, a new code signs it.
    clock.advance(timedelta(minutes=16))
    agreement_again, asked = press_and_read(
        wired, chat, message["message_id"], f"ds:{request_id}", 2
    )
    done = type_and_read(wired, chat, shown_code(asked), 2)
    assert done[0]["text"].startswith("Документ «Договор на платные услуги» подписан")
    assert done[1]["document"]["file_name"] == "Договор_на_платные_услуги_подписан.pdf"
    with wired.appliance.factory() as s:
        assert s.get(DocumentRequest, request_id).state == "signed"
        assert [r.code_method for r in s.scalars(select(DocumentSignature))] == ["chat", "chat"]

    # Another document, declined: nothing signed, the panel's «Отклонены» shows it.
    seen = len(emu.messages(chat))
    declined_id = send_contract(wired, "Согласие на рассылку")
    second = offer(wired, chat, seen)
    no = press_and_read(wired, chat, second["message_id"], f"dn:{declined_id}")[0]["text"]
    assert no.startswith("Вы отказались подписывать «Согласие на рассылку»: ничего не подписано")
    late = press_and_read(wired, chat, second["message_id"], f"ds:{declined_id}")[0]["text"]
    assert late == "Документ отклонён: ничего не подписано."
    with wired.appliance.factory() as s:
        assert s.get(DocumentRequest, declined_id).state == "declined"
        assert s.query(DocumentSignature).count() == 2

    # The menu's «📄 Мои документы» lists the signed one only.
    mine = type_and_read(wired, chat, "📄 Мои документы")[0]["text"]
    assert mine.startswith("Ваши документы:\n✅ «Договор на платные услуги» — подписан ")
    assert "Согласие на рассылку" not in mine


def test_nothing_is_signed_by_a_foreign_stale_expired_or_unlinked_press_or_another_documents_code(
    chat_wired: Wired, clock
) -> None:  # type: ignore[no-untyped-def]
    wired, emu = chat_wired, chat_wired.emulator
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    seen = len(emu.messages(chat))
    first = send_contract(wired, "Договор")
    contract = offer(wired, chat, seen)
    second = send_contract(wired, "План лечения")
    plan = offer(wired, chat, seen + 1)

    # A code for another document: the plan's press ends the contract's code.
    _, asked_contract = press_and_read(wired, chat, contract["message_id"], f"ds:{first}", 2)
    code_contract = shown_code(asked_contract)
    _, asked_plan = press_and_read(wired, chat, plan["message_id"], f"ds:{second}", 2)
    other = type_and_read(wired, chat, code_contract)[0]["text"]
    assert other.startswith("Это код для другого документа («Договор»), он больше не действует.")

    # A press in another chat, with data that chat never got, is refused by the router.
    boris = emu.create_user(first_name="Борис")
    emu.send_text(boris["id"], "/start")
    his = wired.wait_messages(boris["id"], 1)[-1]
    emu.press(boris["id"], his["message_id"], f"ds:{first}", force=True)
    wired.pump(lambda: any(a.get("text") == "Эта кнопка не для вас." for a in emu.callback_answers))

    # The plan is signed; its button pressed again says so.
    type_and_read(wired, chat, shown_code(asked_plan), 2)
    again = press_and_read(wired, chat, plan["message_id"], f"ds:{second}")[0]["text"]
    assert again.startswith("Документ уже подписан ")

    # Unlinked since: nothing is signed.
    with transaction(wired.appliance.factory) as s:
        link = s.scalar(
            select(PatientLink).where(PatientLink.patient_mis_id == str(anna.patient_id))
        )
        saved = (link.subscriber_id, link.phone)
        s.execute(delete(PatientLink).where(PatientLink.id == link.id))
    unlinked = press_and_read(wired, chat, contract["message_id"], f"ds:{first}")[0]["text"]
    assert unlinked.startswith("Этот чат больше не связан с картой пациента")
    with transaction(wired.appliance.factory) as s:
        s.add(
            PatientLink(subscriber_id=saved[0], patient_mis_id=str(anna.patient_id), phone=saved[1])
        )

    # Seven days on the contract's request has expired.
    clock.advance(timedelta(days=7, minutes=1))
    expired = press_and_read(wired, chat, contract["message_id"], f"ds:{first}")[0]["text"]
    assert expired.startswith("Срок подписи истёк ")
    with wired.appliance.factory() as s:
        states = {r.id: r.state for r in s.scalars(select(DocumentRequest))}
        kinds = [
            r.title
            for r in s.scalars(
                select(DocumentSignature).where(DocumentSignature.kind == "document")
            )
        ]
    assert states == {first: "expired", second: "signed"} and kinds == ["План лечения"]

    # «Мои документы» lists the signed plan with a button for its copy.
    listing = type_and_read(wired, chat, "/documents")[0]
    assert "✅ «План лечения» — подписан" in listing["text"]
    copy = press_and_read(wired, chat, listing["message_id"], f"dc:{second}")[0]
    assert copy["caption"] == "«План лечения»: подписанная копия"

    # «Есть вопросы» opens an episode of the thread.
    assert (
        "Напишите ваш вопрос"
        in press_and_read(wired, chat, contract["message_id"], f"dq:{first}")[0]["text"]
    )
    with wired.appliance.factory() as s:
        task = s.scalar(select(Task).where(Task.kind == "document_question"))
        assert task is not None and task.conversation_id is not None


def test_the_same_signature_in_max(max_wired: MaxWired) -> None:
    """MAX: the PDF goes through /uploads with the buttons, the code by SMS to the MIS number,
    the signed copy back as a file; the chain names MAX and how its chat was linked."""
    wired, phone = max_wired, max_wired.emulator
    assert wired.max_emulator is not None and wired.sms is not None
    anna = persona("anna")
    wired.appliance.sync_job()
    chat = connect(wired, "anna", anna.name, anna.surname)
    seen = len(phone.messages(chat))
    request_id = send_contract(wired)
    message = offer(wired, chat, seen)
    assert message["text"].startswith("Документ на подпись: «Договор на платные услуги».")
    files = [a for a in message["max"]["body"]["attachments"] if a["type"] == "file"]
    original = wired.max_emulator.uploads[files[0]["payload"]["token"]]
    assert original.startswith(b"%PDF-")
    sent_before = len(wired.sms.sent)
    phone.press(chat, message["message_id"], f"ds:{request_id}")
    wired.wait_messages(chat, seen + 3)
    wired.pump(lambda: len(wired.sms.sent) > sent_before)
    code = CODE.search(wired.sms.sent[-1].msg).group(1)  # type: ignore[union-attr, arg-type]
    phone.send_text(chat, code)
    done = wired.wait_messages(chat, seen + 5)
    assert done[-2]["text"].startswith("Документ «Договор на платные услуги» подписан ")
    signed_files = [a for a in done[-1]["max"]["body"]["attachments"] if a["type"] == "file"]
    signed = wired.max_emulator.uploads[signed_files[0]["payload"]["token"]]
    assert signed[: len(original)] == original
    assert pades.check(wired.config, signed).ok
    with wired.appliance.factory() as s:
        row = s.scalar(select(DocumentSignature).where(DocumentSignature.kind == "document"))
    assert row is not None and row.channel == "max" and "код из SMS" in row.linked_how
