"""Review links offered, and what is known of reviews left.

What the store records: a rating request carries the clinic's review link
(VisitRating.review_link_offered, at most once per patient per review_every_days), and a
review the staff saw and rewarded is a "review" bonus entry (cause
``review:<patient>:<platform>``, approved in the patient card). Whether a patient opened
the link is not recorded: the button opens the review site directly from the messenger,
and Kabinet never hears of it. Recording it would need the button to go through the
appliance (a redirect at a public address the patients' phones can reach, a new column,
a migration); that is not done, so the page says so instead of showing a guess.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.loyalty.operations import BONUS_PLATFORMS
from core.models import LedgerEntry, VisitRating
from core.reports.model import Chart, Column, Figure, Report, Series, Table, share
from core.reports.period import Period

PLATFORMS = {"yandex": "Яндекс", "2gis": "2ГИС", "prodoctorov": "ПроДокторов", "other": "другие"}


def report(session: Session, period: Period) -> Report:
    buckets = period.buckets()
    n = len(buckets)
    asked, offered, answered = [0] * n, [0] * n, [0] * n
    for asked_at, offer, score in session.execute(
        select(VisitRating.asked_at, VisitRating.review_link_offered, VisitRating.score).where(
            VisitRating.asked_at >= period.start, VisitRating.asked_at < period.end
        )
    ):
        index = period.locate(buckets, asked_at)
        if index is None:
            continue
        asked[index] += 1
        if offer:
            offered[index] += 1
            answered[index] += score is not None
    platforms = BONUS_PLATFORMS["review"]
    rewarded = {p: [0] * n for p in platforms}
    for cause, created_at in session.execute(
        select(LedgerEntry.cause, LedgerEntry.created_at).where(
            LedgerEntry.kind == "review",
            LedgerEntry.amount > 0,
            LedgerEntry.created_at >= period.start,
            LedgerEntry.created_at < period.end,
        )
    ):
        index = period.locate(buckets, created_at)
        platform = cause.rsplit(":", 1)[-1]
        if index is not None:
            rewarded.get(platform, rewarded["other"])[index] += 1
    reviews = [sum(rewarded[p][i] for p in platforms) for i in range(n)]
    labels = [b.short for b in buckets]
    return Report(
        slug="reviews",
        title="Ссылки на отзывы",
        figures=[
            Figure("offered", "Ссылку предложили", sum(offered)),
            Figure(
                "offered-share", "Из запросов оценки", share(sum(offered), sum(asked)), "percent"
            ),
            Figure("reviews", "Отзывов подтверждено", sum(reviews)),
        ],
        charts=[
            Chart(
                "reviews-chart",
                "Ссылки на отзывы и подтверждённые отзывы",
                "Столбцы: сколько раз бот предложил ссылку на отзыв и сколько отзывов "
                "сотрудники подтвердили бонусом, по отрезкам периода.",
                labels,
                [
                    Series("ссылку предложили", list(offered)),
                    Series("отзывов подтверждено", list(reviews)),
                ],
            ),
        ],
        tables=[
            Table(
                "reviews",
                "По отрезкам периода",
                (
                    Column("Отрезок", "text"),
                    Column("Запросов оценки"),
                    Column("Со ссылкой на отзыв"),
                    Column("Из них оценили визит"),
                    *(Column(f"Отзывов: {PLATFORMS.get(p, p)}") for p in platforms),
                    Column("Отзывов подтверждено"),
                ),
                [
                    (
                        b.label,
                        asked[i],
                        offered[i],
                        answered[i],
                        *(rewarded[p][i] for p in platforms),
                        reviews[i],
                    )
                    for i, b in enumerate(buckets)
                ],
            )
        ],
        notes=[
            "Ссылку на отзыв бот даёт в самом запросе оценки, всем спрошенным (не чаще "
            "раза в messaging.review_every_days дней на пациента), до и независимо от "
            "оценки.",
            "Открыл ли пациент ссылку, Кабинет не знает: кнопка ведёт прямо на сайт "
            "отзывов, мимо Кабинета. Поэтому «открыли» здесь нет.",
            "«Отзывов подтверждено» — бонусы за отзыв, которые сотрудник начислил в карточке "
            "пациента, увидев отзыв (если бонус за отзыв включён в настройках программы).",
        ],
    )
