"""Reminder confirmation rate: of the visits a reminder reached, how many were confirmed.

Where it is recorded: each reminder is an outbox row (kind "reminder", state "sent"; the
key names the visit: ``reminder:<visit>:<start>:…``), the answer is on the visit
(Appointment.confirmation: confirmed, reschedule, cancel; empty — no answer). A visit
counts once however many steps of the sequence reached it, in the bucket of the day it
is (or was) booked for. An SMS reminder has no buttons to confirm with, so visits reached
only by SMS are counted apart and not in the rate. The outbox forgets sent rows after
messaging.keep_days; before it does, core.visits.reminder_reach keeps which visits they
reached, so older periods count too. Reminders pruned before that table existed are
gone: the page says since when reminders are known.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Appointment
from core.reports.model import Chart, Column, Figure, Report, Series, Table, share
from core.reports.period import Period
from core.visits import reminder_reach

# The furthest ahead a reminder is sent (messaging.reminder_sequence allows 14 days).
LEAD = timedelta(days=15)
ANSWERS = ("confirmed", "reschedule", "cancel")


def reminded_visits(session: Session, period: Period) -> dict[str, bool]:
    """Visit (MIS id) -> reached in a messenger (True) or only by SMS (False)."""
    return reminder_reach.reached(session, period.start - LEAD, period.end)


def report(session: Session, period: Period) -> Report:
    buckets = period.buckets()
    n = len(buckets)
    reached = [0] * n
    answers = {a: [0] * n for a in ANSWERS}
    sms_only = [0] * n
    visits = reminded_visits(session, period)
    for mis_id, starts_at, confirmation in session.execute(
        select(Appointment.mis_id, Appointment.starts_at, Appointment.confirmation).where(
            Appointment.starts_at >= period.start,
            Appointment.starts_at < period.end,
            Appointment.deleted.is_(False),
        )
    ):
        messenger = visits.get(mis_id)
        index = period.locate(buckets, starts_at)
        if messenger is None or index is None:
            continue  # no reminder reached this visit
        if not messenger:
            sms_only[index] += 1
            continue
        reached[index] += 1
        if confirmation in answers:
            answers[confirmation][index] += 1
    silent = [reached[i] - sum(answers[a][i] for a in ANSWERS) for i in range(n)]
    rates = [share(answers["confirmed"][i], reached[i]) for i in range(n)]
    notes = [
        "Визит считается один раз, сколько бы напоминаний цепочки до него ни дошло, — в "
        "день, на который он записан. Доля подтверждённых — от визитов, до которых "
        "напоминание дошло в мессенджере (в SMS кнопки подтвердить нет).",
    ]
    known_since = reminder_reach.oldest(session)
    if known_since is not None and period.start < known_since:
        notes.append(
            "Кабинет знает о напоминаниях, отправленных с "
            f"{known_since.astimezone(period.tz):%d.%m.%Y}: о более ранних визитах цифры неполные."
        )
    return Report(
        slug="confirmations",
        title="Подтверждение визитов",
        figures=[
            Figure("reached", "Визитов с напоминанием", sum(reached)),
            Figure("confirmed", "Подтверждено", sum(answers["confirmed"])),
            Figure(
                "rate",
                "Доля подтверждённых",
                share(sum(answers["confirmed"]), sum(reached)),
                "percent",
            ),
        ],
        charts=[
            Chart(
                "rate-chart",
                "Доля подтверждённых визитов",
                "Линия: какая доля визитов, до которых дошло напоминание, подтверждена "
                "пациентом, по отрезкам периода.",
                [b.short for b in buckets],
                [Series("подтверждено, %", list(rates))],
                style="line",
                unit="percent",
            ),
            Chart(
                "answers-chart",
                "Ответы на напоминания",
                "Столбцы: визиты с напоминанием по ответу пациента.",
                [b.short for b in buckets],
                [
                    Series("подтвердил", list(answers["confirmed"])),
                    Series("просит перенести", list(answers["reschedule"])),
                    Series("отменил", list(answers["cancel"])),
                    Series("не ответил", list(silent)),
                ],
                style="stacked",
            ),
        ],
        tables=[
            Table(
                "confirmations",
                "По отрезкам периода",
                (
                    Column("Отрезок", "text"),
                    Column("Визитов с напоминанием"),
                    Column("Подтвердил"),
                    Column("Просит перенести"),
                    Column("Отменил"),
                    Column("Не ответил"),
                    Column("Доля подтверждённых", "percent"),
                    Column("Только SMS"),
                ),
                [
                    (
                        b.label,
                        reached[i],
                        answers["confirmed"][i],
                        answers["reschedule"][i],
                        answers["cancel"][i],
                        silent[i],
                        rates[i],
                        sms_only[i],
                    )
                    for i, b in enumerate(buckets)
                ],
            )
        ],
        notes=notes,
    )
