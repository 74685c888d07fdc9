"""«Документы»: templates, the ПЭП agreement, what was sent (waiting, signed, declined,
expired, withdrawn, void), sending from the patient card, and checking a PDF someone brings.

Signed documents have no edit or delete here: their request row, files and evidence record
are only ever read (core.documents.models: the record is append-only). Templates are
edited by owners and managers (a new version voids what was sent from the old one);
every staff member may send one to a patient and withdraw it before it is signed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.context import clinic_config, signed_in
from app.extensions import db
from app.permissions import requires
from app.routing import in_store_range
from app.views.document_forms import (
    AgreementForm,
    CheckForm,
    FirstVisitForm,
    SendForm,
    TemplateForm,
    WithdrawForm,
    errors_of,
    local_path,
)
from core.clock import utcnow
from core.documents import agreement, requests, rules, templates, verify
from core.documents.models import DocumentRequest, DocumentTemplate
from core.models import Patient

bp = Blueprint("documents", __name__, url_prefix="/documents")
MAX_UPLOAD = 20 * 1024 * 1024
GROUPS = (
    ("waiting", "Ждут подписи"),
    ("signed", "Подписаны"),
    ("declined", "Отклонены"),
    ("expired", "Срок истёк"),
    ("withdrawn", "Отозваны"),
    ("void", "Недействительны (шаблон изменён)"),
)


def _who() -> str:
    user = signed_in()
    return user.full_name or user.login


def _page(status: int = 200, **extra: Any) -> Any:
    s = db.session()
    config = clinic_config()
    requests.expire_due(s, utcnow())
    db.session.commit()
    rows = s.scalars(select(DocumentRequest).order_by(DocumentRequest.id.desc()).limit(500)).all()
    names = {
        p.mis_id: p.full_name
        for p in s.scalars(
            select(Patient).where(Patient.mis_id.in_({r.patient_mis_id for r in rows}))
        )
    }
    context: dict[str, Any] = {
        "templates": templates.templates(s),
        "groups": [
            (state, label, [r for r in rows if r.state == state]) for state, label in GROUPS
        ],
        "names": names,
        "method": requests.code_method(config),
        "terms": agreement.current(s, config.clinic.name),
        "agreement_history": agreement.history(s),
        "fields": templates.FIELDS,
        "errors": [],
        "values": {},
        "editing": None,
        "verdict": None,
        "first_visit": rules.first_visit_template(s),
        "clinic_days": config.documents.request_days,
    }
    context.update(extra)
    return render_template("documents.html", **context), status


@bp.route("/")
@requires("panel.view")
def index() -> Any:
    return _page()


def _form() -> dict[str, Any]:
    form = TemplateForm()
    form.validate()  # nothing but the token to refuse: the text is the domain's to check
    return {
        "title": form.title.data or "",
        "body": form.body.data or "",
        "pep_allowed": bool(form.pep_allowed.data),
    }


@bp.route("/templates/new", methods=["POST"])
@requires("documents.templates")
def create_template() -> Any:
    values = _form()
    errors = templates.check(values["title"], values["body"])
    if errors:
        return _page(400, errors=errors, values=values)
    row, _ = templates.save(
        db.session(),
        None,
        body=values["body"],
        title=values["title"],
        pep_allowed=values["pep_allowed"],
        who=_who(),
        now=utcnow(),
    )
    db.session.commit()
    flash(f"Шаблон «{row.title}» сохранён.", "info")
    return redirect(url_for("documents.index"))


@bp.route("/templates/<int:template_id>")
@requires("documents.templates")
def edit_template(template_id: int) -> Any:
    row = db.session.get(DocumentTemplate, template_id) or abort(404)
    values = {"title": row.title, "body": row.body_html, "pep_allowed": row.pep_allowed}
    return _page(editing=row, values=values)


@bp.route("/templates/<int:template_id>", methods=["POST"])
@requires("documents.templates")
def update_template(template_id: int) -> Any:
    row = db.session.get(DocumentTemplate, template_id) or abort(404)
    values = _form()
    errors = templates.check(values["title"], values["body"])
    if errors:
        return _page(400, errors=errors, values=values, editing=row)
    now = utcnow()
    row, changed = templates.save(
        db.session(),
        row,
        body=values["body"],
        title=values["title"],
        pep_allowed=values["pep_allowed"],
        who=_who(),
        now=now,
    )
    voided = requests.void_stale(db.session(), row, now) if changed else 0
    db.session.commit()
    note = (
        f" Отправленные по прежней версии ({voided}) больше не подписываются; пациентам сказано."
        if voided
        else ""
    )
    flash(f"Шаблон «{row.title}» сохранён (версия {row.version}).{note}", "info")
    return redirect(url_for("documents.index"))


@bp.route("/first-visit", methods=["POST"])
@requires("documents.templates")
def first_visit() -> Any:
    """Which template goes by itself before a patient's first visit (none: the rule is off)."""
    form = FirstVisitForm()
    if not form.validate():
        return _page(400, errors=errors_of(form))
    chosen = form.template.data
    row = db.session.get(DocumentTemplate, chosen) if chosen and in_store_range(chosen) else None
    if chosen and (row is None or row.archived or not row.pep_allowed):
        return _page(
            400, errors=["Этот шаблон нельзя отправлять сам: не отмечено, что ПЭП достаточно."]
        )
    rules.choose_first_visit_template(db.session(), row.id if row else None)
    db.session.commit()
    note = (
        f"«{row.title}» уйдёт каждому пациенту перед первым визитом."
        if row
        else "Перед первым визитом ничего не отправляется."
    )
    flash(note, "info")
    return redirect(url_for("documents.index"))


@bp.route("/agreement", methods=["POST"])
@requires("documents.templates")
def save_agreement() -> Any:
    form = AgreementForm()
    form.validate()  # nothing but the token to refuse: the text is the domain's to check
    text = form.text.data or ""
    errors = agreement.check_text(text)
    if errors:
        return _page(400, errors=errors)
    config = clinic_config()
    if text.strip() == agreement.current(db.session(), config.clinic.name).text:
        flash("Текст соглашения не изменился — новая версия не нужна.", "info")
        return redirect(url_for("documents.index"))
    row = agreement.new_version(db.session(), text, _who(), utcnow())
    db.session.commit()
    flash(f"Соглашение: версия {row.version}. Пациенты примут её со следующей подписью.", "info")
    return redirect(url_for("documents.index"))


@bp.route("/send", methods=["POST"])
@requires("documents.send")
def send() -> Any:
    """From the patient card: a template, or a PDF uploaded for this one patient."""
    form = SendForm()
    form.validate()
    mis_id = form.patient.data
    back = local_path(form.back.data) or (  # the thread it was sent from
        url_for("patients.detail", mis_id=mis_id) if mis_id else url_for("documents.index")
    )
    config, now = clinic_config(), utcnow()
    upload = form.pdf.data
    # With a PDF attached, the template's <select> is not what is sent: not its to refuse.
    errors = errors_of(form, "template") if upload else errors_of(form)
    try:
        if errors:
            raise requests.SendError(errors[0])
        if upload:
            data = upload.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise requests.SendError("PDF больше 20 МБ: Telegram такой не доставит.")
            title = form.title.data or upload.filename.rsplit(".", 1)[0]
            row = requests.send(
                db.session(),
                config,
                patient_mis_id=mis_id,
                title=title,
                pdf=data,
                who=_who(),
                now=now,
            )
        else:
            template_id = form.template.data
            if not template_id:
                raise requests.SendError("Выберите шаблон или приложите PDF.")
            if not in_store_range(template_id):  # a forged number: no template has it
                raise requests.SendError("Такого шаблона нет.")
            row = requests.send_template(
                db.session(),
                config,
                template_id,
                mis_id,
                who=_who(),
                now=now,
                appointment_mis_id=form.visit.data or "",
            )
    except requests.SendError as exc:
        db.session.rollback()
        flash(f"Документ не отправлен: {exc}", "error")
        return redirect(back)
    db.session.commit()
    flash(f"«{row.title}» отправлен пациенту на подпись.", "info")
    return redirect(back)


@bp.route("/requests/<int:request_id>/withdraw", methods=["POST"])
@requires("documents.send")
def withdraw(request_id: int) -> Any:
    row = db.session.get(DocumentRequest, request_id) or abort(404)
    form = WithdrawForm()
    if not form.validate():
        abort(400)  # only a token the page did not sign; CSRFProtect refuses that first
    if requests.withdraw(db.session(), row, _who(), utcnow()):
        db.session.commit()
        flash(f"«{row.title}» отозван; пациенту сказано.", "info")
    else:
        flash(
            f"«{row.title}» уже не ждёт подписи ({requests.STATE_LABELS.get(row.state, row.state)}): отзывать нечего.",
            "error",
        )
    return redirect(local_path(form.back.data) or url_for("documents.index"))


@bp.route("/requests/<int:request_id>/original.pdf")
@requires("documents.send")
def original(request_id: int) -> Response:
    return _download(request_id, "original")


@bp.route("/requests/<int:request_id>/signed.pdf")
@requires("documents.send")
def signed(request_id: int) -> Response:
    return _download(request_id, "signed")


def _download(request_id: int, which: str) -> Response:
    row = db.session.get(DocumentRequest, request_id) or abort(404)
    relative = row.signed_pdf_path if which == "signed" else row.pdf_path
    if not relative:
        abort(404)
    path = requests.pdf_path(clinic_config(), relative)
    if not path.is_file():
        abort(404)
    suffix = " (подписан)" if which == "signed" else ""
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{row.title}{suffix}.pdf",
    )


@bp.route("/verify", methods=["GET", "POST"])
@requires("panel.view")
def check() -> Any:
    if request.method == "GET":
        record = request.args.get("record", type=int)
        if record is None:
            return _page()
        # The address in a signed copy's QR code: what the record says, and whether it holds.
        # A number the store cannot hold is no record of its journal (and would overflow
        # the driver): the answer for any record it lacks.
        verdict = (
            verify.check_record(db.session(), record, request.args.get("hash", ""))
            if in_store_range(record)
            else verify.Verdict(False, [f"✗ Записи № {record} в журнале нет."])
        )
        return _page(verdict=verdict, status=200 if verdict.ok else 404)
    form = CheckForm()
    if not form.validate():
        return _page(400, errors=errors_of(form))
    data = form.pdf.data.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(400, errors=["Файл больше 20 МБ: это не подписанная копия из Kabinet."])
    verdict = verify.check_file(db.session(), clinic_config(), data)
    return _page(verdict=verdict)


@bp.app_context_processor
def patient_documents() -> dict[str, Any]:
    """For the patient card: that patient's documents and the templates to send."""

    def documents_of(mis_id: str) -> dict[str, Any]:
        s = db.session()
        return {
            "rows": requests.of_patient(s, mis_id),
            "templates": [t for t in templates.templates(s) if t.pep_allowed],
            "labels": requests.STATE_LABELS,
            "method": requests.code_method(clinic_config()),
        }

    return {"documents_of": documents_of}
