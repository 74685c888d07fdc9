"""Reference data of the demo clinic: branches, roles, specialties, services, dictionaries.

Shared by the generator (history), the simulator (new activity) and the DemoClinic API,
so that the three agree on what a slot, a service or a payment method is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

CLINIC_NAME = "Стоматологическая клиника «Улыбка»"
CLINIC_TIMEZONE = "Europe/Moscow"

# IDENT role ids behind ProfessionNames.ID_Roles (from integrators' code).
ROLE_ADMINISTRATOR = 7
ROLE_DOCTOR = 8
ROLE_DIRECTOR = 9
ROLE_MARKETER = 104

SEX_MALE = 1
SEX_FEMALE = 2

PATIENT_ACTIVE = 0
PATIENT_ARCHIVED = 1

# Working day and the booking grid, in minutes from midnight.
WORK_START_MIN = 9 * 60
WORK_END_MIN = 20 * 60
GRID_MIN = 15

BRANCHES: list[tuple[int, str, str]] = [
    (1, "Филиал на Профсоюзной", "г. Москва, ул. Профсоюзная, д. 56"),
    (2, "Филиал на Таганке", "г. Москва, ул. Марксистская, д. 3, стр. 1"),
]

PROFESSION_DOCTOR = 1
PROFESSION_HYGIENIST = 2
PROFESSION_ADMINISTRATOR = 3
PROFESSION_DIRECTOR = 4
PROFESSION_MARKETER = 5

PROFESSION_NAMES: list[tuple[int, str, int]] = [
    (PROFESSION_DOCTOR, "Врач-стоматолог", ROLE_DOCTOR),
    # A hygienist keeps a timetable like a doctor, so IDENT clinics give them the doctor role.
    (PROFESSION_HYGIENIST, "Гигиенист", ROLE_DOCTOR),
    (PROFESSION_ADMINISTRATOR, "Администратор", ROLE_ADMINISTRATOR),
    (PROFESSION_DIRECTOR, "Директор", ROLE_DIRECTOR),
    (PROFESSION_MARKETER, "Маркетолог", ROLE_MARKETER),
]


@dataclass(frozen=True)
class Service:
    name: str
    price_min: int
    price_max: int


@dataclass(frozen=True)
class Specialty:
    key: str
    item_id: int
    item_name: str
    profession_id: int
    # Visit length in minutes -> relative weight.
    lengths: tuple[tuple[int, int], ...]
    services: tuple[Service, ...]
    # Children are seen by these specialties; adults by the others.
    for_children: bool = False
    for_adults: bool = True


SPECIALTIES: list[Specialty] = [
    Specialty(
        "therapist",
        1,
        "Стоматолог-терапевт",
        PROFESSION_DOCTOR,
        ((30, 1), (45, 2), (60, 4), (90, 2)),
        (
            Service("Консультация стоматолога-терапевта", 1500, 2000),
            Service("Лечение кариеса (поверхностный)", 4500, 6500),
            Service("Лечение кариеса (глубокий)", 6000, 9500),
            Service("Пломба светоотверждаемая", 4000, 7000),
            Service("Лечение пульпита (1 канал)", 9000, 13000),
            Service("Лечение пульпита (3 канала)", 16000, 24000),
            Service("Перелечивание канала", 8000, 12000),
            Service("Анестезия", 800, 1200),
        ),
    ),
    Specialty(
        "surgeon",
        2,
        "Стоматолог-хирург",
        PROFESSION_DOCTOR,
        ((30, 1), (60, 4), (90, 3)),
        (
            Service("Консультация хирурга", 1500, 2500),
            Service("Удаление зуба простое", 3000, 5000),
            Service("Удаление зуба сложное", 6000, 9000),
            Service("Удаление зуба мудрости", 8000, 15000),
            Service("Имплантация (установка импланта)", 35000, 55000),
            Service("Синус-лифтинг", 30000, 50000),
            Service("Костная пластика", 20000, 40000),
        ),
    ),
    Specialty(
        "orthopedist",
        3,
        "Стоматолог-ортопед",
        PROFESSION_DOCTOR,
        ((30, 2), (45, 2), (60, 3), (90, 1)),
        (
            Service("Консультация ортопеда", 1500, 2500),
            Service("Снятие слепков", 2000, 3500),
            Service("Коронка металлокерамическая", 15000, 25000),
            Service("Коронка из диоксида циркония", 25000, 40000),
            Service("Винир керамический", 30000, 45000),
            Service("Вкладка культевая", 6000, 10000),
            Service("Коронка на имплант", 35000, 55000),
        ),
    ),
    Specialty(
        "orthodontist",
        4,
        "Врач-ортодонт",
        PROFESSION_DOCTOR,
        ((30, 5), (45, 2), (60, 2), (90, 1)),
        (
            Service("Консультация ортодонта", 1500, 3000),
            Service("Коррекция брекет-системы", 3000, 5000),
            Service("Установка брекет-системы (одна челюсть)", 35000, 60000),
            Service("Элайнеры: этап лечения", 20000, 45000),
            Service("Ретейнер", 6000, 12000),
        ),
        for_children=True,
        for_adults=True,
    ),
    Specialty(
        "pediatric",
        5,
        "Детский стоматолог",
        PROFESSION_DOCTOR,
        ((30, 4), (45, 3), (60, 2)),
        (
            Service("Консультация детского стоматолога", 1500, 2000),
            Service("Лечение кариеса молочного зуба", 3500, 6000),
            Service("Герметизация фиссур", 2000, 3000),
            Service("Удаление молочного зуба", 2000, 3500),
            Service("Фторирование", 1500, 2500),
        ),
        for_children=True,
        for_adults=False,
    ),
    Specialty(
        "hygienist",
        6,
        "Гигиенист стоматологический",
        PROFESSION_HYGIENIST,
        ((45, 1), (60, 5), (90, 2)),
        (
            Service("Профессиональная гигиена полости рта", 5000, 8000),
            Service("Air Flow", 3000, 4500),
            Service("Отбеливание ZOOM", 20000, 30000),
            Service("Реминерализующая терапия", 2000, 3500),
        ),
    ),
    Specialty(
        "periodontist",
        7,
        "Пародонтолог",
        PROFESSION_DOCTOR,
        ((45, 2), (60, 4), (90, 1)),
        (
            Service("Консультация пародонтолога", 1500, 2500),
            Service("Кюретаж закрытый (1 зуб)", 1800, 3000),
            Service("Лечение пародонтита (1 сеанс)", 4000, 9000),
            Service("Шинирование зубов", 6000, 15000),
            Service("Вектор-терапия", 12000, 25000),
        ),
    ),
]

SPECIALTY_BY_KEY: dict[str, Specialty] = {s.key: s for s in SPECIALTIES}
SPECIALTY_BY_ITEM: dict[int, Specialty] = {s.item_id: s for s in SPECIALTIES}
SERVICE_BY_NAME: dict[str, Service] = {sv.name: sv for s in SPECIALTIES for sv in s.services}

# The first seven doctors cover every specialty once; beyond that, a clinic hires what
# is busiest (therapists most of all).
_FIRST_DOCTORS = [
    "therapist",
    "surgeon",
    "orthopedist",
    "orthodontist",
    "pediatric",
    "hygienist",
    "periodontist",
]
_MORE_DOCTORS = [
    "therapist",
    "therapist",
    "surgeon",
    "orthopedist",
    "hygienist",
    "therapist",
    "pediatric",
    "orthodontist",
]


def doctor_specialty(index: int) -> Specialty:
    """Specialty of the index-th active doctor (0-based), stable across builds."""
    if index < len(_FIRST_DOCTORS):
        return SPECIALTY_BY_KEY[_FIRST_DOCTORS[index]]
    return SPECIALTY_BY_KEY[_MORE_DOCTORS[(index - len(_FIRST_DOCTORS)) % len(_MORE_DOCTORS)]]


ITEM_ADMINISTRATOR = 20
ITEM_SENIOR_ADMINISTRATOR = 21
ITEM_DIRECTOR = 22
ITEM_MARKETER = 23

ITEMS: list[tuple[int, str, int]] = [
    *((s.item_id, s.item_name, s.profession_id) for s in SPECIALTIES),
    (ITEM_ADMINISTRATOR, "Администратор", PROFESSION_ADMINISTRATOR),
    (ITEM_SENIOR_ADMINISTRATOR, "Старший администратор", PROFESSION_ADMINISTRATOR),
    (ITEM_DIRECTOR, "Главный врач, директор", PROFESSION_DIRECTOR),
    (ITEM_MARKETER, "Маркетолог", PROFESSION_MARKETER),
]

CANCEL_REASONS: list[tuple[int, str]] = [
    (1, "Пациент заболел"),
    (2, "Не может прийти (работа, дела)"),
    (3, "Перенос по просьбе пациента"),
    (4, "Болезнь врача"),
    (5, "Отказ от лечения"),
    (6, "Не дозвонились для подтверждения"),
    (7, "Запись создана по ошибке"),
    (8, "Другое"),
]
CANCEL_REASON_WEIGHTS = [22, 25, 25, 4, 5, 9, 3, 7]
CANCEL_COMMENTS = [
    "Позвонила, просила перенести на следующую неделю",
    "Уехал в командировку",
    "Заболел ребёнок",
    "Перезвонить через месяц",
    "Врач на больничном, пациента предупредили",
    "Нашёл клинику ближе к дому",
    "Не берёт трубку",
]

SOURCE_PHONE = 1
SOURCE_DESK = 2
SOURCE_WEBSITE = 3
SOURCE_PRODOCTOROV = 4
SOURCE_TELEGRAM = 5

APPOINTMENT_SOURCES: list[tuple[int, str]] = [
    (SOURCE_PHONE, "Звонок в клинику"),
    (SOURCE_DESK, "Запись на ресепшене"),
    (SOURCE_WEBSITE, "Онлайн-запись на сайте"),
    (SOURCE_PRODOCTOROV, "ПроДокторов"),
    (SOURCE_TELEGRAM, "Telegram"),
]
SOURCE_WEIGHTS = [55, 25, 12, 6, 2]
# Online sources carry the booking's id in the external system.
EXTERNAL_SOURCES = frozenset({SOURCE_WEBSITE, SOURCE_PRODOCTOROV, SOURCE_TELEGRAM})

CASH_CASH = 1
CASH_CARD = 2
CASH_BONUS = 3
CASH_SBP = 4

CASH_DESCS: list[tuple[int, str, int]] = [
    (CASH_CASH, "Наличные", 0),
    (CASH_CARD, "Карта", 0),
    (CASH_BONUS, "Бонусы", 1),
    (CASH_SBP, "Перевод СБП", 0),
]
METHOD_TO_CASH_DESC: dict[str, int] = {
    "cash": CASH_CASH,
    "card": CASH_CARD,
    "bonus": CASH_BONUS,
    "sbp": CASH_SBP,
}

REFUND_COMMENTS = [
    "Возврат за неоказанную услугу",
    "Ошибка при оплате",
    "Возврат аванса",
    "Возврат по заявлению пациента",
]

PATIENT_COMMENTS = [
    "Аллергия на лидокаин",
    "Предпочитает вечернее время",
    "Звонить только после 18:00",
    "Боится стоматологов, нужна седация",
    "Постоянный пациент",
    "Пришёл по рекомендации",
    "Гипертония, контроль давления",
    "Беременность, 2 триместр",
]

MIN_PAYMENT = 1500
MAX_PAYMENT = 60000


def doctor_works(staff_id: int, day: date) -> bool:
    """Whether a doctor's rota has them at work on `day`.

    The clinic is open every day; each doctor has two days off a week, staggered by staff
    id so every day has someone on duty. Generator and simulator share this rule so new
    bookings land on days the doctor has history on.
    """
    weekday = day.weekday()
    return weekday not in ((staff_id * 2) % 7, (staff_id * 2 + 3) % 7)


# The rhythm of one visit, derived from the reception id so that the generator (which
# writes history) and the simulator (which lives it forward) agree on when a visit that
# straddles "now" ends, whichever of them finishes it.


def arrival_lead_seconds(reception_id: int) -> int:
    """How early the patient walks in: 0-15 minutes before PlanStart."""
    return (reception_id * 7919) % 901


def start_delay_seconds(reception_id: int) -> int:
    """How late the doctor starts: 0-10 minutes after PlanStart."""
    return (reception_id * 104729) % 601


def completion_delay_seconds(reception_id: int) -> int:
    """When the visit ends relative to PlanEnd: 5 minutes early to 15 minutes late."""
    return (reception_id * 2654435761) % 1201 - 300


def checkout_delay_seconds(reception_id: int) -> int:
    """From the end of treatment to the check at the desk: 1-5 minutes."""
    return 60 + (reception_id * 31337) % 241
