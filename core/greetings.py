"""Birthday and holiday greetings, in the clinic's time zone.

Both are marketing in the sense of 152-FZ and the MIS's "no messages" flags: they go
only where a campaign may go (core.campaigns.marketing_chats rules). Birthdays are keyed
per patient and year, holidays per date, so a job run twice, late or after a restart
greets nobody twice.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, extract, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.campaigns import closed_to_mailings, create_campaign, unsubscribe_keyboard
from core.clock import utcnow
from core.config import Config
from core.db import transaction
from core.messengers import chosen_ids
from core.models import Campaign, OutboxMessage, Patient, PatientLink, Subscriber
from core.outbox import PRIORITY_GREETING, enqueue_many
from core.texts import render


def birthdays_on(day: date) -> list[tuple[int, int]]:
    """(month, day) pairs celebrated on `day`: 29 February is kept on the 28th in
    common years."""
    pairs = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        pairs.append((2, 29))
    return pairs


def born_on(day: date) -> ColumnElement[bool]:
    """Patients whose birthday is celebrated on `day`, as a WHERE clause: the store picks
    them by an index-free but cheap comparison instead of loading every patient."""
    return or_(
        *(
            and_(
                extract("month", Patient.birth_date) == month,
                extract("day", Patient.birth_date) == day_of_month,
            )
            for month, day_of_month in birthdays_on(day)
        )
    )


def plan_birthdays(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    """Greet today's birthdays (clinic date), once a year, not before birthday_send_at."""
    m = config.messaging
    if not m.birthday_enabled:
        return 0
    now = clock()
    local = now.astimezone(config.clinic.tz)
    if local.time() < m.birthday_time:
        return 0  # the job's start-up run before the hour: the scheduled run will do it
    today = local.date()
    with transaction(factory) as session:
        rows = session.execute(
            select(Patient, Subscriber)
            .join(PatientLink, PatientLink.patient_mis_id == Patient.mis_id)
            .join(Subscriber, Subscriber.id == PatientLink.subscriber_id)
            .where(
                Patient.birth_date.is_not(None),
                born_on(today),
                Patient.messaging_allowed.is_(True),
                Patient.status == "active",
                Subscriber.consent_at.is_not(None),
                Subscriber.marketing_opt_out_at.is_(None),
                Subscriber.unreachable_at.is_(None),
                Subscriber.channel.not_in(closed_to_mailings(config)),
            )
            .order_by(Patient.id, Subscriber.id)
        ).all()
        # The loyalty engine's birthday bonus notice ("с днём рождения! Дарим ...", keyed
        # birthday:<patient>:<year>:<chat>) already congratulates: one greeting is enough.
        bonus_keys = {f"birthday:{p.mis_id}:{today.year}:{s.id}" for p, s in rows}
        mine = chosen_ids(session, [sub for _, sub in rows], closed_to_mailings(config))
        congratulated = set(
            session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(bonus_keys)))
        )
        out = [
            {
                "key": f"greeting:birthday:{patient.mis_id}:{today.year}:{sub.id}",
                "chat_id": sub.chat_id,
                "channel": sub.channel,
                "patient_mis_id": patient.mis_id,
                "text": render(
                    "birthday", sub.language, name=patient.address_name, clinic=config.clinic.name
                ),
                "kind": "birthday",
                "priority": PRIORITY_GREETING,
                "reply_markup": unsubscribe_keyboard(sub.language),
            }
            for patient, sub in rows
            if f"birthday:{patient.mis_id}:{today.year}:{sub.id}" not in congratulated
            # A person in Telegram and MAX is congratulated once (core.messengers).
            and sub.id in mine
        ]
        return enqueue_many(session, out)


def holidays_today(config: Config, today: date) -> list[dict[str, str]]:
    found = []
    for holiday in config.messaging.holidays:
        when = holiday["date"]
        if when == today.isoformat() or when == today.strftime("%m-%d"):
            found.append(holiday)
    return found


def plan_holidays(
    factory: sessionmaker[Session], config: Config, clock: Callable[[], datetime] = utcnow
) -> int:
    """Today's holidays (clinic date) become campaigns to every chat that allows mailings;
    the campaigns job sends them. One campaign per holiday and year."""
    now = clock()
    local = now.astimezone(config.clinic.tz)
    if local.time() < config.messaging.holiday_time:
        return 0
    created = 0
    for holiday in holidays_today(config, local.date()):
        key = f"holiday:{local.date().isoformat()}:{holiday['date']}"
        try:
            with transaction(factory) as session:
                if session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None:
                    continue
                create_campaign(
                    session,
                    title=f"Праздник {local.date().strftime('%d.%m.%Y')}",
                    text=holiday["text"],
                    segment="all",
                    created_by="holidays",
                    kind="holiday",
                    key=key,
                    send_at=now,
                )
                created += 1
        except IntegrityError:
            continue  # created meanwhile by another run: the key says it exists
    return created
