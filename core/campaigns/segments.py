"""A campaign's audience as a typed definition, evaluated in SQL against the store.

A `Segment` is a conjunction of conditions on the MIS mirror (visits, doctors, birthdays),
the loyalty ledger (balance, points expiring) and Kabinet's own records (ratings). Every
condition left at its default is not applied; an empty segment is every connected patient.
`condition()` turns one into a SQL expression on `Patient` (correlated EXISTS / scalar
subqueries), so the audience is counted and expanded by the database, a chunk at a time,
without loading 30,000 patients into Python.

Dates are the clinic's: "six months ago" is counted back from today's local date and a
day's bounds are local midnights (core.clock.local_now with the clinic's zone).

Matching a service or a specialty ("гигиен") is a substring match. The MIS's service names
are kept as JSON text with non-ASCII characters escaped, so the fragment is matched in the
same escaped form; SQLite cannot fold Cyrillic case, so the fragment is tried as written,
lower-case, capitalised and upper-case.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import String, and_, cast, exists, extract, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from core.models import (
    Appointment,
    Doctor,
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyMember,
    Patient,
    VisitRating,
)

# Visit states that mean a visit still to come (core.visits: scheduled; the MIS may also
# mark one as arrived before it is completed).
UPCOMING = ("scheduled", "confirmed", "arrived")
MAX_MONTHS = 240
MAX_POINTS = 10_000_000
FRAGMENT_LIMIT = 100
EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)


class SegmentError(ValueError):
    """A segment that cannot be evaluated; the message says why, in the panel's Russian."""


@dataclass(frozen=True)
class Segment:
    """Who a campaign goes to. All set conditions must hold.

    last_visit_months: the last completed visit (of `service`, when given) was at least
        this many months ago; a patient with no such visit is not included.
    last_visit_from / last_visit_to: the last completed visit (of `service`) fell on a day
        between these dates, inclusive (either may be open).
    service: a fragment of a service name or of the doctor's specialty that makes a visit
        count for the two conditions above ("гигиен" for the hygiene recall).
    no_future_visit: no visit booked from now on.
    birthday_this_month: born in the clinic's current month.
    balance_above: more than this many points on the patient's account (a family's, when
        the patient is in one).
    expiring_by: some points on that account expire between now and the end of this day.
    doctor: the MIS id of a doctor the patient had a completed visit with.
    specialty: a fragment of the specialty of a doctor the patient had a completed visit with.
    rated: the patient gave a rating; rating_min / rating_max narrow the score.
    single_visit: exactly one completed visit: never came back since the first.
    """

    last_visit_months: int | None = None
    last_visit_from: date | None = None
    last_visit_to: date | None = None
    service: str = ""
    no_future_visit: bool = False
    birthday_this_month: bool = False
    balance_above: int | None = None
    expiring_by: date | None = None
    doctor: str = ""
    specialty: str = ""
    rated: bool = False
    rating_min: int | None = None
    rating_max: int | None = None
    single_visit: bool = False

    def __post_init__(self) -> None:
        for day in (self.last_visit_from, self.last_visit_to, self.expiring_by):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise SegmentError(f"Дата {day.strftime('%d.%m.%Y')} — вне разумных пределов.")
        months = self.last_visit_months
        if months is not None and not 1 <= months <= MAX_MONTHS:
            raise SegmentError(f"Число месяцев — от 1 до {MAX_MONTHS}.")
        if (
            self.last_visit_from
            and self.last_visit_to
            and self.last_visit_from > self.last_visit_to
        ):
            raise SegmentError("Начало периода последнего визита позже его конца.")
        if self.balance_above is not None and not 0 <= self.balance_above <= MAX_POINTS:
            raise SegmentError(f"Порог баланса — от 0 до {MAX_POINTS:,}.".replace(",", " "))
        for value in (self.rating_min, self.rating_max):
            if value is not None and not 0 <= value <= 10:
                raise SegmentError("Оценка — от 0 до 10.")
        if (
            self.rating_min is not None
            and self.rating_max is not None
            and self.rating_min > self.rating_max
        ):
            raise SegmentError("Наименьшая оценка больше наибольшей.")
        for text in (self.service, self.specialty, self.doctor):
            if "\x00" in text:
                raise SegmentError("Недопустимый символ в условии.")
            if len(text) > FRAGMENT_LIMIT:
                raise SegmentError(f"Слишком длинное значение (больше {FRAGMENT_LIMIT} символов).")

    @property
    def empty(self) -> bool:
        return self == Segment()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("last_visit_from", "last_visit_to", "expiring_by"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return {k: v for k, v in data.items() if v not in (None, "", False)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise SegmentError(f"Неизвестное условие сегмента: {key}.")
            if key in ("last_visit_from", "last_visit_to", "expiring_by") and value:
                value = date.fromisoformat(str(value))
            values[key] = value
        return cls(**values)


def months_back(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _midnight(day: date, tz: tzinfo) -> datetime:
    """The instant the clinic's `day` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _variants(fragment: str) -> list[str]:
    raw = fragment.strip()
    return list(dict.fromkeys((raw, raw.lower(), raw.capitalize(), raw.upper())))


def _services_match(fragment: str) -> ColumnElement[bool]:
    # json.dumps escapes as the column's serializer did; [1:-1] drops the quotes.
    text = cast(Appointment.services, String)
    return or_(*(text.contains(json.dumps(v)[1:-1], autoescape=True) for v in _variants(fragment)))


def _specialty_match(fragment: str) -> ColumnElement[bool]:
    return or_(*(Doctor.specialty.contains(v, autoescape=True) for v in _variants(fragment)))


def _completed() -> ColumnElement[bool]:
    return and_(
        Appointment.patient_mis_id == Patient.mis_id,
        Appointment.status == "completed",
        Appointment.deleted.is_(False),
    )


def _of_service(fragment: str) -> ColumnElement[bool]:
    by_doctor = exists().where(
        Doctor.mis_id == Appointment.doctor_mis_id, _specialty_match(fragment)
    )
    return or_(_services_match(fragment), by_doctor)


def _account_balance() -> Any:
    """The balance of the account the patient's points live in (core.loyalty.accounts.owner_of)."""
    return _account_of(LoyaltyAccount.balance)


def _account_of(column: Any) -> Any:
    family = (
        select(cast(LoyaltyMember.family_id, String))
        .where(LoyaltyMember.patient_mis_id == Patient.mis_id, LoyaltyMember.family_id.is_not(None))
        .correlate(Patient)  # two levels down: auto-correlation reaches one
        .scalar_subquery()
    )
    return (
        select(column)
        .where(
            or_(
                and_(LoyaltyAccount.owner_kind == "family", LoyaltyAccount.owner_id == family),
                and_(
                    LoyaltyAccount.owner_kind == "patient",
                    LoyaltyAccount.owner_id == Patient.mis_id,
                    ~exists()
                    .where(
                        LoyaltyMember.patient_mis_id == Patient.mis_id,
                        LoyaltyMember.family_id.is_not(None),
                    )
                    .correlate(Patient),
                ),
            )
        )
        .correlate(Patient)
        .limit(1)
        .scalar_subquery()
    )


def condition(segment: Segment, now: datetime, tz: tzinfo) -> ColumnElement[bool]:
    """The segment as a condition on `Patient`, at the instant `now`, in the clinic's zone."""
    today = now.astimezone(tz).date()
    parts: list[ColumnElement[bool]] = []
    visit = _completed()
    if segment.service:
        visit = and_(visit, _of_service(segment.service))
    last = select(func.max(Appointment.starts_at)).where(visit).scalar_subquery()
    if segment.last_visit_months is not None:
        parts.append(last < _midnight(months_back(today, segment.last_visit_months), tz))
    if segment.last_visit_from is not None:
        parts.append(last >= _midnight(segment.last_visit_from, tz))
    if segment.last_visit_to is not None:
        parts.append(last < _midnight(segment.last_visit_to + timedelta(days=1), tz))
    if segment.service and not (
        segment.last_visit_months or segment.last_visit_from or segment.last_visit_to
    ):
        parts.append(exists().where(visit))
    if segment.no_future_visit:
        parts.append(
            ~exists().where(
                Appointment.patient_mis_id == Patient.mis_id,
                Appointment.deleted.is_(False),
                Appointment.status.in_(UPCOMING),
                Appointment.starts_at >= now,
            )
        )
    if segment.birthday_this_month:
        parts.append(extract("month", Patient.birth_date) == today.month)
    if segment.balance_above is not None:
        parts.append(_account_balance() > segment.balance_above)
    if segment.expiring_by is not None:
        account_id = _account_of(LoyaltyAccount.id)
        parts.append(
            exists().where(
                LoyaltyLot.account_id == account_id,
                LoyaltyLot.is_open.is_(True),
                LoyaltyLot.remaining > 0,
                LoyaltyLot.expires_at > now,
                LoyaltyLot.expires_at < _midnight(segment.expiring_by + timedelta(days=1), tz),
            )
        )
    if segment.doctor:
        parts.append(exists().where(_completed(), Appointment.doctor_mis_id == segment.doctor))
    if segment.specialty:
        parts.append(
            exists().where(
                _completed(),
                Doctor.mis_id == Appointment.doctor_mis_id,
                _specialty_match(segment.specialty),
            )
        )
    if segment.rated or segment.rating_min is not None or segment.rating_max is not None:
        rating = [VisitRating.patient_mis_id == Patient.mis_id, VisitRating.score.is_not(None)]
        if segment.rating_min is not None:
            rating.append(VisitRating.score >= segment.rating_min)
        if segment.rating_max is not None:
            rating.append(VisitRating.score <= segment.rating_max)
        parts.append(exists().where(*rating))
    if segment.single_visit:
        count = select(func.count(Appointment.id)).where(_completed()).scalar_subquery()
        parts.append(count == 1)
    return and_(true(), *parts)


def describe(segment: Segment, doctors: dict[str, str] | None = None) -> list[str]:
    """The conditions in the panel's Russian, for the preview and the campaigns list;
    `doctors` names the MIS's doctor ids (a doctor the MIS no longer has keeps its id)."""
    out: list[str] = []
    of = f" (услуга или специальность «{segment.service}»)" if segment.service else ""
    if segment.last_visit_months is not None:
        out.append(f"последний визит{of} {segment.last_visit_months} мес. назад или раньше")
    if segment.last_visit_from or segment.last_visit_to:
        start = segment.last_visit_from.strftime("%d.%m.%Y") if segment.last_visit_from else "…"
        end = segment.last_visit_to.strftime("%d.%m.%Y") if segment.last_visit_to else "…"
        out.append(f"последний визит{of} с {start} по {end}")
    if segment.service and not out:
        out.append(f"был визит{of}")
    if segment.no_future_visit:
        out.append("нет будущей записи")
    if segment.birthday_this_month:
        out.append("день рождения в этом месяце")
    if segment.balance_above is not None:
        out.append(f"баланс больше {segment.balance_above:,} баллов".replace(",", "\u00a0"))
    if segment.expiring_by is not None:
        out.append(f"баллы сгорают до {segment.expiring_by.strftime('%d.%m.%Y')}")
    if segment.doctor:
        out.append(f"был у врача {(doctors or {}).get(segment.doctor, segment.doctor)}")
    if segment.specialty:
        out.append(f"был у специалиста «{segment.specialty}»")
    if segment.rated or segment.rating_min is not None or segment.rating_max is not None:
        low = "" if segment.rating_min is None else f" от {segment.rating_min}"
        high = "" if segment.rating_max is None else f" до {segment.rating_max}"
        out.append(f"ставил(а) оценку{low}{high}")
    if segment.single_visit:
        out.append("был(а) один раз и не возвращался(ась)")
    return out or ["все подключённые пациенты"]
