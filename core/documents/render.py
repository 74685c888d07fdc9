"""PDFs: a template's filled HTML rendered by WeasyPrint, and the signed copy (the original
PDF, unchanged, with a signature page appended and the clinic's PAdES signature over all).

WeasyPrint is given no way to reach anything: a template written in the panel could name
``file:///etc/…`` or an address on the clinic's network, so every URL but an inline
``data:`` one is refused. DejaVu Sans (Debian's fonts-dejavu) carries the Cyrillic.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from io import BytesIO

import segno
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from core.config import Config
from core.documents import pades

PAGE_CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-family: 'DejaVu Sans', sans-serif; font-size: 11pt; line-height: 1.4; }
h1 { font-size: 15pt; } table { border-collapse: collapse; }
td, th { border: 1px solid #999; padding: 3px 6px; }
"""


def _fetcher() -> URLFetcher:
    # Inline data only: no file:, http:, ftp: (core.documents.templates tells the author).
    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


def html_to_pdf(body: str, title: str) -> bytes:
    page = (
        f"<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>"
        f"<body>{body}</body></html>"
    )
    pdf = HTML(string=page, url_fetcher=_fetcher()).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def readable_pdf(data: bytes) -> str:
    """Why an uploaded file cannot be sent to sign, or "" if it can."""
    if not data.startswith(b"%PDF-"):
        return "Это не PDF: загрузите файл в формате PDF."
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        if reader.encrypted:
            return "PDF защищён паролем: сохраните его без пароля и загрузите снова."
        if len(reader.root["/Pages"]["/Kids"]) == 0:
            return "В PDF нет страниц."
    except Exception as exc:
        return f"PDF не читается ({str(exc)[:100]}): экспортируйте его из МИС ещё раз."
    return ""


@dataclass(frozen=True)
class SignatureFacts:
    """What the signature page says, all of it from the evidence record."""

    record_id: int
    record_hash: str
    title: str
    patient_name: str
    patient_mis_id: str
    birth_date: str
    phone: str
    account: str
    linked: str
    signed_at_clinic: str
    signed_at_utc: str
    document_sha256: str
    code_method: str
    agreement_version: str
    reference: str  # what the QR code holds: where and how to check this copy


def _signature_page(facts: SignatureFacts, clinic: str) -> bytes:
    qr = segno.make(facts.reference, error="m")
    svg = base64.b64encode(qr.svg_inline(scale=3).encode()).decode()
    method = {"sms": "код из SMS на номер из карты пациента", "chat": "код, показанный в чате бота"}
    rows = [
        ("Документ", facts.title),
        ("Подписал(а)", facts.patient_name),
        ("Дата рождения", facts.birth_date or "—"),
        ("Пациент в МИС", facts.patient_mis_id),
        ("Телефон", facts.phone or "—"),
        ("Мессенджер", facts.account),
        ("Связан с картой", facts.linked),
        ("Когда (время клиники)", facts.signed_at_clinic),
        ("Когда (UTC)", facts.signed_at_utc),
        ("Подтверждение", method.get(facts.code_method, facts.code_method)),
        ("Соглашение о ПЭП", f"версия {facts.agreement_version}"),
        ("SHA-256 документа", facts.document_sha256),
        ("Запись журнала", f"№ {facts.record_id}, {facts.record_hash}"),
    ]
    table = "".join(
        f"<tr><th style='text-align:left;width:32%'>{html.escape(k)}</th>"
        f"<td style='word-break:break-all'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    body = (
        f"<h1>Лист подписи простой электронной подписью</h1>"
        f"<p>Документ на предыдущих страницах подписан пациентом простой электронной "
        f"подписью в чате клиники «{html.escape(clinic)}» по соглашению об использовании ПЭП. "
        f"Файл подписан сертификатом клиники (PAdES): любое изменение файла видно "
        f"в программе просмотра PDF.</p><table>{table}</table>"
        f"<p><img src='data:image/svg+xml;base64,{svg}' width='140'></p>"
        f"<p style='font-size:9pt'>Проверка: {html.escape(facts.reference)}</p>"
    )
    return html_to_pdf(body, "Лист подписи")


def signed_copy(config: Config, original: bytes, facts: SignatureFacts) -> bytes:
    """The original's bytes untouched, then an incremental update that adds the signature
    page, then the clinic's signature over the whole file."""
    page_pdf = PdfFileReader(BytesIO(_signature_page(facts, config.clinic.name)))
    writer = IncrementalPdfFileWriter(BytesIO(original), strict=False)
    box = page_pdf.root["/Pages"]["/Kids"][0].get_object()["/MediaBox"]
    xobject = writer.import_page_as_xobject(page_pdf, page_ix=0)
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/XObject"): generic.DictionaryObject(
                {generic.NameObject("/SignaturePage"): xobject}
            )
        }
    )
    contents = writer.add_object(generic.StreamObject(stream_data=b"q /SignaturePage Do Q"))
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.FloatObject(float(v)) for v in box]
            ),
            generic.NameObject("/Resources"): resources,
            generic.NameObject("/Contents"): contents,
        }
    )
    writer.insert_page(page)
    reason = f"ПЭП: запись журнала № {facts.record_id} {facts.record_hash}"
    return pades.sign(config, writer, reason)
