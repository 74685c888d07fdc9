"""Fixed people present in every demo clinic, whatever the seed or size.

Demos and end-to-end tests need someone to log in as with a known phone and known
visits; generated patients change with the seed, these never do. Person ids 1-100 are
reserved for personas; generated staff and patients start at FIRST_GENERATED_PERSON_ID.
Visit days are relative to the build's `today`, so "tomorrow" stays tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from .catalog import SEX_FEMALE, SEX_MALE

FIRST_GENERATED_PERSON_ID = 101
PERSONA_FAMILY_ID = 1


@dataclass(frozen=True)
class PersonaVisit:
    days_from_today: int
    at: time
    minutes: int
    specialty: str  # catalog specialty key; falls back to the first therapist if absent
    services: tuple[str, ...]
    completed: bool = False  # past visits are completed; future ones scheduled
    payment: str | None = None  # roubles, paid at checkout of a completed visit
    method: str = "card"


@dataclass(frozen=True)
class Persona:
    key: str
    person_id: int
    surname: str
    name: str
    patronymic: str
    sex: int
    phone_as_typed: str
    phone_e164: str
    description: str
    birth_year: int
    # None means "born on the build's today" (day and month), for birthday greetings.
    birthday_fixed: date | None
    visits: tuple[PersonaVisit, ...] = ()
    other_phones_e164: tuple[str, ...] = ()
    conform_to_sending: bool = True
    sms_rejection: bool = False
    family_id: int | None = None
    comment: str | None = None

    @property
    def patient_id(self) -> int:
        """Patients are keyed by their person id in IDENT."""
        return self.person_id

    @property
    def full_name(self) -> str:
        return f"{self.surname} {self.name} {self.patronymic}"

    def birthday(self, today: date) -> date:
        if self.birthday_fixed is not None:
            return self.birthday_fixed
        try:
            return today.replace(year=self.birth_year)
        except ValueError:  # 29 February in a non-leap birth year
            return date(self.birth_year, 2, 28)


FAMILY_PHONE = "+7 916 000-11-22"

PERSONAS: list[Persona] = [
    Persona(
        key="anna",
        person_id=1,
        surname="Иванова",
        name="Анна",
        patronymic="Сергеевна",
        sex=SEX_FEMALE,
        phone_as_typed="8 (912) 345-67-89",
        phone_e164="+79123456789",
        description=(
            "The main demo patient: a visit with a therapist tomorrow at 10:00 and one "
            "completed, paid visit 30 days ago."
        ),
        birth_year=1988,
        birthday_fixed=date(1988, 3, 14),
        visits=(
            PersonaVisit(
                -30,
                time(15, 0),
                60,
                "therapist",
                ("Лечение кариеса (поверхностный)", "Анестезия"),
                completed=True,
                payment="6200.00",
                method="card",
            ),
            PersonaVisit(1, time(10, 0), 60, "therapist", ("Лечение кариеса (глубокий)",)),
        ),
    ),
    Persona(
        key="family",
        person_id=2,
        surname="Петров",
        name="Олег",
        patronymic="Викторович",
        sex=SEX_MALE,
        phone_as_typed=FAMILY_PHONE,
        phone_e164="+79160001122",
        description=(
            "Head of the Петров family; his daughter and son share his phone. A surgeon "
            "visit in 2 days at 18:00 and a completed, paid visit 45 days ago."
        ),
        birth_year=1980,
        birthday_fixed=date(1980, 11, 2),
        family_id=PERSONA_FAMILY_ID,
        visits=(
            PersonaVisit(
                -45,
                time(11, 0),
                60,
                "surgeon",
                ("Удаление зуба простое",),
                completed=True,
                payment="3800.00",
                method="cash",
            ),
            PersonaVisit(2, time(18, 0), 60, "surgeon", ("Консультация хирурга",)),
        ),
    ),
    Persona(
        key="family_daughter",
        person_id=3,
        surname="Петрова",
        name="Мария",
        patronymic="Олеговна",
        sex=SEX_FEMALE,
        phone_as_typed=FAMILY_PHONE,
        phone_e164="+79160001122",
        description="Олег Петров's daughter, orthodontist in 3 days at 15:00; father's phone.",
        birth_year=2012,
        birthday_fixed=date(2012, 6, 21),
        family_id=PERSONA_FAMILY_ID,
        visits=(PersonaVisit(3, time(15, 0), 45, "orthodontist", ("Коррекция брекет-системы",)),),
    ),
    Persona(
        key="family_son",
        person_id=4,
        surname="Петров",
        name="Артём",
        patronymic="Олегович",
        sex=SEX_MALE,
        phone_as_typed=FAMILY_PHONE,
        phone_e164="+79160001122",
        description="Олег Петров's son, children's dentist in 3 days at 16:00; father's phone.",
        birth_year=2017,
        birthday_fixed=date(2017, 9, 5),
        family_id=PERSONA_FAMILY_ID,
        visits=(PersonaVisit(3, time(16, 0), 30, "pediatric", ("Герметизация фиссур",)),),
    ),
    Persona(
        key="nomsg",
        person_id=5,
        surname="Смирнова",
        name="Елена",
        patronymic="Викторовна",
        sex=SEX_FEMALE,
        phone_as_typed="+7 903 111-22-33",
        phone_e164="+79031112233",
        description=(
            "Refused messages (SMSRejection=1, ConformToSending still 1): nothing may be sent "
            "to her. A hygienist visit in 5 days at 12:00."
        ),
        birth_year=1969,
        birthday_fixed=date(1969, 1, 30),
        sms_rejection=True,
        comment="Просила не присылать SMS",
        visits=(
            PersonaVisit(
                5, time(12, 0), 60, "hygienist", ("Профессиональная гигиена полости рта",)
            ),
        ),
    ),
    Persona(
        key="twophones",
        person_id=6,
        surname="Кузнецов",
        name="Дмитрий",
        patronymic="Александрович",
        sex=SEX_MALE,
        phone_as_typed="8 925 555-44-33, 8 (495) 765-43-21",
        phone_e164="+79255554433",
        other_phones_e164=("+74957654321",),
        description=(
            "Two numbers typed into one field (a mobile and a Moscow landline). An "
            "orthopedist visit tomorrow at 17:30."
        ),
        birth_year=1975,
        birthday_fixed=date(1975, 8, 19),
        visits=(PersonaVisit(1, time(17, 30), 30, "orthopedist", ("Снятие слепков",)),),
    ),
    Persona(
        key="birthday",
        person_id=7,
        surname="Соколова",
        name="Ольга",
        patronymic="Ивановна",
        sex=SEX_FEMALE,
        phone_as_typed="89261234567",
        phone_e164="+79261234567",
        description=(
            "Born on the build's today (day and month, 1976): birthday greetings. One "
            "completed, paid visit 90 days ago, none upcoming."
        ),
        # 1976 is a leap year, so a 29 February build date still exists.
        birth_year=1976,
        birthday_fixed=None,
        visits=(
            PersonaVisit(
                -90,
                time(13, 0),
                60,
                "hygienist",
                ("Профессиональная гигиена полости рта",),
                completed=True,
                payment="6500.00",
                method="sbp",
            ),
        ),
    ),
]

PERSONA_BY_KEY: dict[str, Persona] = {p.key: p for p in PERSONAS}
FAMILY_KEYS: tuple[str, ...] = ("family", "family_daughter", "family_son")


def persona(key: str) -> Persona:
    """The persona called `key` ("anna", "family", "family_daughter", "family_son",
    "nomsg", "twophones", "birthday"); KeyError for anything else."""
    try:
        return PERSONA_BY_KEY[key]
    except KeyError:
        raise KeyError(f"no persona {key!r}; known: {', '.join(PERSONA_BY_KEY)}") from None
