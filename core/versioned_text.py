"""A text the clinic words for itself in the panel and the patient accepts — the consent to
personal data processing (core.patients.consent), the agreement on a simple electronic signature
(core.documents.agreement): kept as numbered versions, never edited in place, so an
acceptance always names the exact wording it was given."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


class VersionedText(Generic[Row]):
    """The versions of one text in `model`'s table (columns version, text, created_by,
    created_at); a panel-written version is numbered on from `first_custom`."""

    def __init__(self, model: type[Row], noun: str, first_custom: int, max_text: int) -> None:
        self.model = model
        self.noun = noun  # in the genitive: «Текст согласия …»
        self.first_custom = first_custom
        self.max_text = max_text

    def latest(self, session: Session) -> Row | None:
        model: Any = self.model  # a mapped class with the columns named above
        row: Row | None = session.scalar(select(model).order_by(model.id.desc()).limit(1))
        return row

    def history(self, session: Session) -> list[Row]:
        model: Any = self.model
        return list(session.scalars(select(model).order_by(model.id.desc())))

    def check(self, text: str) -> list[str]:
        errors = []
        if not text.strip():
            errors.append(f"Текст {self.noun} не может быть пустым.")
        if len(text) > self.max_text:
            errors.append(f"Текст {self.noun} длиннее {self.max_text} символов.")
        return errors

    def add(self, session: Session, text: str, who: str, now: datetime) -> Row:
        """A new version; a text that fails `check` raises ValueError with the reasons."""
        errors = self.check(text)
        if errors:
            raise ValueError(" ".join(errors))
        number = len(self.history(session)) + self.first_custom
        model: Any = self.model
        row: Row = model(version=str(number), text=text.strip(), created_by=who, created_at=now)
        session.add(row)
        session.flush()
        return row
