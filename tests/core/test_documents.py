"""The evidence chain and the templates, without a messenger: an altered record, one taken
out of the middle, one cut off the end, each found; the ORM refuses to change or delete a
signature; placeholders are escaped and unknown ones refused; a clinic's own certificate
is used when configured."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.db import transaction
from core.documents import evidence, pades, render, templates, verify
from core.documents.models import AppendOnly, DocumentSignature
from core.models import Patient
from tests.conftest import make_config

WHEN = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)


def record(n: int) -> evidence.Record:
    return evidence.Record(
        kind="document",
        request_id=n,
        title=f"Документ {n}",
        document_sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        patient_mis_id="p-1",
        patient_name="Орлова Вера",
        channel="telegram",
        account_id="501",
        chat_id="501",
        linked_how="свой контакт",
        linked_at=WHEN.isoformat(),
        phone="+79155557788",
        signed_at_utc=WHEN.isoformat(),
        signed_at_clinic="02.12.2026 10:30:00",
        code_method="sms",
        code_hash="ab" * 32,
        agreement_version="1",
    )


def chain(factory: sessionmaker[Session], count: int) -> None:
    with transaction(factory) as s:
        for n in range(1, count + 1):
            evidence.append(s, record(n))


def problems(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return evidence.verify_chain(s)


def test_an_intact_chain_verifies_and_each_row_names_the_one_before(factory) -> None:  # type: ignore[no-untyped-def]
    chain(factory, 3)
    assert problems(factory) == []
    with factory() as s:
        rows = s.query(DocumentSignature).order_by(DocumentSignature.id).all()
    assert rows[0].prev_hash == evidence.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.record_hash for r in rows[:-1]]


def test_an_altered_record_is_found(factory) -> None:  # type: ignore[no-untyped-def]
    chain(factory, 3)
    with transaction(factory) as s:
        s.execute(
            text(
                "UPDATE document_signatures SET signed_at_utc = '2026-12-01T00:00:00+00:00' WHERE id = 2"
            )
        )
    assert problems(factory) == ["запись № 2 изменена после подписи"]


def test_a_record_deleted_from_the_middle_is_found(factory) -> None:  # type: ignore[no-untyped-def]
    chain(factory, 3)
    with transaction(factory) as s:
        s.execute(text("DELETE FROM document_signatures WHERE id = 2"))
    found = problems(factory)
    assert "запись № 2 удалена из журнала" in found
    assert "запись № 3: цепочка прервана (предыдущая запись изменена или удалена)" in found


def test_records_cut_off_the_end_are_found(factory) -> None:  # type: ignore[no-untyped-def]
    chain(factory, 4)
    with transaction(factory) as s:
        s.execute(text("DELETE FROM document_signatures WHERE id >= 3"))
    assert problems(factory) == ["из конца журнала удалены записи № 3–4"]


def test_the_orm_never_changes_or_deletes_a_signature(factory) -> None:  # type: ignore[no-untyped-def]
    chain(factory, 1)
    with pytest.raises(AppendOnly), transaction(factory) as s:
        s.get(DocumentSignature, 1).phone = "+70000000000"  # type: ignore[union-attr]
    with pytest.raises(AppendOnly), transaction(factory) as s:
        s.delete(s.get(DocumentSignature, 1))
    assert problems(factory) == []


def test_placeholders_are_escaped_and_unknown_ones_refused(config: Config) -> None:
    patient = Patient(
        mis_id="p-1",
        last_name="<b>Орлова</b>",
        first_name="Вера",
        middle_name="",
        birth_date=date(1990, 5, 17),
        phones=["+79155557788"],
    )
    values = templates.values(config, patient, None, WHEN)
    filled = templates.fill("<p>{{ФИО}}, {{ дата_рождения }}</p>", values)
    assert filled == "<p>&lt;b&gt;Орлова&lt;/b&gt; Вера, 17.05.1990</p>"
    errors = templates.check("Договор", "<p>{{ФИО}} {{паспорт}}</p>")
    assert errors and errors[0].startswith("Неизвестные поля: {{паспорт}}. Доступны: {{ФИО}}")
    assert templates.check("Договор", '<p style="background:url(http://x/y.png)">x</p>')
    assert templates.check("Договор", "<img src='data:image/png;base64,AAAA'>") == []


def test_a_file_that_is_not_a_signed_copy_says_so(config: Config, factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as s:
        plain = verify.check_file(s, config, render.html_to_pdf("<p>Просто PDF</p>", "x"))
        junk = verify.check_file(s, config, b"not a pdf at all")
    assert not plain.ok and "нет подписи клиники" in plain.lines[-1]
    assert not junk.ok and "нет подписи клиники" in junk.lines[-1]


def test_the_clinics_own_certificate_is_used_when_configured(tmp_path: Path) -> None:
    own = tmp_path / "own"
    pades.generate("ООО «Улыбка»", own / "cert.pem", own / "key.pem")
    config = make_config(
        tmp_path,
        documents={"certificate_file": str(own / "cert.pem"), "key_file": str(own / "key.pem")},
    )
    key = pades.clinic_key(config)
    assert key.cert_path == own / "cert.pem"
    assert not (Path(config.storage.data_dir) / "documents" / "clinic-cert.pem").exists()
    facts = render.SignatureFacts(
        1,
        "cd" * 32,
        "Договор",
        "Орлова Вера",
        "p-1",
        "",
        "",
        "telegram 1",
        "свой контакт",
        "02.12.2026 10:30",
        WHEN.isoformat(),
        "ef" * 32,
        "sms",
        "1",
        "ref",
    )
    signed = render.signed_copy(config, render.html_to_pdf("<p>Договор</p>", "Договор"), facts)
    assert pades.check(config, signed).ok
    other = make_config(tmp_path / "other")  # another installation's generated certificate
    assert not pades.check(other, signed).trusted
