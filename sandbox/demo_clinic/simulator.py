"""ClinicSimulator: the demo clinic's working day, in simulated time.

Between two calls of step() the simulator does what a clinic's desk does in that span:
books visits (mostly for the coming days, sometimes registering a new patient first),
moves and cancels some, marks patients as arrived when their visit comes, closes visits
after they end and takes the payment (now and then partly in bonus points), and rarely
refunds, deletes a mistaken booking or updates a phone. Booking activity follows office
hours (09:00-20:00); arrivals and completions follow the schedule.

All writes go through DemoClinic, whose clock the simulator takes over: each write is
stamped with the simulated moment it happens at.

Beside a real appliance (`kabinet demo`) the simulator follows the clinic's real time
(`wallclock`, e.g. wallclock.clinic_now): the appliance believes an arrival or a
completion only once the visit's start is near by its own clock (core/visits/arrival.py),
so a simulated day running ahead of it would fill «Доставка» with «не может быть». The
day is compressed by a busier desk instead (`SimulatorRates.busier`), and a visit can be
staged to arrive and end at set moments (`stage`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from . import catalog as C
from . import names as N
from . import phones as P
from .clinic import BookingConflict, DemoClinic
from .db import fmt_dt, parse_birthday, parse_dt
from .personas import FIRST_GENERATED_PERSON_ID

log = logging.getLogger(__name__)

_SPEC_BY_ITEM_NAME: dict[str, C.Specialty] = {s.item_name: s for s in C.SPECIALTIES}
_LEAD_DAYS = [0] * 10 + [1, 2, 3] * 12 + list(range(4, 15)) * 4 + list(range(15, 31)) * 2
_OPEN = time(C.WORK_START_MIN // 60, C.WORK_START_MIN % 60)
_CLOSE = time(C.WORK_END_MIN // 60, C.WORK_END_MIN % 60)


@dataclass(frozen=True)
class SimulatorRates:
    """How busy the desk is: events per active doctor per office hour, and shares."""

    book: float = 0.35
    move: float = 0.05
    cancel: float = 0.06
    refund: float = 0.004
    delete: float = 0.003
    phone_change: float = 0.004
    new_patient_share: float = 0.12  # bookings that register a new patient first
    no_show: float = 0.05  # visits whose patient never comes
    late_cancel: float = 0.02  # visits cancelled when the patient should be arriving
    unpaid: float = 0.06  # completed visits with no payment (warranty, free check-up)
    bonus_share: float = 0.08  # paid visits settled partly with bonus points

    def busier(self, factor: float) -> SimulatorRates:
        """The desk `factor` times as busy (bookings, moves, cancellations, refunds,
        deletions, phone changes); the shares stay as they are."""
        return replace(
            self,
            book=self.book * factor,
            move=self.move * factor,
            cancel=self.cancel * factor,
            refund=self.refund * factor,
            delete=self.delete * factor,
            phone_change=self.phone_change * factor,
        )


@dataclass
class _Doctor:
    staff_id: int
    name: str
    specialty: C.Specialty


class ClinicSimulator:
    """Drives a DemoClinic through simulated time.

    `step(until)` advances from the last step (initially `start`, default the clinic's
    clock) to `until` and returns one short description per action. `run_in_thread()`
    advances `speed` simulated seconds per real second, or, given a `wallclock`, follows
    it and never runs ahead of it.
    """

    def __init__(
        self,
        clinic: DemoClinic,
        seed: int = 1,
        speed: float = 60.0,
        *,
        start: datetime | None = None,
        rates: SimulatorRates | None = None,
        wallclock: Callable[[], datetime] | None = None,
    ) -> None:
        self.clinic = clinic
        self.seed = seed
        self.speed = speed
        self.rates = rates or SimulatorRates()
        self.rng = random.Random(seed)
        self.now: datetime = (start or clinic.now()).replace(microsecond=0)
        self._lock = threading.RLock()
        self._in_step = False
        self._live: tuple[float, datetime] | None = None  # (monotonic, sim) anchor in a thread
        self._step_doctors: list[_Doctor] = []
        self._step_patients: list[int] | None = None
        self.wallclock = wallclock
        # Staged visits: reception id -> (arrival, completion), instead of the schedule's.
        self._staged: dict[int, tuple[datetime, datetime]] = {}
        clinic.clock = self.clock

    # ------------------------------------------------------------------ time

    def clock(self) -> datetime:
        """The clinic's time: the moment of the current action during a step; between
        steps of a running thread, simulated time flowing at `speed` (or the wallclock's
        time, when following one)."""
        if self.wallclock is not None and not self._in_step:
            return max(self.now, self.wallclock().replace(microsecond=0))
        if self._live is not None and not self._in_step:
            real0, sim0 = self._live
            live = sim0 + timedelta(seconds=(_time.monotonic() - real0) * self.speed)
            return max(self.now, live)
        return self.now

    def step(self, until: datetime) -> list[str]:
        """Advance simulated time to `until`, acting as the clinic would meanwhile."""
        with self._lock:
            until = until.replace(microsecond=0)
            if until <= self.now:
                return []
            self._in_step = True
            try:
                return self._run(self.now, until)
            finally:
                self.now = until
                self._in_step = False

    def run_in_thread(
        self,
        stop_event: threading.Event,
        *,
        tick: float = 1.0,
        on_actions: Callable[[list[str]], None] | None = None,
    ) -> threading.Thread:
        """Start a daemon thread advancing `speed` simulated seconds per real second
        until `stop_event` is set; returns the started thread."""

        def loop() -> None:
            real0, sim0 = _time.monotonic(), self.now
            self._live = (real0, sim0)
            try:
                while not stop_event.wait(tick):
                    if self.wallclock is not None:
                        target = self.wallclock()
                    else:
                        elapsed = _time.monotonic() - real0
                        target = sim0 + timedelta(seconds=elapsed * self.speed)
                    try:
                        actions = self.step(target)
                    except Exception:  # keep the demo alive; the log says what broke
                        log.exception("demo clinic simulator step failed")
                        continue
                    for action in actions:
                        log.info("demo clinic: %s", action)
                    if actions and on_actions is not None:
                        on_actions(actions)
            finally:
                self._live = None

        thread = threading.Thread(target=loop, name="demo-clinic-simulator", daemon=True)
        thread.start()
        return thread

    def stage(self, reception_id: int, arrive_at: datetime, complete_at: datetime) -> None:
        """Have the patient of this visit arrive at `arrive_at` and the visit end (and be
        paid) at `complete_at`, whatever the schedule's habits; the demo's own visit."""
        if complete_at <= arrive_at:
            raise ValueError("a staged visit must end after its arrival")
        with self._lock:
            self._staged[reception_id] = (arrive_at, complete_at)

    # ------------------------------------------------------------------ the step

    def _run(self, start: datetime, until: datetime) -> list[str]:
        heap: list[tuple[datetime, int, str, Any]] = []
        seq = itertools.count()

        def push(at: datetime, kind: str, payload: Any = None) -> None:
            if at <= until:
                heapq.heappush(
                    heap, (max(at, start + timedelta(seconds=1)), next(seq), kind, payload)
                )

        doctors = self._step_doctors = self._doctors()
        self._step_patients = None
        con = self.clinic.connect()
        try:
            # Visits whose arrival falls in the window (arrival precedes PlanStart).
            for row in con.execute(
                """
                SELECT ID, PlanStart FROM Receptions
                WHERE PlanStart > ? AND PlanStart <= ?
                  AND ReceptionCanceled IS NULL AND ID_ReceptionCancelReasons IS NULL
                  AND PatientAppeared IS NULL AND ReceptionStarted IS NULL
                  AND ReceptionEnded IS NULL AND CheckIssued IS NULL
                ORDER BY ID
                """,
                (fmt_dt(start), fmt_dt(until + timedelta(seconds=901))),
            ):
                if row["ID"] in self._staged:
                    continue
                plan = parse_dt(row["PlanStart"])
                assert plan is not None
                push(
                    plan - timedelta(seconds=C.arrival_lead_seconds(row["ID"])),
                    "arrive",
                    (row["ID"], row["PlanStart"]),
                )
            # Visits in progress whose end falls in the window. The half-day of slack
            # lets a restarted simulator close what was open when it stopped.
            for row in con.execute(
                """
                SELECT ID, PlanEnd FROM Receptions
                WHERE PlanEnd > ? AND PlanEnd <= ?
                  AND (PatientAppeared IS NOT NULL OR ReceptionStarted IS NOT NULL)
                  AND ReceptionEnded IS NULL AND CheckIssued IS NULL
                  AND ReceptionCanceled IS NULL AND ID_ReceptionCancelReasons IS NULL
                ORDER BY ID
                """,
                (fmt_dt(start - timedelta(hours=12)), fmt_dt(until + timedelta(seconds=301))),
            ):
                if row["ID"] in self._staged:
                    continue
                done = self._completion_time(row["ID"], row["PlanEnd"])
                if done > start - timedelta(hours=12):
                    push(done, "complete", row["ID"])
        finally:
            con.close()
        for rid, (arrive_at, complete_at) in sorted(self._staged.items()):
            if start < arrive_at <= until:
                try:
                    plan_start = self.clinic.reception(rid)["PlanStart"]
                except KeyError:  # deleted meanwhile
                    continue
                push(arrive_at, "arrive", (rid, plan_start))
            elif arrive_at <= start < complete_at <= until:
                push(complete_at, "complete", rid)

        per_hour = max(1, len(doctors))
        r = self.rates
        for kind, rate in (
            ("book", r.book),
            ("move", r.move),
            ("cancel", r.cancel),
            ("refund", r.refund),
            ("delete", r.delete),
            ("phone", r.phone_change),
        ):
            for at in self._office_hours_poisson(start, until, rate * per_hour):
                push(at, kind)

        handlers: dict[str, Callable[[Any, Callable[..., None]], str | None]] = {
            "arrive": self._arrive,
            "complete": self._complete,
            "pay": self._pay,
            "book": self._book,
            "move": self._move,
            "cancel": self._cancel,
            "refund": self._refund,
            "delete": self._delete,
            "phone": self._phone,
        }
        actions: list[str] = []
        while heap:
            at, _, kind, payload = heapq.heappop(heap)
            self.now = at
            try:
                text = handlers[kind](payload, push)
            except (BookingConflict, KeyError, ValueError) as exc:
                # Someone else (a test, the demo's admin) changed the row meanwhile.
                log.debug("demo clinic simulator skipped %s %r: %s", kind, payload, exc)
                continue
            if text:
                actions.append(f"{at:%Y-%m-%d %H:%M} {text}")
        return actions

    def _office_hours_poisson(
        self, start: datetime, until: datetime, per_hour: float
    ) -> list[datetime]:
        if per_hour <= 0:
            return []
        out = []
        rate = per_hour / 3600.0
        day = start.date()
        while day <= until.date():
            lo = max(start, datetime.combine(day, _OPEN))
            hi = min(until, datetime.combine(day, _CLOSE))
            if lo < hi:
                t = lo
                while True:
                    t += timedelta(seconds=self.rng.expovariate(rate))
                    if t > hi:
                        break
                    out.append(t.replace(microsecond=0))
            day += timedelta(days=1)
        return out

    # ------------------------------------------------------------------ schedule-driven

    def _unit(self, reception_id: int, salt: str) -> float:
        # Per-visit decisions must not change when the same span is stepped in smaller
        # pieces, so they come from the visit's id rather than the running stream.
        return random.Random(f"{self.seed}:{salt}:{reception_id}").random()

    def _completion_time(self, reception_id: int, plan_end: str) -> datetime:
        if reception_id in self._staged:
            return self._staged[reception_id][1]
        end = parse_dt(plan_end)
        assert end is not None
        return end + timedelta(seconds=C.completion_delay_seconds(reception_id))

    def _arrive(self, payload: tuple[int, str], push: Callable[..., None]) -> str | None:
        rid, plan_start = payload
        row = self.clinic.reception(rid)
        if row["PlanStart"] != plan_start or row["status"] not in ("scheduled", "no_show"):
            return None  # moved, cancelled or already marked meanwhile
        # Personas always come: demos and tests rely on their visits happening.
        u = 1.0 if row["ID_Patients"] < FIRST_GENERATED_PERSON_ID else self._unit(rid, "arrival")
        who = self._patient_name(row["ID_Patients"])
        if u < self.rates.no_show:
            return None  # the patient simply does not come: nothing is marked
        if u < self.rates.no_show + self.rates.late_cancel:
            self.clinic.cancel(rid, reason_id=2, comment="Позвонил(а) в день приёма")
            return f"late cancellation #{rid} ({who})"
        self.clinic.arrive(rid)
        push(self._completion_time(rid, row["PlanEnd"]), "complete", rid)
        return f"arrived #{rid} {who} at {row['PlanStart'][11:16]}"

    def _complete(self, rid: int, push: Callable[..., None]) -> str | None:
        row = self.clinic.reception(rid)
        if row["status"] != "arrived":
            return None
        self.clinic.complete(rid)
        who = self._patient_name(row["ID_Patients"])
        persona = row["ID_Patients"] < FIRST_GENERATED_PERSON_ID
        if persona or self._unit(rid, "unpaid") >= self.rates.unpaid:
            at = self.now + timedelta(seconds=C.checkout_delay_seconds(rid))
            push(
                at,
                "pay",
                (rid, row["ID_Patients"], _bill(row["Services"], self._unit(rid, "bill"))),
            )
        return f"completed #{rid} {who}"

    def _pay(self, payload: tuple[int, int, Decimal], push: Callable[..., None]) -> str | None:
        rid, pid, bill = payload
        texts = []
        # Personas pay in full by card, so demos can count on the payment.
        persona = pid < FIRST_GENERATED_PERSON_ID
        if not persona and self.rng.random() < self.rates.bonus_share and bill > 1000:
            bonus = min(Decimal(3000), (bill * 3 / 100).to_integral_value() * 10)
            pay_id = self.clinic.pay(pid, bonus, method="bonus", reception_id=rid)
            texts.append(f"{bonus} bonus (#{pay_id})")
            bill -= bonus
        method = "card" if persona else self.rng.choices(("card", "cash", "sbp"), (60, 25, 15))[0]
        pay_id = self.clinic.pay(pid, bill, method=method, reception_id=rid)
        texts.append(f"{bill} {method} (#{pay_id})")
        return f"payment for #{rid}: " + " + ".join(texts)

    # ------------------------------------------------------------------ desk activity

    def _book(self, _: Any, push: Callable[..., None]) -> str | None:
        rng = self.rng
        new = rng.random() < self.rates.new_patient_share
        pid = self._new_patient() if new else self._random_patient()
        if pid is None:
            return None
        child = self._is_child(pid)
        doctors = [
            d
            for d in self._step_doctors
            if (d.specialty.for_children if child else d.specialty.for_adults)
        ] or self._step_doctors
        if not doctors:
            return None
        for _attempt in range(6):
            doc = rng.choice(doctors)
            day = self.now.date() + timedelta(days=rng.choice(_LEAD_DAYS))
            minutes = _visit_length(rng, doc.specialty)
            start = self._free_slot(doc.staff_id, day, minutes)
            if start is None:
                continue
            services = _services(rng, doc.specialty)
            source = rng.choices([s for s, _ in C.APPOINTMENT_SOURCES], C.SOURCE_WEIGHTS)[0]
            rid = self.clinic.book(
                pid, doc.staff_id, start, minutes, services=services, source_id=source
            )
            self._schedule_arrival(rid, start, push)
            prefix = "new patient, " if new else ""
            return (
                f"booked #{rid} {prefix}{self._patient_name(pid)} with {doc.name} "
                f"({doc.specialty.item_name}) for {start:%Y-%m-%d %H:%M}"
            )
        return None

    def _move(self, _: Any, push: Callable[..., None]) -> str | None:
        rng = self.rng
        rows = self._upcoming(self.now + timedelta(hours=2), self.now + timedelta(days=14))
        if not rows:
            return None
        row = rng.choice(rows)
        old = parse_dt(row["PlanStart"])
        end = parse_dt(row["PlanEnd"])
        assert old is not None and end is not None
        minutes = int((end - old).total_seconds() // 60)
        staff_id = row["ID_Staffs"]
        if rng.random() < 0.2:
            current = next((d for d in self._step_doctors if d.staff_id == staff_id), None)
            peers = [
                d.staff_id
                for d in self._step_doctors
                if current is not None and d.specialty.key == current.specialty.key
            ]
            staff_id = rng.choice(peers) if peers else staff_id
        for _attempt in range(6):
            day = max(self.now.date(), old.date() + timedelta(days=rng.randint(-3, 7)))
            start = self._free_slot(staff_id, day, minutes, exclude=row["ID"])
            if start is None or start == old:
                continue
            self.clinic.move(row["ID"], start, staff_id=staff_id)
            self._schedule_arrival(row["ID"], start, push)
            return f"moved #{row['ID']} {self._patient_name(row['ID_Patients'])} from {old:%m-%d %H:%M} to {start:%m-%d %H:%M}"
        return None

    def _cancel(self, _: Any, push: Callable[..., None]) -> str | None:
        rng = self.rng
        rows = self._upcoming(self.now, self.now + timedelta(days=10))
        if not rows:
            return None
        row = rng.choice(rows)
        reason = rng.choices([r for r, _ in C.CANCEL_REASONS], C.CANCEL_REASON_WEIGHTS)[0]
        comment = rng.choice(C.CANCEL_COMMENTS) if rng.random() < 0.2 else None
        self.clinic.cancel(row["ID"], reason_id=reason, comment=comment)
        return f"cancelled #{row['ID']} {self._patient_name(row['ID_Patients'])} ({row['PlanStart'][:16]})"

    def _refund(self, _: Any, push: Callable[..., None]) -> str | None:
        con = self.clinic.connect()
        try:
            rows = con.execute(
                """
                SELECT pi.ID, pi.Payment FROM PaymentsIn pi
                JOIN CashDescs cd ON cd.ID = pi.ID_CashDescs
                WHERE pi.DateTimePayment > ? AND cd.IsBonus = 0 AND pi.ID_Patients >= ?
                  AND NOT EXISTS (SELECT 1 FROM PaymentsOut po WHERE po.ID_PaymentsIn = pi.ID)
                ORDER BY pi.ID
                """,
                (fmt_dt(self.now - timedelta(days=30)), FIRST_GENERATED_PERSON_ID),
            ).fetchall()
        finally:
            con.close()
        if not rows:
            return None
        row = self.rng.choice(rows)
        paid = Decimal(str(row["Payment"]))
        amount: Decimal | None = None
        if self.rng.random() >= 0.55 and paid > 1000:
            amount = Decimal(self.rng.randrange(5, int(paid) // 100)) * 100
        out_id = self.clinic.refund(row["ID"], amount, comment=self.rng.choice(C.REFUND_COMMENTS))
        return f"refund #{out_id} of payment #{row['ID']}: {amount or paid}"

    def _delete(self, _: Any, push: Callable[..., None]) -> str | None:
        rows = [
            r
            for r in self._upcoming(self.now, self.now + timedelta(days=30))
            if (parse_dt(r["DateTimeAdded"]) or self.now) > self.now - timedelta(days=2)
        ]
        if not rows:
            return None
        row = self.rng.choice(rows)
        self.clinic.delete_reception(row["ID"])
        return f"deleted booking #{row['ID']} made by mistake"

    def _phone(self, _: Any, push: Callable[..., None]) -> str | None:
        pid = self._random_patient()
        if pid is None:
            return None
        kind = self.rng.choice(list(P.MOBILE_STYLES))
        phone = P.typed_phone(self.rng, kind)
        self.clinic.change_phone(pid, phone)
        return f"phone of {self._patient_name(pid)} changed to {phone!r}"

    # ------------------------------------------------------------------ helpers

    def _schedule_arrival(self, rid: int, start: datetime, push: Callable[..., None]) -> None:
        if start > self.now:
            push(
                start - timedelta(seconds=C.arrival_lead_seconds(rid)),
                "arrive",
                (rid, fmt_dt(start)),
            )

    def _doctors(self) -> list[_Doctor]:
        out = []
        for staff_id, name, item in self.clinic.doctors():
            spec = _SPEC_BY_ITEM_NAME.get(item)
            if spec is not None:
                out.append(_Doctor(staff_id, name, spec))
        return out

    def _random_patient(self) -> int | None:
        if self._step_patients is None:
            con = self.clinic.connect()
            try:
                self._step_patients = [
                    r[0]
                    for r in con.execute(
                        "SELECT ID_Persons FROM Patients WHERE Status = ? AND ID_Persons >= ?"
                        " ORDER BY ID_Persons",
                        (C.PATIENT_ACTIVE, FIRST_GENERATED_PERSON_ID),
                    )
                ]
            finally:
                con.close()
        return self.rng.choice(self._step_patients) if self._step_patients else None

    def _new_patient(self) -> int:
        rng = self.rng
        sex = rng.choice((C.SEX_MALE, C.SEX_FEMALE))
        child = rng.random() < 0.2
        age = rng.randrange(3, 15) if child else rng.randrange(18, 80)
        birth_year = self.now.year - age
        birthday = date(birth_year, 1, 1) + timedelta(days=rng.randrange(365))
        surname = N.surname_for(rng.choice(N.SURNAMES), sex)
        name = N.first_name(rng, sex, birth_year)
        patronymic = N.patronymic(N.father_name(rng, birth_year), sex)
        phone = P.typed_phone(rng, P.random_kind(rng))
        pid = self.clinic.add_patient(surname, name, patronymic, birthday, phone, sex=sex)
        if self._step_patients is not None:
            self._step_patients.append(pid)
        return pid

    def _is_child(self, pid: int) -> bool:
        info = self.clinic.patient(pid)
        born = parse_birthday(info["Birthday"])
        if born is None:
            return False
        today = self.now.date()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return age < 15

    def _patient_name(self, pid: int) -> str:
        try:
            info = self.clinic.patient(pid)
        except KeyError:
            return f"patient {pid}"
        return N.initials(info["Surname"] or "?", info["Name"] or "?", info["Patronymic"])

    def _upcoming(self, lo: datetime, hi: datetime) -> list[Any]:
        """Scheduled (not cancelled, not started) receptions starting in (lo, hi], other
        than personas': random desk activity leaves the personas' promised visits alone."""
        con = self.clinic.connect()
        try:
            return con.execute(
                """
                SELECT ID, ID_Patients, ID_Staffs, PlanStart, PlanEnd, DateTimeAdded
                FROM Receptions
                WHERE PlanStart > ? AND PlanStart <= ? AND ID_Patients >= ?
                  AND ReceptionCanceled IS NULL AND ID_ReceptionCancelReasons IS NULL
                  AND PatientAppeared IS NULL AND ReceptionStarted IS NULL
                  AND ReceptionEnded IS NULL AND CheckIssued IS NULL
                ORDER BY ID
                """,
                (fmt_dt(lo), fmt_dt(hi), FIRST_GENERATED_PERSON_ID),
            ).fetchall()
        finally:
            con.close()

    def _free_slot(
        self, staff_id: int, day: date, minutes: int, exclude: int | None = None
    ) -> datetime | None:
        """A random free start on the booking grid for the doctor on `day`, or None."""
        if not C.doctor_works(staff_id, day):
            return None
        earliest = self.now + timedelta(minutes=30)
        con = self.clinic.connect()
        try:
            busy = [
                (parse_dt(r[0]), parse_dt(r[1]))
                for r in con.execute(
                    """
                    SELECT PlanStart, PlanEnd FROM Receptions
                    WHERE ID_Staffs = ? AND PlanStart >= ? AND PlanStart < ?
                      AND ReceptionCanceled IS NULL AND ID_ReceptionCancelReasons IS NULL
                      AND ID IS NOT ?
                    """,
                    (
                        staff_id,
                        fmt_dt(datetime.combine(day, time())),
                        fmt_dt(datetime.combine(day + timedelta(days=1), time())),
                        exclude,
                    ),
                )
            ]
        finally:
            con.close()
        length = timedelta(minutes=minutes)
        candidates = []
        t = datetime.combine(day, _OPEN)
        close = datetime.combine(day, _CLOSE)
        while t + length <= close:
            if t >= earliest and not any(s < t + length and t < e for s, e in busy if s and e):
                candidates.append(t)
            t += timedelta(minutes=C.GRID_MIN)
        return self.rng.choice(candidates) if candidates else None


def _visit_length(rng: random.Random, spec: C.Specialty) -> int:
    lengths = [m for m, _ in spec.lengths]
    return rng.choices(lengths, [w for _, w in spec.lengths])[0]


def _services(rng: random.Random, spec: C.Specialty) -> list[str]:
    count = 1 if rng.random() < 0.75 else 2
    return [s.name for s in rng.sample(list(spec.services), count)]


def _bill(services: str | None, u: float) -> Decimal:
    """What the desk charges for a visit: the catalog's mid prices of its services."""
    total = 0
    for name in (services or "").split(", "):
        service = C.SERVICE_BY_NAME.get(name.strip())
        if service is not None:
            total += (service.price_min + service.price_max) // 200 * 100
    if total == 0:
        total = 2000 + int(u * 130) * 100
    return Decimal(max(C.MIN_PAYMENT, min(C.MAX_PAYMENT, total)))
