"""The «Основание» of a ledger entry and a referral's reason, in Russian, for the panel.

The ledger keeps its notes in English (core/loyalty/basis.py NOTES, made with `note()`);
each has its Russian here, under the same name, with numbers and money in Russian format.
A note a person typed (a manual grant's reason) is shown as typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from app.formatting import number, rub
from core.loyalty.basis import NOTES

# Bonus platforms (core.loyalty.operations.BONUS_PLATFORMS) as the panel names them.
PLATFORM_LABELS = {
    "yandex": "Яндекс",
    "2gis": "2ГИС",
    "prodoctorov": "ПроДокторов",
    "telegram": "Telegram",
    "vk": "ВКонтакте",
    "other": "другая площадка",
}
_BONUS_KINDS = {"review": "отзыв", "social": "публикация"}
_SIDES = {"referrer": "пригласивший", "referred": "приглашённый"}
_RULE_KINDS = {"service": "услуга", "doctor": "врач", "branch": "филиал"}

RUSSIAN: dict[str, str] = {
    "spend": "{value} из счёта {bill}",
    "screenshot": "{kind} ({platform}), одобрил(а) {user}",
    "cashback": "{why} от {amount}",
    "birthday": "бонус ко дню рождения",
    "welcome": "приветственный бонус",
    "family": "вступление в семью «{family}»",
    "staff_connect": "подключён пациент {patient}",
    "referral": "рекомендация № {referral} ({side})",
    "refunded": "оплата {payment} возвращена",
    "recovery": "{points} бонусов удержано в счёт прежних возвратов",
    "debt_moved": "долг {points} бонусов перенесён",
    "own_link": "своя собственная ссылка",
    "paying": "уже был пациентом клиники",
    "connected": "уже был подключён к боту",
}


def _money(text: str) -> str:
    try:
        return rub(Decimal(text.replace("\u00a0", "").replace(" ", "")))
    except InvalidOperation:
        return text


def _integer(text: str) -> str:
    return number(int(text)) if text.isascii() and text.lstrip("-").isdigit() else text


def _percent(match: re.Match[str]) -> str:
    return f"{number(Decimal(match.group(1)), len(match.group(2) or ''))}\u00a0%"


def _why(text: str) -> str:
    """'5% (service имплант) + 2.5% (gold)' -> '5 % (услуга имплант) + 2,5 % (gold)'."""
    text = re.sub(r"(\d+(?:\.(\d+))?)%", _percent, text)
    return re.sub(r"\((service|doctor|branch) ", lambda m: f"({_RULE_KINDS[m.group(1)]} ", text)


_FIELDS: dict[str, Callable[[str], str]] = {
    "value": _money,
    "bill": _money,
    "amount": _money,
    "points": _integer,
    "why": _why,
    "kind": lambda v: _BONUS_KINDS.get(v, v),
    "platform": lambda v: PLATFORM_LABELS.get(v, v),
    "side": lambda v: _SIDES.get(v, v),
}


def _pattern(english: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", english)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


_PATTERNS = [(_pattern(NOTES[name]), RUSSIAN[name]) for name in NOTES]


def in_russian(text: str) -> str:
    """A note or reason as the panel shows it: one of NOTES in Russian, else as written."""
    for pattern, russian in _PATTERNS:
        match = pattern.match(text)
        if match:
            values = {k: _FIELDS.get(k, str)(v) for k, v in match.groupdict().items()}
            return russian.format(**values)
    return text


_CAUSES = (
    (re.compile(r"^(?:redemption:)?payment:(.+)$"), "оплата {0} в МИС"),
    (re.compile(r"^birthday:[^:]+:(\d{4})$"), "день рождения, {0} год"),
)


def basis(note_text: str | None, cause: str) -> str:
    """The «Основание» column: the note in Russian, else what the cause says (a payment's
    number), else «—» (a technical key such as spend:<key> means nothing to a reader)."""
    if note_text:
        return in_russian(note_text)
    for pattern, russian in _CAUSES:
        match = pattern.match(cause or "")
        if match:
            return russian.format(*match.groups())
    return "—"
