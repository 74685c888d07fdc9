"""Review links offered and opened, and what is known of reviews left.

What the store records: a rating request carries the clinic's review links
(VisitRating.review_link_offered, at most once per patient per review_every_days), each
platform's button a ReviewOffer (core/ratings/review_links.py); a review the staff saw and
rewarded is a "review" bonus entry (cause ``review:<patient>:<platform>``, approved in the
patient card). An open is known only for a button that led through the appliance
(web.public_url set: <public_url>/r/<token> counts it and sends the patient on); without
web.public_url the button opens the platform directly and the page says so instead of
showing a guess. Opens count by the offer's time: the open rate of a period is of the
buttons offered in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.loyalty.operations import BONUS_PLATFORMS
from core.models import LedgerEntry, VisitRating
from core.ratings.models import ReviewOffer
from core.ratings.review_links import configured
from core.reports.model import Chart, Column, Figure, Report, Series, Table, share
from core.reports.period import Period
from core.settings.catalogue import review_platform_label

PLATFORMS = {"yandex": "Яндекс", "2gis": "2ГИС", "prodoctorov": "ПроДокторов", "other": "другие"}


@dataclass
class Opens:
    offered: int = 0  # buttons offered
    tracked: int = 0  # of them through web.public_url, so an open would be known
    opened: int = 0  # of those, opened at least once
    opens: int = 0  # every open, repeated ones too

    def add(self, tracked: bool, opens: int) -> None:
        self.offered += 1
        self.tracked += tracked
        self.opened += tracked and opens > 0
        self.opens += opens if tracked else 0

    @property
    def rate(self) -> Decimal | None:
        return share(self.opened, self.tracked)


def _opens(
    session: Session, period: Period, n: int, order: list[tuple[str, str]]
) -> tuple[list[Opens], dict[tuple[str, str], Opens]]:
    """Per bucket and per platform (the clinic's list order first, then any other
    platform offered in the period, e.g. one since removed from the list)."""
    buckets = period.buckets()
    by_bucket = [Opens() for _ in range(n)]
    by_platform: dict[tuple[str, str], Opens] = {key: Opens() for key in order}
    for offered_at, platform, name, tracked, opens in session.execute(
        select(
            ReviewOffer.offered_at,
            ReviewOffer.platform,
            ReviewOffer.name,
            ReviewOffer.tracked,
            ReviewOffer.opens,
        ).where(ReviewOffer.offered_at >= period.start, ReviewOffer.offered_at < period.end)
    ):
        index = period.locate(buckets, offered_at)
        if index is None:
            continue
        by_bucket[index].add(tracked, opens)
        by_platform.setdefault((platform, name), Opens()).add(tracked, opens)
    return by_bucket, by_platform


def _notes(config: Config, total: Opens) -> list[str]:
    notes = [
        "Ссылку на отзыв бот даёт в самом запросе оценки, всем спрошенным (не чаще "
        "раза в messaging.review_every_days дней на пациента), до и независимо от "
        "оценки; какие площадки — по правилу «Какие площадки предлагать» в «Настройках».",
    ]
    if not config.web.public_url:
        notes.append(
            "Открыл ли пациент ссылку, Кабинет не знает: не задан web.public_url, и кнопка "
            "ведёт прямо на сайт отзывов, мимо Кабинета. С адресом Кабинета кнопка ведёт "
            "через него (…/r/…), и открытия считаются."
        )
    else:
        notes.append(
            "«Открыли» — кнопки, по которым пациент перешёл хотя бы раз (через адрес "
            "Кабинета …/r/…), по времени, когда ссылку предложили; «Доля открывших» — от "
            "кнопок, предложенных с учётом открытий."
        )
    if total.offered > total.tracked:
        notes.append(
            "Кнопки, предложенные, когда web.public_url не был задан, вели прямо на площадку: "
            "их открытия неизвестны, и в доле открывших они не участвуют."
        )
    notes.append(
        "«Отзывов подтверждено» — бонусы за отзыв, которые сотрудник начислил в карточке "
        "пациента, увидев отзыв (если бонус за отзыв включён в настройках программы)."
    )
    return notes


def report(session: Session, period: Period, config: Config) -> Report:
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
    order = [link.key for link in configured(config.messaging)]
    by_bucket, by_platform = _opens(session, period, n, order)
    total = Opens(
        sum(o.offered for o in by_bucket),
        sum(o.tracked for o in by_bucket),
        sum(o.opened for o in by_bucket),
        sum(o.opens for o in by_bucket),
    )
    tracking = bool(config.web.public_url) or total.tracked > 0
    names = {key: review_platform_label(*key) for key in by_platform}

    def known(value: int) -> int | None:  # an open count, or nothing while none is known
        return value if tracking else None

    return Report(
        slug="reviews",
        title="Ссылки на отзывы",
        figures=[
            Figure("offered", "Ссылку предложили", sum(offered)),
            Figure(
                "offered-share", "Из запросов оценки", share(sum(offered), sum(asked)), "percent"
            ),
            Figure("buttons", "Кнопок площадок предложено", total.offered),
            Figure("opened", "Открыли", known(total.opened)),
            Figure("open-rate", "Доля открывших", total.rate if tracking else None, "percent"),
            Figure("reviews", "Отзывов подтверждено", sum(reviews)),
        ],
        charts=[
            Chart(
                "reviews-chart",
                "Ссылки на отзывы, открытия и подтверждённые отзывы",
                "Столбцы: сколько кнопок площадок бот предложил, сколько из них пациенты "
                "открыли и сколько отзывов сотрудники подтвердили бонусом, по отрезкам периода.",
                labels,
                [
                    Series("кнопок предложено", [o.offered for o in by_bucket]),
                    *([Series("открыли", [o.opened for o in by_bucket])] if tracking else []),
                    Series("отзывов подтверждено", list(reviews)),
                ],
            ),
            Chart(
                "platforms-chart",
                "По площадкам",
                "Столбцы: сколько раз бот предложил каждую площадку и сколько раз её открыли.",
                [names[key] for key in by_platform],
                [
                    Series("предложено", [o.offered for o in by_platform.values()]),
                    *(
                        [Series("открыли", [o.opened for o in by_platform.values()])]
                        if tracking
                        else []
                    ),
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
                    Column("Кнопок площадок"),
                    Column("Открыли"),
                    Column("Доля открывших", "percent"),
                ),
                [
                    (
                        b.label,
                        asked[i],
                        offered[i],
                        answered[i],
                        *(rewarded[p][i] for p in platforms),
                        reviews[i],
                        by_bucket[i].offered,
                        known(by_bucket[i].opened),
                        by_bucket[i].rate if tracking else None,
                    )
                    for i, b in enumerate(buckets)
                ],
            ),
            Table(
                "platforms",
                "По площадкам",
                (
                    Column("Площадка", "text"),
                    Column("Предложено"),
                    Column("С учётом открытий"),
                    Column("Открыли"),
                    Column("Открытий всего"),
                    Column("Доля открывших", "percent"),
                ),
                [
                    (
                        names[key],
                        o.offered,
                        o.tracked,
                        known(o.opened),
                        known(o.opens),
                        o.rate if tracking else None,
                    )
                    for key, o in by_platform.items()
                ],
            ),
        ],
        notes=_notes(config, total),
    )
