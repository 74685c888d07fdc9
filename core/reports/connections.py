"""Patients connected to the bot, over time and per administrator.

What the store records: a patient is connected when a chat is first linked to them
(PatientLink.linked_at, the earliest of the patient's links: a second chat of the same
patient is not a new connection). Where they came from is the deep link the chat opened
the bot with: a staff member's link («s…» — Referral with referrer_kind "staff", the
staff member who gets the connection bonus), another patient's («r…»), a link with any
other tag (a QR code on the desk, a website button: Subscriber.start_payload), or none.
Linking is the bot's work (the patient shares their number); the panel has no step in
which an administrator links a patient by hand, so "per administrator" means through
whose link the patient came — the same count as the staff leaderboard.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.loyalty.referrals import parse_payload
from core.loyalty.reports import leaderboard
from core.models import PatientLink, Referral, StaffUser, Subscriber
from core.reports import cache
from core.reports.model import Chart, Column, Figure, Report, Series, Table
from core.reports.period import Period

SOURCES = {
    "staff": "по ссылке сотрудника",
    "patient": "по рекомендации пациента",
    "tag": "по другой ссылке (метка)",
    "none": "без ссылки",
}


def connected_counts(session: Session, period: Period) -> dict[str, list[int]]:
    """How many patients were first connected in each of the period's buckets, by source.

    A patient's first link is the one no other of theirs precedes (earlier, or in the same
    instant with a smaller id: two chats linked at once count once, by the first one's
    link). Read as the links made in the period (a range of ix_patient_links_linked_at),
    each probed for an earlier one (ix_patient_links_patient_linked), and counted in the
    database by bucket, referral kind and start payload: rows for the payloads used, not
    one per patient, instead of grouping every link of the store for its earliest."""
    buckets = period.buckets()
    counts = {source: [0] * len(buckets) for source in SOURCES}
    if not buckets:
        return counts
    earlier = aliased(PatientLink)
    bucket = case(
        *((PatientLink.linked_at < b.end, index) for index, b in enumerate(buckets)),
        else_=len(buckets),
    ).label("bucket")
    rows = session.execute(
        select(bucket, Referral.referrer_kind, Subscriber.start_payload, func.count())
        .select_from(PatientLink)
        .join(Subscriber, Subscriber.id == PatientLink.subscriber_id)
        .outerjoin(Referral, Referral.referred_patient_mis_id == PatientLink.patient_mis_id)
        .where(
            PatientLink.linked_at >= period.start,
            PatientLink.linked_at < period.end,
            ~select(earlier.id)
            .where(
                earlier.patient_mis_id == PatientLink.patient_mis_id,
                or_(
                    earlier.linked_at < PatientLink.linked_at,
                    and_(earlier.linked_at == PatientLink.linked_at, earlier.id < PatientLink.id),
                ),
            )
            .exists(),
        )
        .group_by(bucket, Referral.referrer_kind, Subscriber.start_payload)
    ).all()
    for index, referrer_kind, payload, count in rows:
        if not 0 <= index < len(buckets):
            continue
        # A referral not made (an unknown code) still shows the link was a coded one.
        kind = referrer_kind or ("tag" if parse_payload(payload).kind != "none" else "none")
        counts[kind][index] += int(count)
    return counts


def report(session: Session, period: Period) -> Report:
    """Kept until the data change (core/reports/cache.py): every link of the period is
    read, 40-60 ms at 30,000."""
    return cache.kept(session, ("connections", period), lambda: _report(session, period))


def _report(session: Session, period: Period) -> Report:
    buckets = period.buckets()
    counts = connected_counts(session, period)
    totals = [sum(counts[s][i] for s in SOURCES) for i in range(len(buckets))]
    standings = leaderboard(session, period.start, period.end)
    inactive = session.scalar(select(StaffUser.id).where(StaffUser.active.is_(False)))
    labels = [b.short for b in buckets]
    return Report(
        slug="connections",
        title="Подключение пациентов",
        figures=[
            Figure("connected", "Подключено пациентов", sum(totals)),
            Figure("by-staff", "Из них по ссылкам сотрудников", sum(counts["staff"])),
        ],
        charts=[
            Chart(
                "connections-chart",
                "Подключено пациентов",
                "Столбцы: сколько пациентов впервые подключились к боту за каждый отрезок "
                "периода, по тому, откуда они пришли.",
                labels,
                [Series(SOURCES[s], list(counts[s])) for s in SOURCES],
                style="stacked",
            ),
            Chart(
                "staff-chart",
                "Подключено по ссылкам сотрудников",
                "Столбцы: сколько пациентов подключилось по ссылке каждого сотрудника.",
                [s.name for s in standings],
                [Series("подключено", [s.connected for s in standings])],
            ),
        ],
        tables=[
            Table(
                "connections",
                "Подключено по отрезкам периода",
                (
                    Column("Отрезок", "text"),
                    *(Column(title.capitalize()) for title in SOURCES.values()),
                    Column("Всего"),
                ),
                [
                    (b.label, *(counts[s][i] for s in SOURCES), totals[i])
                    for i, b in enumerate(buckets)
                ],
            ),
            Table(
                "by-staff",
                "По сотрудникам",
                (
                    Column("Сотрудник", "text"),
                    Column("Подключено"),
                    Column("Из них оплатили визит"),
                    Column("Бонусов сотруднику"),
                ),
                [(s.name, s.connected, s.paying, s.points) for s in standings],
            ),
        ],
        notes=[
            "Подключён — когда к пациенту впервые привязали чат в мессенджере (второй чат "
            "того же пациента — не новое подключение).",
            "Откуда пришёл — по ссылке, с которой чат открыл бота. Привязку делает бот, "
            "когда пациент делится номером: в панели администратор пациентов не "
            "подключает, поэтому «по сотрудникам» — по чьей ссылке пришёл пациент "
            "(как в таблице лидеров: засчитанные подключения, активные сотрудники).",
        ]
        + (["Уволенные (отключённые) сотрудники в таблице не показаны."] if inactive else []),
    )
