"""Fill an IDENT-shaped SQLite database with a year of a believable Russian dental clinic.

Built for both a 400-patient demo and a 30,000-patient benchmark: everything is drawn
in memory first as compact rows of ints (times are seconds from a base midnight, money
is kopecks), then written with executemany in one transaction, with the RowVersion
triggers and the indexes created only after the load. RowVersion values are assigned by
sorting every row of every versioned table by its last change, so the emulated
rowversion orders rows the way SQL Server's would have after a year of real edits.

Determinism: the same seed, today (and now) give the same rows in every table. Each
phase draws from its own random stream, so e.g. changing the number of doctors does not
rename every patient.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any

from sandbox.demo_clinic.wallclock import clinic_now

from . import catalog as C
from . import names as N
from . import phones as P
from .clinic import DemoClinic
from .db import schema_sections
from .personas import FIRST_GENERATED_PERSON_ID, PERSONA_FAMILY_ID, PERSONAS, PersonaVisit

GENERATOR_VERSION = "1"

DAY_S = 86400
QUARTERS_PER_DAY = (C.WORK_END_MIN - C.WORK_START_MIN) // C.GRID_MIN  # 44
# Receptions a doctor can sensibly have in a day on average; above it the schedule would
# be wall-to-wall 30-minute visits, which no clinic's history looks like.
MAX_MEAN_VISITS_PER_DOCTOR_DAY = 9.0
# Default activity: visits per patient per year of history, upcoming visits per patient
# per day of future.
DEFAULT_PAST_VISITS_PER_YEAR = 3.0
DEFAULT_FUTURE_VISITS_PER_DAY = 0.007


@dataclass(slots=True, eq=False)
class _Person:
    pid: int
    surname: str
    name: str
    patronymic: str | None
    sex: int
    birth: date
    phone: str | None
    family_id: int | None = None
    status: int = C.PATIENT_ACTIVE
    conform: int = 1
    sms_rejection: int = 0
    comment: str | None = None
    child: bool = False
    activity: float = 1.0
    never_visits: bool = False
    old_patient: bool = False
    persona: bool = False


@dataclass(slots=True)
class _Doctor:
    staff_id: int
    person_id: int
    specialty: C.Specialty
    branch_id: int
    armchair_id: int
    archived: bool
    popularity: float
    last_day: int | None = None  # day index after which an archived doctor saw nobody
    length_pool: list[int] = field(default_factory=list)


class _Clock:
    """Times as ints (seconds since base midnight) and their SQL text, cheaply."""

    def __init__(self, base: date, days: int) -> None:
        self.base = base
        self.day_str = [(base + timedelta(days=i)).isoformat() for i in range(days)]
        self.tod = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]

    def ts(self, a: int) -> str:
        return self.day_str[a // DAY_S] + " " + self.tod[a % DAY_S]

    def tsn(self, a: int | None) -> str | None:
        return None if a is None else self.day_str[a // DAY_S] + " " + self.tod[a % DAY_S]

    def day(self, a: int) -> str:
        return self.day_str[a // DAY_S]

    def day_index(self, d: date) -> int:
        return (d - self.base).days

    def at(self, d: date, t: time) -> int:
        return self.day_index(d) * DAY_S + t.hour * 3600 + t.minute * 60 + t.second


class _Menu:
    """What a visit to one specialty consists of and what it costs.

    Like a real price list, each service has one price per build; bills vary by the
    combination of services (and by discounts, applied per visit). Combinations are drawn
    once into a table of 256 visit templates, so a visit costs one random index.
    """

    __slots__ = ("templates",)

    def __init__(self, spec: C.Specialty, rng: random.Random) -> None:
        services = spec.services
        prices = [rng.randrange(s.price_min, s.price_max + 1, 50) for s in services]
        # Routine, cheaper services are the common ones; implants are rarer than check-ups.
        pick = _Weighted(list(range(len(services))), [1.0 / math.sqrt(p) for p in prices])
        rand = rng.random
        self.templates: list[tuple[str | None, int]] = []
        for _ in range(256):
            r = rand()
            n = 1 if r < 0.7 else (2 if r < 0.95 else 3)
            picked: list[int] = []
            while len(picked) < n:
                i = pick(rand)
                if i not in picked:
                    picked.append(i)
            rub = max(C.MIN_PAYMENT, min(C.MAX_PAYMENT, sum(prices[i] for i in picked)))
            # Sometimes the admin leaves the services field empty.
            text = None if rand() < 0.08 else ", ".join(services[i].name for i in picked)
            self.templates.append((text, rub * 100))


def _money(kop: int) -> int | str:
    # NUMERIC affinity stores "1500.50" as REAL and whole roubles as INTEGER, as a
    # money column read through SQLite would come back.
    return kop // 100 if kop % 100 == 0 else f"{kop // 100}.{kop % 100:02d}"


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


class _Weighted:
    """Weighted choice by bisection over cumulative weights: random.choices() costs
    microseconds per call, which at 600,000 receptions is most of the build."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def __call__(self, rand: Any) -> Any:
        return self.items[bisect_right(self.cum, rand() * self.total)]


def build_demo_clinic(
    path: str | Path,
    *,
    seed: int = 42,
    today: date | None = None,
    patients: int = 400,
    doctors: int = 10,
    history_days: int = 365,
    future_days: int = 21,
    receptions_per_patient: float | None = None,
    payments_per_reception: float | None = None,
    now: datetime | None = None,
) -> DemoClinic:
    """Create (or replace) a demo clinic database at `path` and return its API.

    `today` anchors the calendar (default: the real today). History ends at `now`,
    which defaults to the start of `today` when `today` is given, and to the real current
    time otherwise; receptions before it are completed, cancelled or missed, after it
    scheduled. `receptions_per_patient` is the mean number of receptions (past and
    upcoming) per generated patient; `payments_per_reception` the number of PaymentsIn
    rows per reception. By default both follow a realistic practice (about three visits a
    year, one payment per completed visit). Personas are always added on top.

    A file at `path` is replaced only if it is empty or an earlier demo clinic.
    """
    if now is not None:
        now = now.replace(microsecond=0)
        if today is None:
            today = now.date()
        elif now.date() != today:
            raise ValueError(f"now ({now}) is not on today ({today})")
    elif today is None:
        now = clinic_now()
        today = now.date()
    else:
        now = datetime.combine(today, time())
    if patients < 0 or doctors < 1 or history_days < 0 or future_days < 0:
        raise ValueError("need patients >= 0, doctors >= 1, history_days >= 0, future_days >= 0")
    if receptions_per_patient is not None and receptions_per_patient < 0:
        raise ValueError("receptions_per_patient must be >= 0")
    if payments_per_reception is not None and payments_per_reception < 0:
        raise ValueError("payments_per_reception must be >= 0")

    path = Path(path)
    _check_replaceable(path)
    builder = _Builder(
        seed=seed,
        today=today,
        now=now,
        n_patients=patients,
        n_doctors=doctors,
        history_days=history_days,
        future_days=future_days,
        receptions_per_patient=receptions_per_patient,
        payments_per_reception=payments_per_reception,
    )
    builder.generate()
    tmp = path.with_name(path.name + ".building")
    _remove_db_files(tmp)
    try:
        builder.write(tmp)
        _remove_db_files(path)
        os.replace(tmp, path)
    finally:
        _remove_db_files(tmp)
    con = sqlite3.connect(str(path))
    try:
        # WAL lets the appliance's connector read while the simulator writes.
        con.execute("PRAGMA journal_mode = WAL")
    finally:
        con.close()
    return DemoClinic(path)


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            p.unlink()


def _check_replaceable(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            con.execute("SELECT Value FROM DemoInfo WHERE Key = 'generator'").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        raise FileExistsError(f"{path} exists and is not a demo clinic; not replacing it") from None


class _Builder:
    def __init__(
        self,
        *,
        seed: int,
        today: date,
        now: datetime,
        n_patients: int,
        n_doctors: int,
        history_days: int,
        future_days: int,
        receptions_per_patient: float | None,
        payments_per_reception: float | None,
    ) -> None:
        self.seed = seed
        self.today = today
        self.now = now
        self.n_patients = n_patients
        self.n_doctors = n_doctors
        self.history_days = history_days
        self.future_days = future_days
        self.rpp = receptions_per_patient
        self.ppr = payments_per_reception
        # Old patients' first visits reach back up to eight years before the history.
        base = today - timedelta(days=history_days + 8 * 366 + 30)
        self.clock = _Clock(base, (today - base).days + future_days + 120)
        self.T = self.clock.day_index(today)
        self.now_abs = self.clock.at(today, now.time())

        self.people: list[_Person] = []
        self.own_phones: list[tuple[int, int, str | None, str]] = []
        self.families: list[tuple[int, str, int]] = []
        self.staff_people: list[tuple[int, str, str, str, str, int, str | None]] = []
        self.docs: list[_Doctor] = []
        self.staffs: list[list[Any]] = []
        self.armchairs: list[tuple[int, str, int]] = []
        # Slot: [doctor index, start seconds, minutes, patient id, persona visit or None]
        self.slots: list[list[Any]] = []
        self.receptions: list[list[Any]] = []
        self.payments: list[list[Any]] = []
        self.refunds: list[list[Any]] = []
        self.patient_rows: list[list[Any]] = []

    # ----------------------------------------------------------------- generation

    def generate(self) -> None:
        self._make_staff()
        self._make_patients()
        self._make_schedule()
        self._assign_patients()
        self._make_receptions()
        self._make_patient_rows()
        self._assign_row_versions()

    def _make_staff(self) -> None:
        rng = _stream(self.seed, "staff")
        pid = FIRST_GENERATED_PERSON_ID
        hired_before = self.T - self.history_days - 30

        def person(sex: int, birth_year: int) -> int:
            nonlocal pid
            surname = N.surname_for(rng.choice(N.SURNAMES), sex)
            name = N.first_name(rng, sex, birth_year)
            patr = N.patronymic(N.father_name(rng, birth_year), sex)
            birth = date(birth_year, 1, 1) + timedelta(days=rng.randrange(365))
            phone = P.format_mobile(rng, P.random_mobile(rng))
            self.staff_people.append((pid, surname, name, patr, _birthday(birth), sex, phone))
            pid += 1
            return pid - 1

        def hire_time() -> int:
            return (hired_before - rng.randrange(0, 2000)) * DAY_S + rng.randrange(9, 19) * 3600

        specs = [C.doctor_specialty(i) for i in range(self.n_doctors)]
        archived = self.history_days >= 60
        if archived:
            specs.append(C.SPECIALTY_BY_KEY["therapist"])
        per_branch = [0, 0]
        for i in range(len(specs)):
            per_branch[i % 2] += 1
        chair_id = 1
        chairs: dict[int, list[int]] = {}
        for branch_id, _, _ in C.BRANCHES:
            count = max(2, math.ceil(per_branch[branch_id - 1] * 0.6))
            chairs[branch_id] = []
            for n in range(count):
                self.armchairs.append((chair_id, f"Кресло {n + 1}", branch_id))
                chairs[branch_id].append(chair_id)
                chair_id += 1

        staff_id = 1
        for i, spec in enumerate(specs):
            sex = rng.choice((C.SEX_MALE, C.SEX_FEMALE))
            person_id = person(sex, rng.randrange(1958, 1996))
            branch_id = C.BRANCHES[i % 2][0]
            branch_chairs = chairs[branch_id]
            is_archived = archived and i == len(specs) - 1
            doc = _Doctor(
                staff_id=staff_id,
                person_id=person_id,
                specialty=spec,
                branch_id=branch_id,
                armchair_id=branch_chairs[(i // 2) % len(branch_chairs)],
                archived=is_archived,
                popularity=rng.uniform(0.75, 1.25),
                last_day=self.T - self.history_days // 2 if is_archived else None,
            )
            doc.length_pool = [
                minutes // C.GRID_MIN for minutes, w in spec.lengths for _ in range(w)
            ]
            self.docs.append(doc)
            changed = hire_time()
            if doc.last_day is not None:
                # Archived a few days after their last patient.
                changed = (doc.last_day + 3) * DAY_S + 11 * 3600
            self.staffs.append(
                [staff_id, person_id, spec.item_id, branch_id, int(is_archived), changed, None]
            )
            staff_id += 1

        others = [
            (C.ITEM_SENIOR_ADMINISTRATOR, 1),
            (C.ITEM_ADMINISTRATOR, 1),
            (C.ITEM_ADMINISTRATOR, 2),
            (C.ITEM_ADMINISTRATOR, 2),
            (C.ITEM_DIRECTOR, 1),
            (C.ITEM_MARKETER, 1),
        ]
        for item_id, branch_id in others:
            sex = C.SEX_FEMALE if rng.random() < 0.8 else C.SEX_MALE
            if item_id == C.ITEM_DIRECTOR:
                sex = C.SEX_MALE
            person_id = person(sex, rng.randrange(1965, 2003))
            self.staffs.append([staff_id, person_id, item_id, branch_id, 0, hire_time(), None])
            staff_id += 1
        self.first_patient_pid = pid

    def _make_patients(self) -> None:
        rng = _stream(self.seed, "people")
        today = self.today
        self._add_personas()
        pid = self.first_patient_pid
        family_id = PERSONA_FAMILY_ID + 1
        kind_cursor = 0
        generated: list[_Person] = []

        def next_kind() -> str:
            # Walk every phone kind once before drawing at random, so that even a small
            # clinic shows each way of typing a phone.
            nonlocal kind_cursor
            if kind_cursor < len(P.KINDS):
                kind_cursor += 1
                return P.KINDS[kind_cursor - 1]
            return P.random_kind(rng)

        def birth_for_age(age: int) -> date:
            year = today.year - age
            return date(year, 1, 1) + timedelta(days=rng.randrange(365))

        def make(
            sex: int,
            birth: date,
            surname_m: str,
            father: str | None,
            phone: str | None,
        ) -> _Person:
            nonlocal pid
            patr: str | None = N.patronymic(father or N.father_name(rng, birth.year), sex)
            if rng.random() < 0.01:
                patr = None
            person = _Person(
                pid=pid,
                surname=N.surname_for(surname_m, sex),
                name=N.first_name(rng, sex, birth.year),
                patronymic=patr,
                sex=sex,
                birth=birth,
                phone=phone,
                child=_age(birth, today) < 15,
                activity=min(rng.paretovariate(1.8), 25.0),
            )
            pid += 1
            generated.append(person)
            return person

        def own_phone(kind: str | None = None) -> str | None:
            return P.typed_phone(rng, kind or next_kind())

        def shared_phone(phone: str | None) -> str | None:
            # Relatives reuse the number, often typed differently by another admin.
            if phone and rng.random() < 0.35:
                national = P.national_digits(phone)
                if national:
                    return P.format_mobile(rng, national)
            return phone

        def adult_age(lo: int = 18, hi: int = 88) -> int:
            return max(lo, min(hi, int(rng.triangular(lo, hi, 38))))

        while len(generated) < self.n_patients:
            r = rng.random()
            surname_m = rng.choice(N.SURNAMES)
            if r < 0.91:
                sex = rng.choice((C.SEX_MALE, C.SEX_FEMALE))
                age = adult_age() if rng.random() < 0.9 else rng.randrange(3, 18)
                kind = next_kind()
                phone = P.typed_phone(rng, kind)
                person = make(sex, birth_for_age(age), surname_m, None, phone)
                if kind.startswith("foreign") and person.patronymic and rng.random() < 0.5:
                    person.patronymic = None
                continue
            # A household: spouses and/or a parent with children under one family.
            fam = family_id
            family_id += 1
            members: list[_Person] = []
            couple = r < 0.94 or r >= 0.985
            with_children = r >= 0.94
            head_sex = rng.choice((C.SEX_MALE, C.SEX_FEMALE))
            head_age = adult_age(25, 55) if with_children else adult_age(22, 80)
            head = make(head_sex, birth_for_age(head_age), surname_m, None, own_phone())
            members.append(head)
            father = head.name if head_sex == C.SEX_MALE else None
            if couple:
                spouse_sex = C.SEX_FEMALE if head_sex == C.SEX_MALE else C.SEX_MALE
                spouse_age = max(20, head_age + rng.randint(-5, 5))
                phone = shared_phone(head.phone) if rng.random() < 0.4 else own_phone()
                spouse = make(spouse_sex, birth_for_age(spouse_age), surname_m, None, phone)
                members.append(spouse)
                if spouse_sex == C.SEX_MALE:
                    father = spouse.name
            if with_children:
                father = father or N.father_name(rng, today.year - head_age + 28)
                for _ in range(rng.choice((1, 1, 2, 2, 3))):
                    age = rng.randrange(3, min(18, head_age - 19))
                    teen_phone = age >= 14 and rng.random() < 0.3
                    phone = own_phone() if teen_phone else shared_phone(head.phone)
                    child = make(
                        rng.choice((C.SEX_MALE, C.SEX_FEMALE)),
                        birth_for_age(age),
                        surname_m,
                        father,
                        phone,
                    )
                    members.append(child)
            # The last household may overflow the requested count; cut it.
            limit = self.first_patient_pid + self.n_patients
            members = [m for m in members if m.pid < limit]
            for m in members:
                m.family_id = fam if len(members) > 1 else None
            if len(members) > 1:
                self.families.append(
                    (fam, N.initials(head.surname, head.name, head.patronymic), head.pid)
                )
        del generated[self.n_patients :]

        for i, person in enumerate(generated):
            if i % 40 == 5 or rng.random() < 0.015:
                # Birthdays this week, so greetings have someone to greet.
                person.birth = _birthday_on(
                    today + timedelta(days=rng.randrange(7)), person.birth.year
                )
            adult = not person.child
            if adult and person.family_id is None and rng.random() < 0.03:
                person.status = C.PATIENT_ARCHIVED
            if rng.random() < 0.06:
                person.conform = 0
            if rng.random() < 0.04:
                person.sms_rejection = 1
            if rng.random() < 0.05:
                person.comment = rng.choice(C.PATIENT_COMMENTS)
            person.never_visits = rng.random() < 0.03
            person.old_patient = rng.random() < 0.3
            if adult and rng.random() < 0.12:
                kind = rng.choice(("Мобильный", "Домашний", "Рабочий"))
                if kind == "Мобильный":
                    extra = P.format_mobile(rng, P.random_mobile(rng))
                elif kind == "Домашний":
                    extra = P.format_landline(rng, P.random_landline(rng))
                else:
                    extra = P.format_landline(rng, P.random_landline(rng))
                    extra += f" доб. {rng.randrange(100, 1000)}"
                self.own_phones.append((0, person.pid, extra, kind))
                if rng.random() < 0.15:
                    # The number lives only in the extra phones; the main field is empty.
                    person.phone = None
        self.people.extend(generated)

    def _add_personas(self) -> None:
        for p in PERSONAS:
            person = _Person(
                pid=p.person_id,
                surname=p.surname,
                name=p.name,
                patronymic=p.patronymic,
                sex=p.sex,
                birth=p.birthday(self.today),
                phone=p.phone_as_typed,
                family_id=p.family_id,
                conform=int(p.conform_to_sending),
                sms_rejection=int(p.sms_rejection),
                comment=p.comment,
                persona=True,
            )
            person.child = _age(person.birth, self.today) < 15
            self.people.append(person)
        head = next(p for p in PERSONAS if p.key == "family")
        self.families.append(
            (
                PERSONA_FAMILY_ID,
                N.initials(head.surname, head.name, head.patronymic),
                head.person_id,
            )
        )

    def _make_schedule(self) -> None:
        rng = _stream(self.seed, "schedule")
        T = self.T
        past_days = range(T - self.history_days, T + 1)
        future_days = range(T + 1, T + self.future_days + 1)
        n_gen = self.n_patients

        past_target = n_gen * DEFAULT_PAST_VISITS_PER_YEAR * self.history_days / 365.0
        future_target = n_gen * DEFAULT_FUTURE_VISITS_PER_DAY * self.future_days
        if self.rpp is not None:
            total = n_gen * self.rpp
            default_total = past_target + future_target
            share = future_target / default_total if default_total else 0.0
            past_target, future_target = total * (1 - share), total * share

        reserved = self._reserve_persona_slots()

        def day_weight(day: int) -> float:
            d = self.clock.base + timedelta(days=day)
            w = (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.55)[d.weekday()]
            if d.month == 1 and d.day <= 8:
                w *= 0.15  # New Year holidays
            elif d.month in (6, 7, 8):
                w *= 0.85
            elif d.month == 12:
                w *= 1.1
            return w

        def doctor_days(days: range, future: bool) -> list[tuple[int, int, float]]:
            out = []
            for day in days:
                dw = day_weight(day)
                if future:
                    dw *= 0.85 * math.exp(-(day - T - 1) / 5.0) + 0.1
                d = self.clock.base + timedelta(days=day)
                for di, doc in enumerate(self.docs):
                    if doc.last_day is not None and day > doc.last_day:
                        continue
                    if not C.doctor_works(doc.staff_id, d):
                        continue
                    out.append((di, day, dw * doc.popularity * rng.lognormvariate(0.0, 0.3)))
            return out

        for days, target, future in (
            (past_days, past_target, False),
            (future_days, future_target, True),
        ):
            dd = doctor_days(days, future)
            if not dd or target <= 0:
                continue
            if target / len(dd) > MAX_MEAN_VISITS_PER_DOCTOR_DAY:
                per_doctor_days = len(dd) / len(self.docs)
                need = math.ceil(target / (MAX_MEAN_VISITS_PER_DOCTOR_DAY * per_doctor_days))
                raise ValueError(
                    f"{round(target)} receptions do not fit {self.n_doctors} doctors over "
                    f"{len(days)} days (about {target / len(dd):.1f} a doctor a day); use "
                    f"doctors >= {need} or a longer history_days"
                )
            total_w = sum(w for _, _, w in dd)
            acc = rng.random()
            for di, day, w in dd:
                expected = target * w / total_w
                k = math.floor(acc + expected) - math.floor(acc)
                acc += expected
                if k:
                    self._place_day(rng, di, day, k, reserved.get((di, day)))

    def _reserve_persona_slots(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        reserved: dict[tuple[int, int], list[tuple[int, int]]] = {}
        active = [i for i, d in enumerate(self.docs) if not d.archived]
        for p in PERSONAS:
            for visit in p.visits:
                di = next(
                    (i for i in active if self.docs[i].specialty.key == visit.specialty),
                    active[0],
                )
                day = self.T + visit.days_from_today
                start_min = visit.at.hour * 60 + visit.at.minute
                reserved.setdefault((di, day), []).append((start_min, start_min + visit.minutes))
                self.slots.append(
                    [di, day * DAY_S + start_min * 60, visit.minutes, p.person_id, visit]
                )
        return reserved

    def _place_day(
        self,
        rng: random.Random,
        di: int,
        day: int,
        k: int,
        reserved: list[tuple[int, int]] | None,
    ) -> None:
        rand = rng.random
        pool = self.docs[di].length_pool
        n_pool = len(pool)
        lens = [pool[int(rand() * n_pool)] for _ in range(min(k, QUARTERS_PER_DAY // 2))]
        total = sum(lens)
        if total > QUARTERS_PER_DAY:
            # Shorten the longest visits first: a packed day is a day of short visits.
            lens.sort(reverse=True)
            for i in range(len(lens)):
                if total <= QUARTERS_PER_DAY:
                    break
                total -= lens[i] - 2
                lens[i] = 2
            rng.shuffle(lens)
        # Spread the free time over the gaps between visits.
        span = QUARTERS_PER_DAY - total + 1
        cuts = sorted([int(rand() * span) for _ in lens])
        used = 0
        day_s = day * DAY_S + C.WORK_START_MIN * 60
        slots = self.slots
        for cut, length in zip(cuts, lens, strict=True):
            offset = (cut + used) * C.GRID_MIN
            used += length
            minutes = length * C.GRID_MIN
            if reserved:
                start_min = C.WORK_START_MIN + offset
                if any(s < start_min + minutes and start_min < e for s, e in reserved):
                    continue
            slots.append([di, day_s + offset * 60, minutes, 0, None])

    def _assign_patients(self) -> None:
        rng = _stream(self.seed, "assign")
        rand = rng.random
        generated = [p for p in self.people if not p.persona]
        if not generated:
            self.slots = [s for s in self.slots if s[3]]
            return
        now_abs = self.now_abs

        def pools(people: list[_Person]) -> dict[bool, tuple[list[int], list[float]]]:
            out: dict[bool, tuple[list[int], list[float]]] = {}
            for child in (False, True):
                group = [p for p in people if p.child == child] or people
                out[child] = ([p.pid for p in group], list(accumulate(p.activity for p in group)))
            return out

        past_pools = pools([p for p in generated if not p.never_visits] or generated)
        active = [p for p in generated if p.status == C.PATIENT_ACTIVE and not p.never_visits]
        future_pools = pools(active or generated)

        # 0: adults only, 1: children only, 2: either (orthodontists see both).
        audience = [
            1 if not d.specialty.for_adults else (2 if d.specialty.for_children else 0)
            for d in self.docs
        ]
        # A patient is not booked twice on one day: key = patient * DAYS + day.
        days = len(self.clock.day_str)
        taken: set[int] = {s[3] * days + s[1] // DAY_S for s in self.slots if s[3]}
        by_pool: dict[tuple[bool, bool], list[list[Any]]] = {
            (f, c): [] for f in (False, True) for c in (False, True)
        }
        for s in self.slots:
            if not s[3]:
                a = audience[s[0]]
                child = a == 1 or (a == 2 and rand() < 0.5)
                by_pool[(s[1] >= now_abs, child)].append(s)

        # Everyone who ever came gets at least one past visit; the rest go by activity.
        for child in (False, True):
            past = by_pool[(False, child)]
            pids = [p.pid for p in generated if p.child == child and not p.never_visits]
            rng.shuffle(pids)
            picks = rng.sample(range(len(past)), min(len(past), len(pids)))
            for i, pid in zip(picks, pids, strict=False):
                s = past[i]
                s[3] = pid
                taken.add(pid * days + s[1] // DAY_S)

        for (future, child), slots in by_pool.items():
            pids, cum = (future_pools if future else past_pools)[child]
            todo = [s for s in slots if not s[3]]
            if not todo:
                continue
            draws = rng.choices(pids, cum_weights=cum, k=len(todo))
            for s, pid in zip(todo, draws, strict=True):
                day = s[1] // DAY_S
                tries = 0
                while pid * days + day in taken and tries < 5:
                    pid = rng.choices(pids, cum_weights=cum)[0]
                    tries += 1
                s[3] = pid
                taken.add(pid * days + day)

    def _make_receptions(self) -> None:
        rng = _stream(self.seed, "receptions")
        rand = rng.random
        now = self.now_abs
        docs = self.docs

        # Booking time first: IDENT's identity follows the order bookings were made.
        lead_days = [0] * 8 + [1, 2, 3] * 12 + list(range(4, 15)) * 4 + list(range(15, 46))
        n_lead = len(lead_days)
        for s in self.slots:
            start = s[1]
            visit: PersonaVisit | None = s[4]
            if visit is not None:
                added = start - (3 if visit.completed else 5) * DAY_S - 2 * 3600 + 720
            else:
                lead = lead_days[int(rand() * n_lead)]
                if lead == 0:
                    added = start - 1800 - int(rand() * 5 * 3600)
                else:
                    added = (start // DAY_S - lead) * DAY_S + 8 * 3600 + int(rand() * 14 * 3600)
            if added >= now:
                added = now - 60 - int(rand() * 3 * 3600)
            s.append(added)
        self.slots.sort(key=itemgetter(5, 1, 0))

        source = _Weighted([sid for sid, _ in C.APPOINTMENT_SOURCES], C.SOURCE_WEIGHTS)
        src_items, src_cum, src_total = source.items, source.cum, source.total
        reason_of = _Weighted([rid for rid, _ in C.CANCEL_REASONS], C.CANCEL_REASON_WEIGHTS)
        comments = C.CANCEL_COMMENTS
        external = C.EXTERNAL_SOURCES
        prices = _stream(self.seed, "prices")
        menus = {spec.key: _Menu(spec, prices) for spec in C.SPECIALTIES}
        # Per-doctor lookups hoisted out of the 600,000-row loop.
        staff_of = [d.staff_id for d in docs]
        chair_of = [d.armchair_id for d in docs]
        templates_of = [menus[d.specialty.key].templates for d in docs]
        discounts = (0.03, 0.05, 0.07, 0.1)
        stale_before = (self.T - 1) * DAY_S
        arrival_lead = C.arrival_lead_seconds
        start_delay = C.start_delay_seconds
        completion_delay = C.completion_delay_seconds
        checkout_delay = C.checkout_delay_seconds
        receptions = self.receptions
        pay_plan: list[tuple[list[Any], int, int]] = []  # (reception, closed at, kopecks)
        for rid, s in enumerate(self.slots, start=1):
            di, start, minutes, pid, visit, added = s
            end = start + minutes * 60
            appeared = started = ended = check = canceled = cancel_at = notified_at = None
            reason = comment = ext_uid = None
            hand = 0
            if visit is not None:
                src = C.SOURCE_PHONE
                services, amount = ", ".join(visit.services), _kop(visit.payment or "0")
                if visit.completed:
                    appeared, started = start - 600, start + 120
                    ended = end - 300
                    check = ended + 180
            else:
                src = src_items[bisect_right(src_cum, rand() * src_total)]
                if src in external:
                    ext_uid = _uuid4(rng)
                services, amount = templates_of[di][int(rand() * 256)]
                if rand() < 0.1:
                    # Loyalty and family discounts leave kopecks behind.
                    amount = round(amount * (1 - discounts[int(rand() * 4)]))
                if start >= now:
                    if rand() < 0.05:
                        canceled = cancel_at = _daytime(rng, added + 600, now)
                        reason = reason_of(rand)
                else:
                    r = rand()
                    if r < 0.09:
                        canceled = cancel_at = _daytime(rng, added + 600, min(start - 1800, now))
                        r2 = rand()
                        if r2 < 0.8:
                            reason = reason_of(rand)
                            if r2 >= 0.7:
                                # Some installs leave the flag empty, recording only a reason.
                                canceled = None
                        if rand() < 0.2:
                            comment = comments[int(rand() * len(comments))]
                    elif r < 0.13:
                        pass  # no-show: nothing was ever marked
                    else:
                        appeared = start - arrival_lead(rid)
                        started = start + start_delay(rid)
                        if started > now:
                            started = None
                        done = end + completion_delay(rid)
                        if done <= now and not (start < stale_before and r > 0.993):
                            ended = done
                            check = done + checkout_delay(rid)
                            if check > now:
                                check = None
                            elif r > 0.985:
                                ended = None  # closed at the desk, the visit never "ended"
                if cancel_at is None and rand() < 0.7:
                    # Reminder calls go out the afternoon before.
                    t = (start // DAY_S - 1) * DAY_S + 12 * 3600 + int(rand() * 7 * 3600)
                    if added < t <= now:
                        notified_at = t
                hand = 1 if rand() < 0.04 else 0
            # The latest event is the last change (all times are positive ints).
            changed = check or ended or started or appeared or cancel_at or notified_at or added
            row = [
                rid, pid, staff_of[di], chair_of[di], start, end, appeared, started, ended,
                check, canceled, reason, comment, 0 if notified_at is None else 1, notified_at,
                hand, src, ext_uid, services, added, changed, None,
            ]  # fmt: skip
            receptions.append(row)
            closed = ended if check is None else check
            if closed is not None:
                pay_plan.append((row, closed, amount))
        self._make_payments(_stream(self.seed, "money"), pay_plan, len(receptions))

    def _make_payments(
        self,
        rng: random.Random,
        plan: list[tuple[list[Any], int, int]],
        n_receptions: int,
    ) -> None:
        now = self.now_abs
        slots = self.slots
        visits: list[PersonaVisit | None] = [slots[row[0] - 1][4] for row, _, _ in plan]
        n_regular = visits.count(None)
        rand = rng.random
        # How many payments each closed visit gets, before looking at amounts.
        counts: list[int]
        if self.ppr is None:
            # Free check-ups and warranty fixes are not paid; some visits split the bill.
            counts = [0 if (r := rand()) < 0.05 else (2 if r > 0.92 else 1) for _ in plan]
        elif n_regular:
            target = max(0, round(n_receptions * self.ppr) - (len(plan) - n_regular))
            base, extra = divmod(target, n_regular)
            share = extra / n_regular
            counts = [base + (rand() < share) for _ in plan]
        else:
            counts = [1] * len(plan)

        method = _Weighted([C.CASH_CARD, C.CASH_CASH, C.CASH_SBP], [60, 25, 15])
        m_items, m_cum, m_total = method.items, method.cum, method.total
        cash_bonus = C.CASH_BONUS
        payments = self.payments
        append = payments.append
        pay_id = 0
        for (row, closed, kop), n, visit in zip(plan, counts, visits, strict=True):
            if visit is not None:
                # Personas pay exactly as promised, in full, two minutes after checkout.
                if kop > 0 and closed + 120 <= now:
                    pay_id += 1
                    cash = C.METHOD_TO_CASH_DESC[visit.method]
                    t = closed + 120
                    append([pay_id, t, row[1], kop, cash, row[0], t, t, None])
                continue
            if n == 0 or kop <= 0:
                continue
            parts: tuple[tuple[int, int], ...]
            if n == 1:
                if kop <= 300_000 and rand() < 0.15:
                    parts = ((kop, cash_bonus),)
                else:
                    parts = ((kop, m_items[bisect_right(m_cum, rand() * m_total)]),)
            elif n == 2:
                if rand() < 0.5:
                    # Part of the bill paid with bonus points (300-3,000 roubles).
                    b = max(30_000, min(300_000, kop * 3 // 10) // 1000 * 1000)
                    if b >= kop:
                        b = kop // 2
                    parts = ((b, cash_bonus), (kop - b, method(rand)))
                else:
                    a = kop // 2 // 10_000 * 10_000 or kop // 2
                    parts = ((a, C.CASH_CASH), (kop - a, C.CASH_CARD))
            else:
                each = kop // n
                parts = tuple((each, method(rand)) for _ in range(n - 1)) + (
                    (kop - each * (n - 1), method(rand)),
                )
            paid = closed + 30 + int(rand() * 270)
            reception_id = row[0] if rand() < 0.92 else None
            patient_id = row[1]
            for amount, cash in parts:
                if paid > now or amount <= 0:
                    break
                pay_id += 1
                added = paid + int(rand() * 3)
                append([pay_id, paid, patient_id, amount, cash, reception_id, added, added, None])
                paid += 20 + int(rand() * 100)

        out_id = 0
        for payment in self.payments:
            if payment[4] == C.CASH_BONUS or rand() >= 0.008:
                continue
            when = (payment[1] // DAY_S + rng.randrange(1, 11)) * DAY_S + rng.randrange(
                10 * 3600, 19 * 3600
            )
            if when > now:
                continue
            amount = payment[3]
            if rng.random() >= 0.55 and amount > 100_000:
                amount = rng.randrange(50_000, amount, 10_000)
            out_id += 1
            linked_payment = payment[0] if rng.random() < 0.9 else None
            comment = rng.choice(C.REFUND_COMMENTS)
            self.refunds.append(
                [out_id, when, payment[2], amount, linked_payment, comment, when, when, None]
            )

    def _make_patient_rows(self) -> None:
        rng = _stream(self.seed, "patients")
        now = self.now_abs
        history_start = (self.T - self.history_days) * DAY_S
        first_added: dict[int, int] = {}
        first_visit: dict[int, int] = {}
        # Receptions are in booking order, so a patient's first row is their first booking.
        for r in self.receptions:
            pid = r[1]
            if pid not in first_added:
                first_added[pid] = r[19]
            start = r[4]
            if (
                start < now
                and r[10] is None
                and r[11] is None
                and start < first_visit.get(pid, now)
            ):
                first_visit[pid] = start
        for number, person in enumerate(sorted(self.people, key=lambda p: p.pid), start=1):
            visit: int | None
            if person.persona:
                registered = first_added.get(person.pid, now - 7 * DAY_S) - 3600
                visit = first_visit.get(person.pid)
            elif person.old_patient:
                # Came before the history window (imported from the previous system).
                visit = history_start - rng.randrange(1, 8 * 365) * DAY_S
                registered = (
                    visit - rng.randrange(0, 3) * DAY_S + rng.randrange(9 * 3600, 20 * 3600)
                )
            else:
                # The card is opened while booking the first visit.
                visit = first_visit.get(person.pid)
                added = first_added.get(person.pid)
                if added is None:
                    day = rng.randrange(self.T - self.history_days, self.T + 1)
                    added = day * DAY_S + rng.randrange(9 * 3600, 20 * 3600)
                registered = added - rng.randrange(30, 600)
            registered = min(registered, now - 60)
            changed = registered
            if not person.persona and rng.random() < 0.25 and now > registered + 60:
                changed = rng.randrange(registered, now)
            anchor = visit if visit is not None else registered
            card_year = (self.clock.base + timedelta(days=anchor // DAY_S)).year
            self.patient_rows.append(
                [
                    person.pid,
                    number,
                    f"{number}/{card_year % 100:02d}",
                    person.status,
                    person.conform,
                    person.sms_rejection,
                    None if visit is None else visit // DAY_S * DAY_S,
                    person.comment,
                    person.family_id,
                    changed,
                    None,
                ]
            )

    def _assign_row_versions(self) -> None:
        # One global order by last change, as SQL Server's database-wide rowversion
        # would show after the edits actually happened in that order.
        tables = (self.patient_rows, self.staffs, self.receptions, self.payments, self.refunds)
        changed_col = (9, 5, 20, 7, 7)
        keys: list[int] = []
        for t, (rows, col) in enumerate(zip(tables, changed_col, strict=True)):
            keys.extend(((row[col] * 8 + t) << 25) | i for i, row in enumerate(rows))
        keys.sort()
        mask = (1 << 25) - 1
        for rv, key in enumerate(keys, start=1):
            tables[(key >> 25) & 7][key & mask][-1] = rv
        self.last_row_version = len(keys)

    # -------------------------------------------------------------------- writing

    def _reception_tuples(self) -> Iterator[tuple[Any, ...]]:
        # Inlined formatting: ten timestamps a row times 600,000 rows makes a function
        # call per timestamp a measurable part of the build.
        ds, tod = self.clock.day_str, self.clock.tod
        for r in self.receptions:
            (rid, pid, staff, chair, start, end, appeared, started, ended, check, canceled,
             reason, comment, notified, notified_at, hand, src, uid, services, added,
             changed, rv) = r  # fmt: skip
            yield (
                rid, pid, staff, chair,
                ds[start // DAY_S] + " " + tod[start % DAY_S],
                ds[end // DAY_S] + " " + tod[end % DAY_S],
                None if appeared is None else ds[appeared // DAY_S] + " " + tod[appeared % DAY_S],
                None if started is None else ds[started // DAY_S] + " " + tod[started % DAY_S],
                None if ended is None else ds[ended // DAY_S] + " " + tod[ended % DAY_S],
                None if check is None else ds[check // DAY_S] + " " + tod[check % DAY_S],
                None if canceled is None else ds[canceled // DAY_S] + " " + tod[canceled % DAY_S],
                reason, comment, notified,
                None if notified_at is None
                else ds[notified_at // DAY_S] + " " + tod[notified_at % DAY_S],
                hand, src, uid, services,
                ds[added // DAY_S] + " " + tod[added % DAY_S],
                ds[changed // DAY_S] + " " + tod[changed % DAY_S],
                rv,
            )  # fmt: skip

    def write(self, path: Path) -> None:
        """Write everything in one transaction: tables, rows, then indexes and triggers."""
        ck = self.clock
        ts, tsn = ck.ts, ck.tsn
        con = sqlite3.connect(str(path), isolation_level=None)
        try:
            # A fresh file built aside and renamed into place needs no journal.
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.execute("PRAGMA cache_size = -200000")
            con.execute("PRAGMA temp_store = MEMORY")
            # Index builds sort; let SQLite use a helper thread for it.
            con.execute("PRAGMA threads = 2")
            sections = schema_sections()
            con.execute("BEGIN")
            for stmt in _statements(sections["tables"]):
                con.execute(stmt)
            ins = con.executemany
            ins("INSERT INTO Branches (ID, Name, Address) VALUES (?, ?, ?)", C.BRANCHES)
            ins("INSERT INTO Armchairs (ID, Name, ID_Branches) VALUES (?, ?, ?)", self.armchairs)
            ins(
                "INSERT INTO ProfessionNames (ID, Name, ID_Roles) VALUES (?, ?, ?)",
                C.PROFESSION_NAMES,
            )
            ins("INSERT INTO Items (ID, Name, ID_ProfessionNames) VALUES (?, ?, ?)", C.ITEMS)
            ins("INSERT INTO ReceptionCancelReasons (ID, Name) VALUES (?, ?)", C.CANCEL_REASONS)
            ins("INSERT INTO AppointmentSources (ID, Name) VALUES (?, ?)", C.APPOINTMENT_SOURCES)
            ins("INSERT INTO CashDescs (ID, Name, IsBonus) VALUES (?, ?, ?)", C.CASH_DESCS)
            ins(
                "INSERT INTO Persons (ID, Surname, Name, Patronymic, Birthday, Sex, MobilePhone)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    *(
                        (p.pid, p.surname, p.name, p.patronymic, _birthday(p.birth), p.sex, p.phone)
                        for p in self.people
                        if p.persona
                    ),
                    *self.staff_people,
                    *(
                        (p.pid, p.surname, p.name, p.patronymic, _birthday(p.birth), p.sex, p.phone)
                        for p in self.people
                        if not p.persona
                    ),
                ],
            )
            ins(
                "INSERT INTO OwnPhones (ID, ID_Persons, Phone, PhoneType) VALUES (?, ?, ?, ?)",
                (
                    (i, pid, phone, kind)
                    for i, (_, pid, phone, kind) in enumerate(self.own_phones, 1)
                ),
            )
            ins("INSERT INTO Families (ID, Name, ID_HeadPatients) VALUES (?, ?, ?)", self.families)
            ins(
                "INSERT INTO Patients (ID_Persons, PatientNumber, CardNumber, Status,"
                " ConformToSending, SMSRejection, FirstVisit, Comment, ID_Families,"
                " DateTimeChanged, RowVersion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (r[0], r[1], r[2], r[3], r[4], r[5], tsn(r[6]), r[7], r[8], ts(r[9]), r[10])
                    for r in self.patient_rows
                ),
            )
            ins(
                "INSERT INTO Staffs (ID, ID_Persons, ID_Items, ID_Branches, Archive,"
                " DateTimeChanged, RowVersion) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((r[0], r[1], r[2], r[3], r[4], ts(r[5]), r[6]) for r in self.staffs),
            )
            ins(
                "INSERT INTO Receptions (ID, ID_Patients, ID_Staffs, ID_Armchairs, PlanStart,"
                " PlanEnd, PatientAppeared, ReceptionStarted, ReceptionEnded, CheckIssued,"
                " ReceptionCanceled, ID_ReceptionCancelReasons, CancelReasonComment, IsNotified,"
                " DateTimeNotified, NeedHandReminder, ID_AppointmentSources, ExternalUID,"
                " Services, DateTimeAdded, DateTimeChanged, RowVersion)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._reception_tuples(),
            )
            ins(
                "INSERT INTO PaymentsIn (ID, DateTimePayment, DatePayment, ID_Patients, Payment,"
                " ID_CashDescs, ID_Receptions, DateTimeAdded, DateTimeChanged, RowVersion)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        r[0],
                        ts(r[1]),
                        ck.day(r[1]),
                        r[2],
                        _money(r[3]),
                        r[4],
                        r[5],
                        ts(r[6]),
                        ts(r[7]),
                        r[8],
                    )
                    for r in self.payments
                ),
            )
            ins(
                "INSERT INTO PaymentsOut (ID, DateTimePayment, ID_Patients, Payment,"
                " ID_PaymentsIn, Comment, DateTimeAdded, DateTimeChanged, RowVersion)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (r[0], ts(r[1]), r[2], _money(r[3]), r[4], r[5], ts(r[6]), ts(r[7]), r[8])
                    for r in self.refunds
                ),
            )
            con.execute(
                "UPDATE RowVersionCounter SET Value = ? WHERE ID = 1", (self.last_row_version,)
            )
            info = {
                "generator": GENERATOR_VERSION,
                "clinic_name": C.CLINIC_NAME,
                "timezone": C.CLINIC_TIMEZONE,
                "seed": str(self.seed),
                "today": self.today.isoformat(),
                "now": self.now.isoformat(sep=" "),
                "patients": str(self.n_patients),
                "doctors": str(self.n_doctors),
                "history_days": str(self.history_days),
                "future_days": str(self.future_days),
            }
            ins("INSERT INTO DemoInfo (Key, Value) VALUES (?, ?)", info.items())
            for stmt in _statements(sections["indexes"] + sections["triggers"]):
                con.execute(stmt)
            con.execute("COMMIT")
        finally:
            con.close()


def _statements(script: str) -> list[str]:
    """Split a script into statements (trigger bodies included) for use inside a
    transaction, which executescript() would commit."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf)
            buf = ""
    if buf.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement in schema: {buf[:80]!r}")
    return out


def _uuid4(rng: random.Random) -> str:
    """A version-4 UUID string from the build's random stream (uuid.UUID is slower)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _kop(amount: str) -> int:
    rub, _, kop = amount.partition(".")
    return int(rub) * 100 + int((kop + "00")[:2])


def _daytime(rng: random.Random, lo: int, hi: int) -> int:
    """A moment in [lo, hi], preferably in office hours: cancellations come by phone."""
    if hi <= lo:
        return lo
    t = rng.randrange(lo, hi)
    t = t // DAY_S * DAY_S + rng.randrange(9 * 3600, 20 * 3600)
    return min(max(t, lo), hi)


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _birthday(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _birthday_on(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


__all__ = ["GENERATOR_VERSION", "build_demo_clinic"]
