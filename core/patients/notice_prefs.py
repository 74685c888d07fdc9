"""Which notices a chat gets: the patient's choice in «Настройки», one set per subscriber.

Optional kinds are the ones a patient can live without: rating requests after a visit, care
instructions, and bonus notices. Visit notices and reminders (booked, moved, cancelled, the
reminder sequence, «ждём вас», arrival, no-show) are not optional: they are about a booking
the patient made, the clinic's confirmations rest on them, and turning them off in the bot
would only move the reminder to an SMS (core.reminders sends one when no chat takes it).
A family member muted in «Семья» (PatientLink.muted) gets none of them in that chat.
Mailings and greetings have their own switch (Subscriber.marketing_opt_out_at).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from core.models import Subscriber

OPTIONAL = ("ratings", "care", "loyalty")


def turned_off(sub: Subscriber) -> set[str]:
    return {kind for kind in (sub.notices_off or "").split(",") if kind in OPTIONAL}


def wants(sub: Subscriber, kind: str) -> bool:
    return kind not in turned_off(sub)


def toggle(sub: Subscriber, kind: str) -> bool:
    """Turn `kind` the other way; returns True if it is now on. An unknown kind is refused."""
    if kind not in OPTIONAL:
        raise ValueError(f"{kind!r} is not an optional notice kind")
    off = turned_off(sub) ^ {kind}
    sub.notices_off = ",".join(k for k in OPTIONAL if k in off)
    return kind not in off


def wants_clause(kind: str) -> ColumnElement[bool]:
    """The SQL condition for bulk planners (ratings): the subscriber has not turned `kind` off.
    The kinds are distinct words, so a substring test is exact."""
    return ~Subscriber.notices_off.contains(kind)
