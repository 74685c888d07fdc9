"""A person behind several chats: the same proven number in Telegram and in MAX.

Kept apart from core.patients.linking so the thread (core.conversations.lines) can ask it without
importing the patient look-ups, which themselves open a person's thread when they link.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.models import PatientLink, Subscriber


def person_chats(session: Session, sub: Subscriber) -> list[Subscriber]:
    """The person's chats in every messenger: this one and the linked chats proven on the
    same number (a number is one person's: Telegram and MAX each give it one account)."""
    if not sub.phone:
        return [sub]
    others = session.scalars(
        select(Subscriber)
        .where(
            Subscriber.phone == sub.phone,
            Subscriber.id != sub.id,
            exists().where(PatientLink.subscriber_id == Subscriber.id),
        )
        .order_by(Subscriber.id)
    )
    return sorted([sub, *others], key=lambda s: s.id)
