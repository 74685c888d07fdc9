"""Referrals: patients brought by other patients' links, and the revenue they brought.

A referral is made when the referred patient first connects by a patient's «r…» link
(core.loyalty.referrals): it waits for the first paid visit (pending), is rewarded, or is
not counted (ineligible: the referrer's own family, a patient who had paid before) or
taken back (reversed: that payment refunded). The revenue referred patients brought is
core.loyalty.money.referred_money (summed payment by payment: referred_payments) — the same figure as in Экономика: their money payments,
net of refunds, from the day they came, for referrals neither refused nor reversed.
Staff links are in «Подключение пациентов».
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.loyalty.money import referred_payments
from core.models import Patient, Referral
from core.reports.model import Chart, Column, Figure, Report, Series, Table
from core.reports.period import Period

STATES = {
    "pending": "ждут первого оплаченного визита",
    "rewarded": "вознаграждены",
    "ineligible": "не засчитаны",
    "reversed": "отменены",
}


def report(session: Session, period: Period) -> Report:
    buckets = period.buckets()
    n = len(buckets)
    made = {state: [0] * n for state in STATES}
    by_referrer: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    for referrer, state, created_at in session.execute(
        select(Referral.referrer_id, Referral.state, Referral.created_at).where(
            Referral.referrer_kind == "patient",
            Referral.created_at >= period.start,
            Referral.created_at < period.end,
        )
    ):
        index = period.locate(buckets, created_at)
        if index is None or state not in STATES:
            continue
        made[state][index] += 1
        by_referrer[referrer][state] += 1
    revenue = [Decimal(0)] * n
    brought: dict[str, Decimal] = defaultdict(Decimal)
    for payment in referred_payments(session, period.start, period.end):
        index = period.locate(buckets, payment.paid_at)
        if index is not None:
            revenue[index] += payment.net
            brought[payment.referrer_id] += payment.net
    names = dict(
        session.execute(
            select(Patient.mis_id, Patient.last_name + " " + Patient.first_name).where(
                Patient.mis_id.in_(list(by_referrer))
            )
        ).all()
    )
    referrers = [
        (
            names.get(mis_id, f"пациент {mis_id}").strip(),
            sum(states.values()),
            states["rewarded"],
            brought.get(mis_id, Decimal(0)),
        )
        for mis_id, states in by_referrer.items()
    ]
    referrers.sort(key=lambda r: (-r[3], -r[1], r[0]))
    total = sum(revenue, Decimal(0))
    return Report(
        slug="referrals",
        title="Рекомендации",
        figures=[
            Figure("referred", "Пациентов по рекомендации", sum(sum(v) for v in made.values())),
            Figure("rewarded", "Из них вознаграждено", sum(made["rewarded"])),
            Figure("revenue", "Выручка от приглашённых", total, "money"),
        ],
        charts=[
            Chart(
                "revenue-chart",
                "Выручка от приглашённых пациентов",
                "Столбцы: сколько заплатили за отрезок периода пациенты, пришедшие по "
                "ссылке другого пациента.",
                [b.short for b in buckets],
                [Series("выручка, ₽", list(revenue))],
                unit="money",
            ),
            Chart(
                "referrals-chart",
                "Новые пациенты по рекомендации",
                "Столбцы: сколько пациентов пришло по ссылке другого пациента, по тому, чем "
                "закончилась рекомендация.",
                [b.short for b in buckets],
                [Series(title, list(made[state])) for state, title in STATES.items()],
                style="stacked",
            ),
        ],
        tables=[
            Table(
                "referrals",
                "По отрезкам периода",
                (
                    Column("Отрезок", "text"),
                    *(Column(title.capitalize()) for title in STATES.values()),
                    Column("Выручка от приглашённых", "money"),
                ),
                [
                    (b.label, *(made[s][i] for s in STATES), revenue[i])
                    for i, b in enumerate(buckets)
                ],
            ),
            Table(
                "by-referrer",
                "Кто рекомендовал",
                (
                    Column("Пациент", "text"),
                    Column("Привёл"),
                    Column("Вознаграждено"),
                    Column("Выручка от приведённых", "money"),
                ),
                list(referrers),
            ),
        ],
        notes=[
            "Рекомендация считается в день, когда приглашённый подключился по ссылке. "
            "Выручка — оплаты деньгами без возвратов, которые приглашённые внесли за "
            "отрезок с того дня, как пришли (не засчитанные и отменённые рекомендации не "
            "в счёт) — та же цифра, что в «Экономике».",
            "«Кто рекомендовал» — пациенты, по чьим ссылкам пришли в этот период; выручка "
            "— за период, от всех, кого они привели.",
        ],
    )
