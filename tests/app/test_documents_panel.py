"""«Документы» in the panel: templates (unknown placeholders refused with the reason),
sending from the patient card (a template or an uploaded PDF), withdrawing, a template
edited after sending voiding the request, the ПЭП agreement's versions, and checking a PDF;
signed documents cannot be withdrawn or changed."""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.documents import render, signing
from core.documents.models import (
    DocumentRequest,
    DocumentSignature,
    DocumentTemplate,
    PepAgreement,
)
from core.models import OutboxMessage, Patient, PatientLink, Subscriber
from tests.conftest import Persona, make_config

BODY = "<h1>Согласие на обработку данных</h1><p>Я, {{ФИО}}, {{дата_рождения}} г. р., согласна.</p>"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, documents={"code_in_chat": True}, web={"secret_key": "panel-docs"})


@pytest.fixture
def vera(factory) -> int:  # type: ignore[no-untyped-def]
    """A patient with a linked chat; returns the chat's subscriber id."""
    with transaction(factory) as s:
        s.add(
            Patient(
                mis_id="p-7",
                last_name="Орлова",
                first_name="Вера",
                middle_name="Игоревна",
                birth_date=date(1990, 5, 17),
                phones=["+79155557788"],
            )
        )
        sub = Subscriber(telegram_user_id=501, chat_id=501, first_name="Вера")
        s.add(sub)
        s.flush()
        s.add(PatientLink(subscriber_id=sub.id, patient_mis_id="p-7", phone="+79155557788"))
        return sub.id


def make_template(
    persona: Persona, body: str = BODY, title: str = "Согласие на обработку ПД"
) -> None:
    response = persona.post(
        "/documents/templates/new", {"title": title, "body": body, "pep_allowed": "1"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def template_id(factory, title: str) -> int:  # type: ignore[no-untyped-def]
    with factory() as s:
        return int(s.scalar(select(DocumentTemplate.id).where(DocumentTemplate.title == title)))


def test_unknown_placeholders_and_outside_links_are_refused_with_the_reason(
    manager: Persona, administrator: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    bad = manager.post(
        "/documents/templates/new",
        {"title": "Договор", "body": "<p>{{ФИО}} {{Фамилия_пациента}}</p>"},
    )
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "Неизвестные поля: {{Фамилия_пациента}}. Доступны: {{ФИО}}" in page
    outside = manager.post(
        "/documents/templates/new", {"title": "Договор", "body": "<img src='file:///etc/passwd'>"}
    )
    assert outside.status_code == 400 and "ссылка на внешний файл" in outside.get_data(as_text=True)
    assert (
        administrator.post(
            "/documents/templates/new", {"title": "Договор", "body": BODY}
        ).status_code
        == 403
    )
    with factory() as s:
        assert s.scalars(select(DocumentTemplate)).all() == []


def test_sent_from_the_card_then_voided_by_an_edit_then_withdrawn(
    manager: Persona, administrator: Persona, factory, vera: int
) -> None:  # type: ignore[no-untyped-def]
    make_template(manager)
    tid = template_id(factory, "Согласие на обработку ПД")
    card = administrator.get("/patients/p-7").get_data(as_text=True)
    assert 'id="patient-documents"' in card and "Согласие на обработку ПД" in card
    assert "слабее, чем SMS" in card

    assert (
        administrator.post("/documents/send", {"patient": "p-7", "template": str(tid)}).status_code
        == 302
    )
    with factory() as s:
        request = s.scalar(select(DocumentRequest))
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "file"))
        assert request.state == "waiting" and request.created_by == "Ольга Админова"
        assert row.chat_id == 501 and [
            b["callback_data"] for b in row.reply_markup["inline_keyboard"][0]
        ] == [f"ds:{request.id}", f"dq:{request.id}"]
    listing = administrator.get("/documents/").get_data(as_text=True)
    assert "Ждут подписи (1)" in listing and "Орлова Вера Игоревна" in listing
    pdf = administrator.get(f"/documents/requests/{request.id}/original.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")

    # The template is edited: what was sent from the old version is void, and Vera is told.
    edited = manager.post(
        f"/documents/templates/{tid}",
        {
            "title": "Согласие на обработку ПД",
            "body": BODY + "<p>Дополнение.</p>",
            "pep_allowed": "1",
        },
    )
    assert edited.status_code == 302
    with factory() as s:
        assert s.get(DocumentRequest, request.id).state == "void"
        notices = [
            m.text for m in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reply"))
        ]
    assert notices == [
        "Документ «Согласие на обработку ПД» изменён в клинике: отправленный вариант больше не подписывается."
    ]

    # Sent again, then withdrawn before it is signed.
    administrator.post("/documents/send", {"patient": "p-7", "template": str(tid)})
    with factory() as s:
        second = s.scalar(select(DocumentRequest).where(DocumentRequest.state == "waiting"))
    assert administrator.post(f"/documents/requests/{second.id}/withdraw").status_code == 302
    with factory() as s:
        assert s.get(DocumentRequest, second.id).state == "withdrawn"


def test_an_uploaded_pdf_for_one_patient_and_a_file_that_is_not_one(
    administrator: Persona, factory, vera: int
) -> None:  # type: ignore[no-untyped-def]
    client = administrator.client
    junk = client.post(
        "/documents/send",
        data={
            "patient": "p-7",
            "csrf_token": administrator.csrf(),
            "pdf": (BytesIO(b"hello"), "plan.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert junk.status_code == 302
    assert "Это не PDF" in client.get("/patients/p-7").get_data(as_text=True)
    plan = render.html_to_pdf("<h1>План лечения</h1><p>Имплантация 46: 55 000 ₽</p>", "План")
    sent = client.post(
        "/documents/send",
        data={
            "patient": "p-7",
            "csrf_token": administrator.csrf(),
            "title": "План лечения и смета",
            "pdf": (BytesIO(plan), "plan.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    with factory() as s:
        request = s.scalar(select(DocumentRequest))
    assert (request.source, request.title) == ("upload", "План лечения и смета")


def test_a_signed_document_is_verified_and_cannot_be_withdrawn(
    manager: Persona, administrator: Persona, factory, config: Config, vera: int
) -> None:  # type: ignore[no-untyped-def]
    make_template(manager)
    administrator.post(
        "/documents/send",
        {"patient": "p-7", "template": str(template_id(factory, "Согласие на обработку ПД"))},
    )
    with transaction(factory) as s:
        request = s.scalar(select(DocumentRequest))
        sub = s.get(Subscriber, vera)
        asked = signing.press_sign(s, config, sub, request.id, utcnow())
        code = re.search(r"\b(\d{6})\b", asked.replies[-1][0]).group(1)  # type: ignore[union-attr]
        done = signing.enter_code(s, config, sub, code, utcnow())
        assert done.signed is not None
        for then in done.then:
            then()
    refused = administrator.post(f"/documents/requests/{request.id}/withdraw")
    assert refused.status_code == 302
    with factory() as s:
        assert s.get(DocumentRequest, request.id).state == "signed"
    assert "уже не ждёт подписи (подписан)" in administrator.get("/documents/").get_data(
        as_text=True
    )

    signed = administrator.get(f"/documents/requests/{request.id}/signed.pdf").data
    client = administrator.client
    ok = client.post(
        "/documents/verify",
        data={"csrf_token": administrator.csrf(), "pdf": (BytesIO(signed), "a.pdf")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert 'data-ok="yes"' in ok and "Орлова Вера Игоревна" in ok
    with factory() as s:
        row = s.get(DocumentSignature, request.signature_id)
    by_qr = administrator.get(f"/documents/verify?record={row.id}&hash={row.record_hash}")
    assert by_qr.status_code == 200 and "✓ Запись журнала цела" in by_qr.get_data(as_text=True)
    wrong = administrator.get(f"/documents/verify?record={row.id}&hash={'0' * 64}")
    assert wrong.status_code == 404 and "другой хеш" in wrong.get_data(as_text=True)
    changed = (
        signed.replace(b"/Type /Page", b"/Type /Page ", 1)
        if b"/Type /Page" in signed
        else signed + b"x"
    )
    bad = client.post(
        "/documents/verify",
        data={
            "csrf_token": administrator.csrf(),
            "pdf": (BytesIO(changed[:-10] + b"0000000000"), "a.pdf"),
        },
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert 'data-ok="no"' in bad


def test_the_agreement_is_versioned(manager: Persona, administrator: Persona, factory) -> None:  # type: ignore[no-untyped-def]
    page = manager.get("/documents/").get_data(as_text=True)
    assert "текст по умолчанию (версия 1)" in page and "никому не сообщать код" in page
    assert (
        manager.post("/documents/agreement", {"text": "Новое соглашение о ПЭП."}).status_code == 302
    )
    assert administrator.post("/documents/agreement", {"text": "Иное."}).status_code == 403
    with factory() as s:
        assert [a.version for a in s.scalars(select(PepAgreement))] == ["2"]


def test_sent_from_the_thread(
    manager: Persona, administrator: Persona, factory, config: Config, vera: int
) -> None:  # type: ignore[no-untyped-def]
    from core.tasks import create_task

    make_template(manager)
    with transaction(factory) as s:
        task = create_task(
            s,
            config,
            kind="message",
            key="m:1",
            text="Вопрос про договор",
            subscriber_id=vera,
            patient_mis_id="p-7",
        )
        task_id = task.id
    page = administrator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "Документ на подпись" in page and "Согласие на обработку ПД" in page
    sent = administrator.post(
        "/documents/send",
        {
            "patient": "p-7",
            "back": f"/tasks/{task_id}",
            "template": str(template_id(factory, "Согласие на обработку ПД")),
        },
    )
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/tasks/{task_id}")
    elsewhere = administrator.post(
        "/documents/send", {"patient": "p-7", "back": "//evil.example/x", "template": "0"}
    )
    assert elsewhere.headers["Location"].endswith("/patients/p-7")
    with factory() as s:
        assert s.scalar(select(DocumentRequest.state)) == "waiting"


def test_the_first_visit_rule_is_chosen_on_documents(
    manager: Persona, administrator: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    from core.documents import rules

    make_template(manager)
    tid = template_id(factory, "Согласие на обработку ПД")
    assert administrator.post("/documents/first-visit", {"template": str(tid)}).status_code == 403
    assert manager.post("/documents/first-visit", {"template": str(tid)}).status_code == 302
    page = manager.get("/documents/").get_data(as_text=True)
    assert "уйдёт каждому пациенту перед первым визитом" in page
    with factory() as s:
        assert rules.first_visit_template(s).id == tid  # type: ignore[union-attr]
    assert manager.post("/documents/first-visit", {"template": ""}).status_code == 302
    with factory() as s:
        assert rules.first_visit_template(s) is None


# Malformed input on each of the screen's forms (app/views/document_forms.py): refused with
# the reason in Russian (on the page, or flashed on the card it was sent from), nothing
# created or changed.


def _count(factory, model) -> int:  # type: ignore[no-untyped-def]
    with factory() as s:
        return len(s.scalars(select(model)).all())


@pytest.mark.parametrize(
    ("form", "reasons"),
    [
        ({}, ["Укажите название документа.", "Текст документа пустой."]),
        ({"title": "   ", "body": BODY}, ["Укажите название документа."]),
        ({"title": "я" * 201, "body": BODY}, ["Название длиннее 200 символов."]),
        ({"title": "Договор", "body": "{{ИНН}}"}, ["Неизвестные поля: {{ИНН}}."]),
    ],
)
def test_a_malformed_template_is_refused_with_the_reasons(
    manager: Persona, factory, form: dict[str, str], reasons: list[str]
) -> None:  # type: ignore[no-untyped-def]
    response = manager.post("/documents/templates/new", form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for reason in reasons:
        assert reason in html, reason
    assert _count(factory, DocumentTemplate) == 0


def test_a_template_edit_that_is_malformed_keeps_the_version_and_what_was_typed(
    manager: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    make_template(manager)
    tid = template_id(factory, "Согласие на обработку ПД")
    response = manager.post(f"/documents/templates/{tid}", {"title": "Новое", "body": " "})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Текст документа пустой." in html and 'value="Новое"' in html
    with factory() as s:
        row = s.get(DocumentTemplate, tid)
        assert (row.title, row.version) == ("Согласие на обработку ПД", 1)


def test_only_the_pages_box_ticks_sending_with_a_simple_signature(
    manager: Persona, factory
) -> None:  # type: ignore[no-untyped-def]
    for value in ("on", "true", "11"):
        response = manager.post(
            "/documents/templates/new", {"title": f"Т {value}", "body": BODY, "pep_allowed": value}
        )
        assert response.status_code == 302
    with factory() as s:
        assert [t.pep_allowed for t in s.scalars(select(DocumentTemplate))] == [False] * 3


@pytest.mark.parametrize("text", ["", "   ", "я" * 3001])
def test_a_malformed_agreement_is_no_new_version(manager: Persona, factory, text: str) -> None:  # type: ignore[no-untyped-def]
    response = manager.post("/documents/agreement", {"text": text})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Текст соглашения не может быть пустым." in html or "длиннее 3000" in html
    assert _count(factory, PepAgreement) == 0


@pytest.mark.parametrize("value", ["abc", "²", "1.5", "1e3", "-"])
def test_a_first_visit_rule_by_no_number_changes_nothing(
    manager: Persona, factory, value: str
) -> None:  # type: ignore[no-untyped-def]
    from core.documents import rules

    make_template(manager)
    tid = template_id(factory, "Согласие на обработку ПД")
    assert manager.post("/documents/first-visit", {"template": str(tid)}).status_code == 302
    response = manager.post("/documents/first-visit", {"template": value})
    assert response.status_code == 400
    assert "Такого шаблона нет." in response.get_data(as_text=True)
    with factory() as s:
        assert rules.first_visit_template(s).id == tid  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"template": "abc"}, "Документ не отправлен: Выберите шаблон или приложите PDF."),
        ({"template": "²"}, "Документ не отправлен: Выберите шаблон или приложите PDF."),
        ({"template": ""}, "Документ не отправлен: Выберите шаблон или приложите PDF."),
        ({"pdf": "not-a-file"}, "Документ не отправлен: Выберите шаблон или приложите PDF."),
        ({"template": "999999"}, "Документ не отправлен:"),
    ],
)
def test_a_malformed_send_is_refused_on_the_card(
    manager: Persona, administrator: Persona, factory, vera: int, form: dict, reason: str
) -> None:  # type: ignore[no-untyped-def]
    make_template(manager)
    response = administrator.post("/documents/send", {"patient": " p-7 ", **form})
    assert response.status_code == 302 and response.headers["Location"].endswith("/patients/p-7")
    assert reason in administrator.get("/patients/p-7").get_data(as_text=True)
    assert _count(factory, DocumentRequest) == 0
    # The same form with the card's template, spaces around its number, is what sends.
    tid = template_id(factory, "Согласие на обработку ПД")
    sent = administrator.post("/documents/send", {"patient": "p-7", "template": f" {tid} "})
    assert sent.status_code == 302 and _count(factory, DocumentRequest) == 1


def test_a_withdraw_without_the_pages_token_or_to_another_site(
    manager: Persona, administrator: Persona, factory, vera: int
) -> None:  # type: ignore[no-untyped-def]
    make_template(manager)
    tid = template_id(factory, "Согласие на обработку ПД")
    administrator.post("/documents/send", {"patient": "p-7", "template": str(tid)})
    with factory() as s:
        rid = s.scalar(select(DocumentRequest.id))
    url = f"/documents/requests/{rid}/withdraw"
    for data in ({}, {"csrf_token": "forged"}):
        assert administrator.client.post(url, data=data).status_code == 400
    with factory() as s:
        assert s.get(DocumentRequest, rid).state == "waiting"
    away = administrator.post(url, {"back": "//evil.example/x"})
    assert away.status_code == 302 and away.headers["Location"].endswith("/documents/")
    with factory() as s:
        assert s.get(DocumentRequest, rid).state == "withdrawn"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"pdf": "not-a-file"},
        {"pdf": (BytesIO(b""), "")},  # the browser's empty file input
    ],
)
def test_a_check_without_a_pdf_says_so(administrator: Persona, data: dict) -> None:
    response = administrator.client.post(
        "/documents/verify",
        data={"csrf_token": administrator.csrf(), **data},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Выберите PDF, который нужно проверить." in html and "data-ok" not in html
