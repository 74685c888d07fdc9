"""The forms of the care, consent, bonus-screenshot and inbox screens: what each POST takes,
declared once as a PanelForm (Flask-WTF), its shape checked by WTForms in Russian.

Most of what these screens refuse is the domain's and stays there, with its Russian
reasons: core.care.check_form (an instruction's title, texts, delay), core.patients.consent
(the consent's text), core.conversations.threads.reply (an empty answer, a file too big),
core.loyalty (which platform, once per patient). A form here only carries the fields over,
as strings, the way the views read them before, so the screens say what they said before.

CSRF: CSRFProtect (app/auth.py) refuses a POST without a valid token before any view runs;
these forms keep FlaskForm's own csrf_token field, as the loyalty and staff screens' do,
which then accepts the request CSRFProtect already checked. The templates post it as
`csrf_token`.
"""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from app.forms import PanelForm

# The domain's words (core/loyalty/operations.py), for the same refusal made earlier.
UNKNOWN_PLATFORM = "Неизвестная площадка."


class TextField(StringField):
    """Text as request.form.get read it: the first value sent, "" when absent; a file
    posted under the field's name is not text (FlaskForm reads files and fields together)."""

    data: str

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = next((v for v in valuelist if isinstance(v, str)), "")

    def process_data(self, value: Any) -> None:
        self.data = "" if value is None else str(value)


class LongTextField(TextField, TextAreaField):
    """A textarea's text, as TextField reads it."""


class FlagField(BooleanField):
    """A checkbox: ticked when the browser sends one of the values taken as "yes"."""

    def __init__(self, *args: Any, ticked: tuple[str, ...] = ("1",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticked = ticked

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = bool(valuelist) and str(valuelist[0]) in self.ticked


class LineIdField(HiddenField):
    """The newest thread line the page had shown (tasks.reply_view): an integer, or None
    when the form did not send one a number can be read from — then there is no check,
    as for a reply not sent from the page, never a refusal that loses the typed answer."""

    data: int | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if valuelist:
            try:
                self.data = int(valuelist[0])
            except (TypeError, ValueError):
                self.data = None

    def process_data(self, value: Any) -> None:
        self.data = value if isinstance(value, int) else None


class ButtonForm(PanelForm):
    """A button's form (turn on/off, delete, reject): nothing but its CSRF token."""


# «Рекомендации после лечения» (app/views/care.py).

CARE_TEXT_FIELDS = (
    "title",
    "text",
    "services",
    "specialties",
    "delay_minutes",
    "title_en",
    "text_en",
)


class CareForm(PanelForm):
    # Every bound (title ≤ 200, text within one Telegram message, delay 0…a week) is
    # core.care.check_form's, which names the number typed and the limit in its reason.
    title = TextField("Название")
    text = LongTextField("Текст")
    title_en = TextField("Название по-английски")
    text_en = LongTextField("Текст по-английски")
    services = TextField("Услуги")
    specialties = TextField("Специальности врача")
    delay_minutes = TextField("Через сколько минут после завершения визита")
    # The template's box sends "1"; the values check_form has always taken as ticked.
    enabled = FlagField("Включена", ticked=("1", "on", "true", "yes"))
    remove_file = FlagField("Убрать вложение", ticked=("1",))
    attachment = FileField("Вложение")


def care_values(form: CareForm) -> dict[str, str]:
    """The instruction as typed, as core.care.check_form reads a form."""
    values = {name: form[name].data for name in CARE_TEXT_FIELDS}
    values["enabled"] = "1" if form.enabled.data else ""
    return values


# «Согласие» (app/views/consent.py).


class ConsentForm(PanelForm):
    # Empty or longer than MAX_TEXT: core.patients.consent.check_text says so.
    text = LongTextField("Текст согласия")


# A review's or a post's screenshot (app/views/bonus_screenshots.py).


class ScreenshotApproveForm(PanelForm):
    # Which platforms exist is the domain's (operations.BONUS_PLATFORMS); longer than any
    # of them is refused here with the domain's own words.
    platform = TextField("Площадка", validators=[Length(max=32, message=UNKNOWN_PLATFORM)])


# The inbox (app/views/tasks.py).


class ReplyForm(PanelForm):
    # An empty answer, a file too big or of a chat that takes none: ReplyError's reasons.
    text = LongTextField("Ответ")
    seen = LineIdField()
    file = FileField("Файл или фото")


class ActForm(PanelForm):
    """Take / Done / Dismiss: the action is in the address; `next` says where to go back."""

    next = HiddenField()


def first_error(form: PanelForm) -> str:
    """The message to flash: the first refusal, in the order the fields are declared."""
    for field in form:
        if field.errors:
            return str(field.errors[0])
    return "Запрос не понят: проверьте введённые данные."
