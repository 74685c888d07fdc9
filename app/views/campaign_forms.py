"""The campaigns screen's forms: the segment builder (preview and create) and a campaign's
cancel, declared once, their shape checked by WTForms with Russian messages.

The shape only (a whole number, a calendar date): what a segment may ask for (months from
1, a date within reason, a known placeholder in the text, a moment within a year) stays
with core.campaigns and the view, whose SegmentError carries the reason shown. The builder
shows every refusal at once with the values as typed, so the form keeps each field's text
(stripped) and the view reads the numbers and dates from it once the form has passed them.

CSRF: CSRFProtect (app/auth.py) refuses a POST without a valid token before any view runs;
these forms keep FlaskForm's own csrf_token field, as the loyalty and staff screens' do,
which then accepts the request CSRFProtect already checked. The templates post it as
`csrf_token`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from wtforms import Field, StringField
from wtforms.validators import ValidationError

from app.forms import PanelForm

# The screen's names for the fields whose shape is checked, as its refusals quote them.
FIELD_NAMES = {
    "last_visit_months": "«Последний визит, месяцев назад»",
    "balance_above": "«Баланс больше»",
    "rating_min": "«Оценка от»",
    "rating_max": "«Оценка до»",
    "last_visit_from": "«Последний визит с»",
    "last_visit_to": "«Последний визит по»",
    "expiring_by": "«Баллы сгорают до»",
}
INT_FIELDS = ("last_visit_months", "balance_above", "rating_min", "rating_max")
DATE_FIELDS = ("last_visit_from", "last_visit_to", "expiring_by")
TEXT_FIELDS = ("service", "doctor", "specialty")
FLAG_FIELDS = ("no_future_visit", "birthday_this_month", "rated", "single_visit")
OTHER_FIELDS = ("title", "text", "when", "send_at", "preset", "booking")
# What a draft keeps as typed (and the preview's confirmation posts back).
DRAFT_FIELDS = (*INT_FIELDS, *DATE_FIELDS, *TEXT_FIELDS, *FLAG_FIELDS, *OTHER_FIELDS)
MAX_DIGITS = 9  # well inside what the store's integers hold


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _whole(form: Any, field: Field) -> None:
    """Empty is «no condition»; otherwise ASCII digits only («²» passes str.isdigit, not int)."""
    raw = field.data
    if raw and (not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_DIGITS):
        raise ValidationError(f"{FIELD_NAMES[field.name]}: нужно целое неотрицательное число.")


def _iso_date(form: Any, field: Field) -> None:
    raw = field.data
    if raw:
        try:
            date.fromisoformat(raw)
        except ValueError:
            raise ValidationError(f"{FIELD_NAMES[field.name]}: непонятная дата.") from None


def _builder_form() -> type[PanelForm]:
    fields: dict[str, Field] = {}
    for name in DRAFT_FIELDS:
        assert not hasattr(PanelForm, name), f"field {name} shadows a form attribute"
        validators = [_whole] if name in INT_FIELDS else [_iso_date] if name in DATE_FIELDS else []
        fields[name] = StringField(filters=[_strip], validators=validators)
    # Which confirmation was pressed: «now» or «schedule»; anything else is not one.
    fields["confirm"] = StringField(filters=[_strip])
    return type("BuilderForm", (PanelForm,), fields)


BuilderForm = _builder_form()


class CancelForm(PanelForm):
    """A campaign's «Отменить»: nothing but the CSRF token."""


def typed(form: PanelForm) -> dict[str, str]:
    """The builder's values as typed (stripped), for the page that shows them again."""
    return {name: form[name].data or "" for name in DRAFT_FIELDS}


def shape_errors(form: PanelForm) -> list[str]:
    """Every refusal of the form, in the order the fields are declared."""
    return [str(error) for field in form for error in field.errors]


def segment_values(form: PanelForm) -> dict[str, Any]:
    """The segment's conditions the form carries, read once the form has passed them."""
    seg: dict[str, Any] = {}
    for name in INT_FIELDS:
        if form[name].data:
            seg[name] = int(form[name].data)
    for name in DATE_FIELDS:
        if form[name].data:
            seg[name] = date.fromisoformat(form[name].data)
    for name in TEXT_FIELDS:
        if form[name].data:
            seg[name] = form[name].data
    for name in FLAG_FIELDS:
        if form[name].data:
            seg[name] = True
    return seg
