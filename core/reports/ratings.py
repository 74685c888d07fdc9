"""Ratings after visits and NPS, over time and per doctor.

Each answered rating (VisitRating with a score) counts in the bucket of the day it was
given. Ratings come on the scale they were asked on (kept per rating): 1-10, 1-5 or five
smileys (1-5). NPS, the share of promoters less the share of detractors, is defined on
a 0-10 scale; the bot's 1-10 has no 0, so 1-6 are detractors, 7-8 passives, 9-10
promoters, as in NPS. A 1-5 score (a smiley is one: 😞 1 … 😄 5) is not an NPS answer;
it is mapped the way five-point surveys usually are: 5 a promoter, 4 a passive, 1-3 a
detractor. The average is out of 5: a 1-10 score is halved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Doctor, VisitRating
from core.reports.model import Chart, Column, Figure, Report, Series, Table, Value
from core.reports.period import Period

NO_DOCTOR = "врач не указан"


def nps_group(score: int, scale: str) -> str:
    """promoter, passive or detractor (see the module's note for the 1-5 mapping)."""
    if scale == "10":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return "promoter" if score == 5 else "passive" if score == 4 else "detractor"


@dataclass
class Tally:
    answers: int = 0
    halves: int = 0  # the sum out of 5, in half points (integers: 60,000 ratings add fast)
    groups: dict[str, int] = field(
        default_factory=lambda: {"promoter": 0, "passive": 0, "detractor": 0}
    )

    def add(self, score: int, scale: str) -> None:
        self.answers += 1
        self.halves += score if scale == "10" else 2 * score
        self.groups[nps_group(score, scale)] += 1

    @property
    def average(self) -> Decimal | None:
        return Decimal(self.halves) / 2 / self.answers if self.answers else None

    @property
    def nps(self) -> Decimal | None:
        if not self.answers:
            return None
        return Decimal(self.groups["promoter"] - self.groups["detractor"]) * 100 / self.answers

    def cells(self) -> tuple[Value, ...]:
        g = self.groups
        return (
            self.answers,
            self.average,
            g["promoter"],
            g["passive"],
            g["detractor"],
            self.nps,
        )


COLUMNS = (
    Column("Оценок"),
    Column("Средняя из 5", "decimal"),
    Column("Промоутеры"),
    Column("Нейтральные"),
    Column("Критики"),
    Column("NPS", "decimal"),
)


def report(session: Session, period: Period) -> Report:
    buckets = period.buckets()
    per_bucket = [Tally() for _ in buckets]
    per_doctor: dict[str, Tally] = {}
    overall = Tally()
    asked = [0] * len(buckets)
    for asked_at in session.scalars(
        select(VisitRating.asked_at).where(
            VisitRating.asked_at >= period.start, VisitRating.asked_at < period.end
        )
    ):
        index = period.locate(buckets, asked_at)
        if index is not None:
            asked[index] += 1
    names = dict(session.execute(select(Doctor.mis_id, Doctor.full_name)).all())
    for score, scale, answered_at, doctor in session.execute(
        select(
            VisitRating.score, VisitRating.scale, VisitRating.answered_at, VisitRating.doctor_mis_id
        ).where(
            VisitRating.score.is_not(None),
            VisitRating.answered_at >= period.start,
            VisitRating.answered_at < period.end,
        )
    ):
        index = period.locate(buckets, answered_at)
        if index is None or score is None:
            continue
        per_bucket[index].add(score, scale)
        overall.add(score, scale)
        name = names.get(doctor) or (f"врач {doctor}" if doctor else NO_DOCTOR)
        per_doctor.setdefault(name, Tally()).add(score, scale)
    doctors = sorted(per_doctor.items(), key=lambda item: (-item[1].answers, item[0]))
    labels = [b.short for b in buckets]
    return Report(
        slug="ratings",
        title="Оценки и NPS",
        figures=[
            Figure("answers", "Оценок", overall.answers),
            Figure("average", "Средняя из 5", overall.average, "decimal"),
            Figure("nps", "NPS", overall.nps, "decimal"),
        ],
        charts=[
            Chart(
                "nps-chart",
                "NPS по отрезкам периода",
                "Линия: NPS (доля промоутеров минус доля критиков, от −100 до 100) по "
                "отрезкам периода; пропуск — оценок не было.",
                labels,
                [Series("NPS", [t.nps for t in per_bucket])],
                style="line",
                unit="decimal",
            ),
            Chart(
                "doctors-chart",
                "NPS по врачам",
                "Столбцы: NPS каждого врача за период.",
                [name for name, _ in doctors],
                [Series("NPS", [t.nps for _, t in doctors])],
                unit="decimal",
            ),
        ],
        tables=[
            Table(
                "ratings",
                "По отрезкам периода",
                (Column("Отрезок", "text"), Column("Запрошено"), *COLUMNS),
                [(b.label, asked[i], *per_bucket[i].cells()) for i, b in enumerate(buckets)],
            ),
            Table(
                "by-doctor",
                "По врачам",
                (Column("Врач", "text"), *COLUMNS),
                [(name, *t.cells()) for name, t in doctors],
            ),
        ],
        notes=[
            "NPS — доля промоутеров минус доля критиков, в пунктах от −100 до 100.",
            "Шкала 1–10: 9–10 — промоутеры, 7–8 — нейтральные, 1–6 — критики (как в NPS; "
            "нуля в кнопках бота нет).",
            "Шкала 1–5 и смайлики (😞 = 1 … 😄 = 5) — не вопрос NPS; пересчёт как для "
            "пятибалльных опросов: 5 — промоутер, 4 — нейтральный, 1–3 — критик.",
            "Средняя — из 5: оценка по шкале 1–10 делится пополам. Оценка считается в день, "
            "когда её поставили; «запрошено» — в день, когда бот спросил.",
        ],
    )
