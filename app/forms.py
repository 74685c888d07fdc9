"""The panel's base form: Flask-WTF's CSRF, with WTForms' own messages (a choice that is
not offered, a wrong number or date) in the clinic's language.

Flask-WTF translates them only through Flask-Babel, which the panel does not use; without
it they would be English on a Russian screen. WTForms ships a Russian catalogue of its own,
read here by the stdlib's gettext (cached by it after the first form).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms.i18n import get_translations

LOCALES = {"ru": ["ru_RU", "ru"], "en": ["en"]}


class PanelForm(FlaskForm):
    class Meta:
        def get_translations(self, form: Any) -> Any:
            language = current_app.config["KABINET"].clinic.language
            return get_translations(LOCALES.get(language, LOCALES["ru"]))
