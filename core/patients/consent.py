"""The consent to personal data processing: its text, versioned in the panel, and a
subscriber's answer.

The bot shows the latest version (the catalogue's default text, version `DEFAULT_VERSION`,
until the clinic writes its own). Acceptance is recorded on the subscriber: the chat it came
from, when, and which version. A decline keeps nothing that identifies the person: the
subscriber row the /start made is deleted (or, if it already carries history that must
stay, stripped of name, username, phone and payload).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from core.models import ConsentText, PatientLink, Subscriber, Task, VisitRating
from core.patients.linking import CONSENT_VERSION
from core.texts import render
from core.versioned_text import VersionedText

DEFAULT_VERSION = CONSENT_VERSION
MAX_TEXT = 3000  # with the greeting around it, well within one 4,096-character message


@dataclass(frozen=True)
class Current:
    version: str
    text: str
    custom: bool  # written in the panel, not the catalogue's default


_TEXTS = VersionedText(ConsentText, "согласия", first_custom=1, max_text=MAX_TEXT)


def current(session: Session, clinic: str, lang: str = "ru") -> Current:
    row = _TEXTS.latest(session)
    if row is None:
        return Current(DEFAULT_VERSION, render("consent_default_text", lang, clinic=clinic), False)
    return Current(row.version, row.text, True)


def history(session: Session) -> list[ConsentText]:
    return _TEXTS.history(session)


check_text = _TEXTS.check


def new_version(session: Session, text: str, who: str, now: datetime) -> ConsentText:
    """A new version from the panel: numbered on from the last one ("1", "2", …)."""
    return _TEXTS.add(session, text, who, now)


def accept(sub: Subscriber, version: str, now: datetime) -> None:
    sub.consent_at, sub.consent_version = now, version


def forget(session: Session, sub: Subscriber) -> None:
    """Keep nothing that identifies a person who declined.

    A chat that never got further than the consent step has nothing else: its row goes. A
    chat with history (a thread, tasks, ratings: it was linked before) keeps the row for
    those to point at, stripped of who it is.
    """
    has_history = session.scalar(
        select(
            exists().where(PatientLink.subscriber_id == sub.id)
            | exists().where(Task.subscriber_id == sub.id)
            | exists().where(VisitRating.subscriber_id == sub.id)
        )
    )
    if not has_history:
        from core.conversations.models import Conversation

        has_history = (
            session.scalar(select(Conversation.id).where(Conversation.subscriber_id == sub.id))
            is not None
        )
    if has_history:
        sub.first_name = sub.last_name = sub.username = sub.phone = sub.start_payload = ""
        sub.consent_at, sub.consent_version = None, ""
        return
    session.execute(delete(Subscriber).where(Subscriber.id == sub.id))
    session.expunge(sub)
