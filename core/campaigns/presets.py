"""Ready-made campaigns the builder starts from: the hygiene recall and the bonus reminder.

A preset fills the builder (segment, title, text); the manager may change any of it before
sending. The recall's messages carry «Записаться»: pressing it, or answering «+», opens a
booking episode in the patient's thread (core.campaigns.booking).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.campaigns.segments import Segment

HYGIENE = "гигиен"  # matches «Профессиональная гигиена…» and «Гигиенист стоматологический»
BONUS_THRESHOLD = 500


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    title: str
    text: str
    segment: Segment
    booking: bool = False


def hygiene_recall() -> Preset:
    return Preset(
        key="hygiene_recall",
        label="Напоминание о гигиене",
        title="Пора на профессиональную гигиену",
        text="{name}, с последней профессиональной гигиены прошло полгода. Чтобы записаться, "
        "нажмите «Записаться» или ответьте «+» — администратор подберёт время.",
        segment=Segment(service=HYGIENE, last_visit_months=6, no_future_visit=True),
        booking=True,
    )


def bonus_reminder(threshold: int = BONUS_THRESHOLD) -> Preset:
    return Preset(
        key="bonus_reminder",
        label="Напоминание о бонусах",
        title="Потратьте бонусы на гигиену",
        text="{name}, на вашем счёте {balance} бонусных баллов — потратьте их на "
        "профессиональную гигиену! Ответьте «+», и мы запишем вас.",
        segment=Segment(balance_above=threshold),
        booking=True,
    )


def presets(bonus_threshold: int = BONUS_THRESHOLD) -> dict[str, Preset]:
    return {p.key: p for p in (hygiene_recall(), bonus_reminder(bonus_threshold))}
