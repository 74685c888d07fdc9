"""«Документы»' forms: what each POST takes (a template's text, the agreement, the rule for
a first visit, sending from the card or a thread, withdrawing, checking a PDF), declared
once, their shape checked by WTForms with Russian messages.

The shape only (a template's number, a file attached): what a template may contain, the
agreement's text, who may be sent what, stay with core.documents, whose check lists and
SendError carry the reason shown. Where a shape check and the domain refuse the same
thing, the message is the domain's own, so the screen says the same as before.

CSRF: CSRFProtect (app/auth.py) refuses a POST without a valid token before any view runs;
these forms keep FlaskForm's own csrf_token field, as the loyalty and staff screens' do,
which then accepts the request CSRFProtect already checked. The templates post it as
`csrf_token`.
"""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField

from app.forms import PanelForm

NO_TEMPLATE = "Такого шаблона нет."
CHOOSE = "Выберите шаблон или приложите PDF."


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


class TemplateNumberField(IntegerField):
    """A template's number from a <select>; empty (or 0, the old «none») is no template.

    Only the syntax: a number no row has, or one the store cannot hold, is the view's to
    refuse as any template it lacks."""

    data: int | None

    def __init__(self, *args: Any, message: str = NO_TEMPLATE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message = message

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            return
        try:
            self.data = int(text) or None
        except ValueError:
            raise ValueError(self.message) from None


class TickField(BooleanField):
    """The template form's box: ticked only as the page sends it (value "1")."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = bool(valuelist) and valuelist[0] == "1"


class TemplateForm(PanelForm):
    # Not stripped: core.documents.templates.check reads them as typed (its own refusals).
    title = StringField("Название")
    body = TextAreaField("Текст (HTML)")
    pep_allowed = TickField()


class FirstVisitForm(PanelForm):
    template = TemplateNumberField("Шаблон")


class AgreementForm(PanelForm):
    text = TextAreaField("Соглашение")


class SendForm(PanelForm):
    patient = HiddenField(filters=[_strip])
    back = HiddenField()  # the thread it was sent from; the view keeps only a local path
    title = StringField("Название (для PDF)", filters=[_strip])
    # The domain's words when the number is no number: the card's «—» sends nothing either.
    template = TemplateNumberField("Шаблон", message=CHOOSE)
    visit = HiddenField()
    pdf = FileField("PDF")


class WithdrawForm(PanelForm):
    back = HiddenField()


class CheckForm(PanelForm):
    pdf = FileField("PDF", validators=[FileRequired("Выберите PDF, который нужно проверить.")])


def local_path(value: str | None) -> str | None:
    """A path on this panel to go back to, or None: never another site's address."""
    return value if value and value.startswith("/") and not value.startswith("//") else None


def errors_of(form: PanelForm, *skip: str) -> list[str]:
    """Every refusal of the form, in the order the fields are declared (but the skipped)."""
    return [str(e) for field in form if field.name not in skip for e in field.errors]
