"""Rows as the MIS returns them -> canonical records.

Values arrive as whatever the driver gives: datetimes or text, Decimals or floats,
0/'' /0001-01-01 for "empty" (Open Dental). Everything is normalised here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import (
    AppointmentRecord,
    ConnectorError,
    DeletionRecord,
    DoctorRecord,
    PatientRecord,
    PaymentRecord,
    PaymentReversalRecord,
)
from connectors.profiles import EntityQuery
from core.phones import normalize_all

_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _id(value: Any) -> str:
    kind = type(value)
    if kind is int:  # the usual case, first: an import maps millions of ids
        return str(value)
    if kind is str:
        return str(value).strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral():
        value = int(value)
    return str(value).strip()


def _empty_date(value: date) -> bool:
    return value.year < 1900  # Open Dental stores "no date" as 0001-01-01


def parse_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    """A naive MIS timestamp in the MIS server's zone -> aware datetime (at_offset).

    A wall time the zone skips (clocks forward: 02:30 on that night does not exist) is the
    instant fold=0 gives it, the old offset, which the new clock reads one gap later
    (03:30); a wall time the zone repeats (clocks back) is its first occurrence (fold=0)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            # The usual 'YYYY-MM-DD HH:MM:SS', parsed in C: an initial import reads a
            # million of these.
            parsed = datetime.fromisoformat(text)
        except ValueError:
            for fmt in _DATETIME_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            else:
                raise ValueError(f"unrecognised date-time {text!r}") from None
    if parsed.year < 1900:  # Open Dental's 0001-01-01 "no date"
        return None
    if parsed.tzinfo is not None:
        return parsed
    return at_offset(parsed.replace(tzinfo=tz).astimezone(UTC), tz)


@lru_cache(maxsize=64)
def _fixed(offset: timedelta) -> timezone:
    return timezone(offset)


def at_offset(instant: datetime, tz: ZoneInfo) -> datetime:
    """`instant` as the zone's clock shows it, with the fixed offset the zone has then.

    Not with the ZoneInfo itself: a time of a repeated hour in a ZoneInfo compares unequal
    to every time of another zone, the same instant included (PEP 495), so a visit in that
    hour would look moved to whoever compares it with the mirror's UTC. A fixed offset
    compares by the instant, and the wall time stays the one a skipped time reads as."""
    local = instant.astimezone(tz)
    offset = local.utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return local.replace(tzinfo=_fixed(offset))


def parse_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    else:
        text = str(value).strip()[:10]
        for fmt in _DATE_FORMATS:
            try:
                result = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        else:
            return None  # a birthday typed as "не помнит" must not stop the sync
    return None if _empty_date(result) else result


def parse_amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValueError(f"unrecognised amount {value!r}") from None


def mis_id_of(row: Mapping[str, Any], query: EntityQuery) -> str:
    """The row's MIS id, read even from a row that cannot be mapped."""
    return _id(row.get(query.columns.get("mis_id", "mis_id")))


def _split_full_name(full_name: str) -> tuple[str, str, str]:
    """'Иванова Анна Сергеевна' -> (last, first, middle): the Russian order of a full name."""
    parts = full_name.split()
    last = parts[0] if parts else ""
    first = parts[1] if len(parts) > 1 else ""
    return last, first, " ".join(parts[2:])


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "n", "f")
    return bool(value)


# Part of every row digest: change it when a change to this module maps the same rows
# differently, so the next read of each row rewrites its mirror.
MAPPING_VERSION = 2  # 2: phones valid only in part are dropped (core.phones)

# Record types whose rows may carry `deleted = 1` instead of their content.
_DELETABLE = ("appointment", "payment", "patient")
# Every canonical field a mapping can name.
_CANONICAL = (
    "mis_id",
    "deleted",
    "last_name",
    "first_name",
    "middle_name",
    "full_name",
    "birth_date",
    "family_id",
    "status",
    "messaging_allowed",
    "specialty",
    "patient_id",
    "doctor_id",
    "branch_id",
    "starts_at",
    "ends_at",
    "duration_minutes",
    "services",
    "paid_at",
    "amount",
    "method",
    "reversed",
    "appointment_id",
    "payment_id",
    "at",
    "entity",
)
_TIME_CACHE = 100_000
_DIGIT = re.compile(r"\d")
_MISSING: Any = object()


def _services(value: Any) -> tuple[str, ...]:
    return tuple(s.strip() for s in _text(value).split(",") if s.strip())


class RowMapper:
    """Builds canonical records of one entity from result rows, per the profile's mapping."""

    def __init__(
        self, entity: str, query: EntityQuery, mis_tz: ZoneInfo, phone_region: str
    ) -> None:
        self.entity = entity
        self.query = query
        self.tz = mis_tz
        self.region = phone_region
        builders: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "patient": self._patient,
            "doctor": self._doctor,
            "appointment": self._appointment,
            "payment": self._payment,
            "payment_reversal": self._reversal,
            "deletion": self._deletion,
        }
        if entity not in builders:
            raise ConnectorError(f"unknown entity {entity!r}", retryable=False, kind="config")
        self._build = builders[entity]
        self._columns = dict(query.columns)
        # The result column of each canonical field, looked up once, not once per row.
        self._col = {name: self._columns.get(name, name) for name in _CANONICAL}
        self._status_map = dict(query.status_map)
        self._method_map = dict(query.method_map)
        self._deletable = entity in _DELETABLE
        # Text timestamps seen, parsed: visits start on the hour and half hour, so an
        # import of 600,000 visits parses a few tens of thousands of distinct values.
        self._times: dict[Any, datetime | None] = {}
        # (start, minutes) -> end, for queries that give a visit's length (Open Dental).
        self._ends: dict[tuple[datetime, Any], datetime] = {}
        # Phone fields with digits read so far, those that gave no number, a few of those
        # (distinct) to show.
        self.phones_seen = 0
        self.phones_unread = 0
        self.unread_examples: list[str] = []
        # What besides the raw row decides the record: a digest of the raw row salted with
        # this stands for the record's content (connectors.sql), at a tenth of the cost.
        self.salt = repr(
            (
                MAPPING_VERSION,
                entity,
                sorted(query.columns.items()),
                sorted(query.status_map.items()),
                sorted(query.method_map.items()),
                str(mis_tz),
                phone_region,
            )
        )

    def reset_counts(self) -> None:
        self.phones_seen = 0
        self.phones_unread = 0
        self.unread_examples = []

    def __call__(self, row: Mapping[str, Any]) -> Any:
        # A query may say a row is gone (Open Dental's history of a deleted appointment).
        if self._deletable:
            deleted = row.get(self._col["deleted"], 0)
            if deleted and _truthy(deleted):
                mis_id = _id(row.get(self._col["mis_id"]))
                if not mis_id:
                    raise ValueError(f"deleted {self.entity} row without mis_id")
                return DeletionRecord(entity=self.entity, mis_id=mis_id)
        return self._build(row)

    def _get(self, row: Mapping[str, Any], canonical: str, default: Any = None) -> Any:
        return row.get(self._col[canonical], default)

    def _time(self, value: Any) -> datetime | None:
        """parse_datetime, remembered for text and naive datetime values (the same value,
        the same instant)."""
        kind = type(value)
        if kind is not str and kind is not datetime:
            return parse_datetime(value, self.tz)
        times = self._times
        parsed = times.get(value, _MISSING)
        if parsed is _MISSING:
            if len(times) >= _TIME_CACHE:
                times.clear()
            parsed = times[value] = parse_datetime(value, self.tz)
        return parsed

    def _ends_after(self, starts: datetime, minutes: Any, mis_id: Any) -> datetime:
        """The end of a visit that lasts `minutes` from `starts`, counted in real time: an
        end computed on the wall clock would come before the start on the night clocks go
        forward and an hour late in the hour they repeat."""
        key = (starts, minutes)
        ends = self._ends.get(key)
        if ends is None:
            try:
                length = Decimal(str(minutes).strip())
            except InvalidOperation:
                length = Decimal(-1)
            if not length.is_finite() or length < 0 or length != length.to_integral_value():
                raise ValueError(
                    f"appointment {mis_id}: duration_minutes {minutes!r} is not a whole "
                    "number of minutes"
                )
            if len(self._ends) >= _TIME_CACHE:
                self._ends.clear()
            utc_end = starts.astimezone(UTC) + timedelta(minutes=int(length))
            ends = self._ends[key] = at_offset(utc_end, self.tz)
        return ends

    def _status(self, raw: Any, default: str) -> str:
        text = _id(raw) if raw is not None else ""
        if self._status_map:
            return self._status_map.get(text, default)
        return text or default

    def _patient(self, row: Mapping[str, Any]) -> PatientRecord:
        phone_fields = [row[c] for c in row if c.startswith("phone")]
        phones: list[str] = []
        for value in phone_fields:
            text = _text(value)
            numbers = normalize_all(text, self.region)
            if numbers:
                self.phones_seen += 1
            elif _DIGIT.search(text):
                # Typed digits that are no number of the region: dropped, and counted for
                # `kabinet mis check`; a field without digits ("нет") is no phone at all.
                self.phones_seen += 1
                self.phones_unread += 1
                if len(self.unread_examples) < 3 and text not in self.unread_examples:
                    self.unread_examples.append(text)
            for number in numbers:
                if number not in phones:
                    phones.append(number)
        family = _id(self._get(row, "family_id"))
        last = _text(self._get(row, "last_name"))
        first = _text(self._get(row, "first_name"))
        middle = _text(self._get(row, "middle_name"))
        if not (last or first) and self._get(row, "full_name"):
            # Инфодент keeps one FULLNAME field.
            last, first, middle = _split_full_name(_text(self._get(row, "full_name")))
        return PatientRecord(
            mis_id=_id(self._get(row, "mis_id")),
            last_name=last,
            first_name=first,
            middle_name=middle,
            birth_date=parse_date(self._get(row, "birth_date")),
            phones=tuple(phones),
            family_id=family if family not in ("", "0") else None,
            status=self._status(self._get(row, "status"), "active"),
            messaging_allowed=_truthy(self._get(row, "messaging_allowed", 1)),
        )

    def _doctor(self, row: Mapping[str, Any]) -> DoctorRecord:
        full_name = _text(self._get(row, "full_name"))
        if not full_name:
            parts = (self._get(row, k) for k in ("last_name", "first_name", "middle_name"))
            full_name = " ".join(_text(p) for p in parts)
        return DoctorRecord(
            mis_id=_id(self._get(row, "mis_id")),
            full_name=" ".join(full_name.split()),
            specialty=_text(self._get(row, "specialty")),
        )

    def _appointment(self, row: Mapping[str, Any]) -> AppointmentRecord:
        # The hottest code of an initial import: columns looked up once (self._col),
        # timestamps parsed once per distinct text (self._time).
        col = self._col
        get = row.get
        starts = self._time(get(col["starts_at"]))
        if starts is None:
            raise ValueError(f"appointment {get(col['mis_id'])} has no start time")
        minutes = get(col["duration_minutes"])
        if minutes is None:
            ends = self._time(get(col["ends_at"])) or starts
        else:
            ends = self._ends_after(starts, minutes, get(col["mis_id"]))
        services = get(col["services"])
        return AppointmentRecord(
            _id(get(col["mis_id"])),
            _id(get(col["patient_id"])),
            _id(get(col["doctor_id"])),
            _id(get(col["branch_id"])),
            starts,
            ends,
            self._status(get(col["status"]), "scheduled"),
            _services(services) if services is not None else (),
        )

    def _payment(self, row: Mapping[str, Any]) -> PaymentRecord:
        col = self._col
        get = row.get
        paid_at = self._time(get(col["paid_at"]))
        if paid_at is None:
            raise ValueError(f"payment {get(col['mis_id'])} has no date")
        method_raw = _text(get(col["method"], "money"))
        method = self._method_map.get(
            method_raw, method_raw if method_raw in ("money", "bonus") else "money"
        )
        reversed_raw = get(col["reversed"], 0)
        return PaymentRecord(
            _id(get(col["mis_id"])),
            _id(get(col["patient_id"])),
            paid_at,
            parse_amount(get(col["amount"], 0)),
            method,
            bool(reversed_raw) and _truthy(reversed_raw),
            _id(get(col["appointment_id"])),
        )

    def _reversal(self, row: Mapping[str, Any]) -> PaymentReversalRecord:
        return PaymentReversalRecord(
            mis_id=_id(self._get(row, "mis_id")),
            payment_id=_id(self._get(row, "payment_id")),
            amount=parse_amount(self._get(row, "amount", 0)),
            at=parse_datetime(self._get(row, "at"), self.tz),
        )

    def _deletion(self, row: Mapping[str, Any]) -> DeletionRecord:
        return DeletionRecord(
            entity=_text(self._get(row, "entity")), mis_id=_id(self._get(row, "mis_id"))
        )
