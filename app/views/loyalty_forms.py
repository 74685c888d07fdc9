"""The loyalty screen's forms: what each POST takes, declared once, its shape checked by
WTForms with Russian messages.

The shape only (present, a whole number, a sum of roubles, a 32-hex key, a length): what
the points may be used for (the bill's share, the balance, a platform once) stays with
core.loyalty.operations, whose OperationError carries the reason shown to staff. Where a
shape check and the domain refuse the same thing, the message is the domain's own, so the
screen says the same as before.

CSRF: CSRFProtect (app/auth.py) refuses a POST without a valid token before any view runs;
these forms keep FlaskForm's own csrf_token field, as the staff screen's do, which then
accepts the request CSRFProtect already checked. The templates post it as `csrf_token`.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import BooleanField, Field, HiddenField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Regexp

from app.forms import PanelForm
from core.config import LoyaltyConfig

# The domain's words (core/loyalty/operations.py), for the same refusals made earlier.
STALE_FORM = "Форма устарела: обновите страницу и повторите."
NOT_WHOLE = "Количество бонусов — целое число."
NOT_ROUBLES = "Сумма счёта — число в рублях."

FAMILY_ACTIONS = ("create", "add", "remove", "mute", "unmute")


class PointsField(IntegerField):
    """A whole number of points, with the domain's message instead of WTForms' own."""

    data: int | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(NOT_WHOLE) from None


class RoublesField(StringField):
    """A sum as staff type it at the desk: «1 500,50» is 1500.50 (a Decimal).

    Only the syntax: zero, a negative sum, NaN or 1e400 parse and are refused by the domain
    with its reason (more than zero, at most 100 000 000 ₽)."""

    data: Decimal | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        text = str(valuelist[0]).strip().replace(",", ".").replace(" ", "")
        try:
            self.data = Decimal(text)
        except InvalidOperation:
            self.data = None
            raise ValueError(NOT_ROUBLES) from None


class CheckboxField(BooleanField):
    """Ticked only as a browser sends a ticked box ("on"); absent is unticked."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = bool(valuelist) and valuelist[0] == "on"


def _key_field() -> HiddenField:
    """The idempotency key the card generated for this form (core.loyalty.operations)."""
    return HiddenField(
        validators=[
            InputRequired(STALE_FORM),
            Regexp(r"^\s*[0-9a-fA-F]{32}\s*$", message=STALE_FORM),
        ]
    )


class SpendForm(PanelForm):
    key = _key_field()
    points = PointsField("Бонусов", validators=[InputRequired("Укажите, сколько бонусов списать.")])
    bill = RoublesField("Счёт, ₽", validators=[InputRequired("Укажите сумму счёта.")])


class GrantForm(PanelForm):
    key = _key_field()
    points = PointsField(
        "Бонусов", validators=[InputRequired("Укажите, сколько бонусов начислить.")]
    )
    reason = StringField(
        "Причина",
        validators=[
            InputRequired("Укажите причину начисления."),
            Length(max=1000, message="Причина — не длиннее 1000 символов."),
        ],
    )


class ApproveForm(PanelForm):
    # Which kinds and platforms exist is the domain's (BONUS_PLATFORMS): «Неизвестная площадка.»
    kind = StringField(validators=[Length(max=32, message="Неизвестная площадка.")])
    platform = StringField(validators=[Length(max=32, message="Неизвестная площадка.")])


class FamilyForm(PanelForm):
    action = SelectField(choices=[SelectChoice(a) for a in FAMILY_ACTIONS], validate_choice=True)
    who = StringField(
        "№ в МИС или телефон",
        validators=[Length(max=100, message="№ в МИС или телефон — не длиннее 100 символов.")],
    )
    member = StringField(validators=[Length(max=64, message="Такого члена семьи нет.")])


class LinksForm(PanelForm):
    period = StringField()  # only carried back to the leaderboard, which reads it itself


def _bool(f: dataclasses.Field[Any]) -> bool:
    return f.type in (bool, "bool")


def _decimal_comma(value: str | None) -> str | None:
    # Russian keyboards type "12,5" for 12.5.
    return value.replace(",", ".") if value else value


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


def _settings_form() -> type[PanelForm]:
    """One field per programme setting (LoyaltyConfig): a checkbox for a yes/no, text for
    the rest, parsed and bounded by the config itself (settings.save raises ConfigError)."""
    fields: dict[str, Field] = {}
    for f in dataclasses.fields(LoyaltyConfig):
        assert not hasattr(PanelForm, f.name), f"setting {f.name} shadows a form attribute"
        if _bool(f):
            fields[f.name] = CheckboxField()
        else:
            filters = [_strip]
            if f.type in (float, "float"):
                filters.append(_decimal_comma)
            fields[f.name] = StringField(
                filters=filters,
                validators=[Length(max=2000, message="Значение — не длиннее 2000 символов.")],
            )
    return type("SettingsForm", (PanelForm,), fields)


SettingsForm = _settings_form()


def setting_values(form: PanelForm) -> dict[str, Any]:
    """What the owner sent: every yes/no (an unticked box is simply absent), and the text
    settings the form carried; one left out keeps its value."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(LoyaltyConfig):
        field = form[f.name]
        if _bool(f) or field.raw_data:
            values[f.name] = field.data
    return values


def first_error(form: PanelForm) -> str:
    """The message to flash: the first refusal, in the order the fields are declared."""
    for field in form:
        if field.errors:
            return str(field.errors[0])
    return "Запрос не понят: проверьте введённые данные."
