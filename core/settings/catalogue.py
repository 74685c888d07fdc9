"""Which config keys the «Настройки» screen changes, in the screen's order, and how each
reads in Russian: its label, the kind of input, and what a valid value looks like (the
message a refused value gets; the config file's own checks decide what is valid)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    key: str  # "section.name" in the config file
    group: str
    label: str
    # bool (checkbox), choice (a list), list (comma-separated), int, text, links (rows of
    # platform + name + address: messaging.review_links)
    kind: str
    hint: str  # what is allowed, in the message of a refused value
    choices: tuple[tuple[str, str], ...] = ()  # (value, Russian label) for kind "choice"

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


_CLOCK = "время в виде ЧЧ:ММ, например 21:00"

# The review platforms (core.config.REVIEW_PLATFORMS) and policies, as the panel names them.
REVIEW_PLATFORM_LABELS: dict[str, str] = {
    "yandex": "Яндекс Карты",
    "2gis": "2ГИС",
    "prodoctorov": "ПроДокторов",
    "google": "Google",
    "other": "другая",
}
REVIEW_POLICY_CHOICES: tuple[tuple[str, str], ...] = (
    ("all", "все площадки — по кнопке на каждую"),
    ("rotate", "по очереди — одну, которую предлагали реже других"),
    ("first", "только первую в списке"),
)


def review_platform_label(platform: str, name: str = "") -> str:
    """«Яндекс Карты»; «другая» by the clinic's own name for it when it has one."""
    if platform == "other" and name:
        return name
    return REVIEW_PLATFORM_LABELS.get(platform, platform)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "messaging.rating_scale",
        "Оценка визита",
        "Шкала оценки",
        "choice",
        "одна из шкал списка",
        (("1-5", "от 1 до 5"), ("1-10", "от 1 до 10"), ("smileys", "смайлики 😞 … 😄")),
    ),
    Setting(
        "messaging.rating_low_score",
        "Оценка визита",
        "Низкая оценка (шкала 1–5 и смайлики): не выше",
        "int",
        "целое число от 1 до 4; такая оценка открывает задачу администратору",
    ),
    Setting(
        "messaging.rating_low_score_10",
        "Оценка визита",
        "Низкая оценка (шкала 1–10): не выше",
        "int",
        "целое число от 1 до 9; такая оценка открывает задачу администратору",
    ),
    Setting(
        "messaging.reminder_sequence",
        "Напоминания о визите",
        "Последовательность напоминаний",
        "list",
        "шаги через запятую, например «3d, 1d, 2h»: дни (1–14, в час отправки) или часы "
        "(1–72) до визита, каждый шаг один раз; пусто — одно напоминание за N дней",
    ),
    Setting(
        "messaging.reminder_days_before",
        "Напоминания о визите",
        "Одно напоминание: за сколько дней",
        "int",
        "целое число от 1 до 14",
    ),
    Setting(
        "messaging.reminder_send_at",
        "Напоминания о визите",
        "Час отправки напоминаний «за N дней»",
        "text",
        _CLOCK,
    ),
    Setting(
        "messaging.quiet_hours_start",
        "Тихие часы",
        "Начало тихих часов",
        "text",
        _CLOCK,
    ),
    Setting(
        "messaging.quiet_hours_end",
        "Тихие часы",
        "Конец тихих часов",
        "text",
        _CLOCK,
    ),
    Setting(
        "conversations.working_hours_start",
        "Часы работы (чат с клиникой)",
        "Начало рабочего дня",
        "text",
        _CLOCK,
    ),
    Setting(
        "conversations.working_hours_end",
        "Часы работы (чат с клиникой)",
        "Конец рабочего дня",
        "text",
        _CLOCK + " (равное началу — круглосуточно)",
    ),
    Setting(
        "conversations.working_days",
        "Часы работы (чат с клиникой)",
        "Рабочие дни",
        "text",
        "номера дней недели через запятую, 1 — понедельник … 7 — воскресенье, например «1,2,3,4,5»",
    ),
    Setting(
        "messaging.arrival_welcome_enabled",
        "Приход в клинику",
        "Приветствие, когда пациент пришёл",
        "bool",
        "включено или выключено",
    ),
    Setting(
        "messaging.arrival_offer",
        "Приход в клинику",
        "Что предложить (через запятую)",
        "list",
        "до 8 коротких (до 30 знаков) вариантов через запятую, например «Чай, Кофе, Вода», "
        "или пусто",
    ),
    Setting(
        "messaging.review_links",
        "Отзывы",
        "Площадки для отзывов",
        "links",
        "адрес страницы отзывов, начинающийся с https://; у «другой» площадки можно указать "
        "своё название (до 40 знаков); каждая площадка один раз, не больше 8",
    ),
    Setting(
        "messaging.review_policy",
        "Отзывы",
        "Какие площадки предлагать",
        "choice",
        "один из вариантов списка",
        REVIEW_POLICY_CHOICES,
    ),
    Setting(
        "messaging.review_url",
        "Отзывы",
        "Одна ссылка на отзывы (если площадки не указаны)",
        "text",
        "адрес, начинающийся с https:// или http://, или пусто",
    ),
    Setting(
        "messaging.review_every_days",
        "Отзывы",
        "Предлагать ссылку не чаще, чем раз в (дней)",
        "int",
        "целое число от 0 до 3650 (0 — при каждой оценке)",
    ),
)

# The MIS connection: kept only after «Проверить» passed on «Подключение к МИС» (the
# check of `kabinet mis check`), so it is not on the main form; the runner follows it from
# its next MIS poll (jobs/runner.py _follow_mis_setting). The password stays in the file.
MIS_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mis.profile",
        "Подключение к МИС",
        "МИС (профиль запросов)",
        "choice",
        "один из профилей списка",
        (
            ("ident", "IDENT"),
            ("infodent", "Инфодент"),
            ("opendental", "Open Dental"),
            ("demo", "демо-клиника"),
        ),
    ),
    Setting(
        "mis.dsn",
        "Подключение к МИС",
        "Строка подключения (DSN)",
        "text",
        "строка подключения к базе МИС, как в mis.dsn файла конфигурации",
    ),
)

BY_KEY = {s.key: s for s in SETTINGS + MIS_SETTINGS}
