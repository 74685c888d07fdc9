"""The bonus programme's economics as a chart: core.loyalty.reports.economics (the numbers
of «Экономика», one definition) over the months the period touches, whole months."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from core.config import Config
from core.loyalty.reports import economics
from core.reports import cache
from core.reports.model import Chart, Column, Figure, Report, Series, Table
from core.reports.period import MONTHS, Period


def report(session: Session, config: Config, period: Period) -> Report:
    """Kept until the data change (core/reports/cache.py): 60-80 ms at 1,000,000 entries."""
    key = ("economics", period, cache.config_key(config))
    return cache.kept(session, key, lambda: _report(session, config, period))


def _report(session: Session, config: Config, period: Period) -> Report:
    months = (period.last.year - period.first.year) * 12 + period.last.month - period.first.month
    rows = economics(session, config, period.at(period.last), months=months + 1)
    labels = [f"{MONTHS[m.month.month - 1][:3]} {m.month:%y}" for m in rows]
    cost = sum((m.cost_rub for m in rows), Decimal(0))
    flat = sum((m.flat_discount_rub for m in rows), Decimal(0))
    # The old discount as the owner set it: «5», «7,5».
    percent = format(rows[0].flat_discount_percent.normalize(), "f").replace(".", ",")
    return Report(
        slug="economics",
        title="Экономика бонусов",
        figures=[
            Figure("cost", "Программа стоила", cost, "money"),
            Figure("flat", f"Прежняя скидка {percent}\u00a0% стоила бы", flat, "money"),
            Figure("saving", "Разница в пользу программы", flat - cost, "money"),
        ],
        charts=[
            Chart(
                "cost-chart",
                "Стоимость программы и прежней скидки",
                "Столбцы по месяцам: во что обошлась бонусная программа и во что обошлась бы "
                "прежняя скидка на те же оплаты.",
                labels,
                [
                    Series("стоимость программы, ₽", [m.cost_rub for m in rows]),
                    Series(f"скидка {percent}\u00a0%, ₽", [m.flat_discount_rub for m in rows]),
                ],
                unit="money",
            ),
            Chart(
                "points-chart",
                "Бонусы по месяцам",
                "Столбцы по месяцам: бонусов начислено, потрачено и сгорело.",
                labels,
                [
                    Series("начислено", [m.accrued for m in rows]),
                    Series("потрачено", [m.spent for m in rows]),
                    Series("сгорело", [m.expired for m in rows]),
                ],
            ),
        ],
        tables=[
            Table(
                "economics",
                "По месяцам",
                (
                    Column("Месяц", "text"),
                    Column("Начислено бонусов"),
                    Column("Возвращено"),
                    Column("Потрачено"),
                    Column("Сгорело"),
                    Column("Обязательство на конец", "money"),
                    Column("Выручка", "money"),
                    Column("Фактическая скидка", "percent"),
                    Column("Стоимость программы", "money"),
                    Column(f"Скидка {percent}\u00a0% стоила бы", "money"),
                    Column("Выручка от приглашённых", "money"),
                ),
                [
                    (
                        f"{MONTHS[m.month.month - 1]} {m.month.year}",
                        m.accrued,
                        m.taken_back,
                        m.spent,
                        m.expired,
                        m.liability_rub,
                        m.revenue_rub,
                        m.effective_discount_percent,
                        m.cost_rub,
                        m.flat_discount_rub,
                        m.referred_revenue_rub,
                    )
                    for m in rows
                ],
            )
        ],
        notes=[
            "Месяцы целиком: те, которых касается выбранный период. Определения — как в "
            "«Экономике»: стоимость программы — начисленные бонусы за вычетом возвращённых "
            "и сгоревших по текущей цене бонуса; прежняя скидка — та же доля от оплат "
            "деньгами без возвратов.",
        ],
    )
