"""What staff do with points in the panel: spend them on a bill, grant them by hand,
approve a review or social bonus.

Every form carries an idempotency key generated when the form was shown; it becomes the
entry's cause, so a double-submitted form, a reload or a retry posts once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ledger
from core.config import Config
from core.loyalty.accounts import account_of
from core.loyalty.basis import note as basis_note
from core.loyalty.crediting import earn
from core.loyalty.notices import notify_account, rub
from core.loyalty.settings import effective
from core.models import Patient

_KEY = re.compile(r"[0-9a-f]{32}")

# Where a review or a post may be rewarded. Google is absent on purpose: its policy forbids
# any reward for a review. The bonus is for the act, approved by staff, and never depends on
# what the review says (see docs: reviews, consent and peers).
BONUS_PLATFORMS: dict[str, tuple[str, ...]] = {
    "review": ("yandex", "2gis", "prodoctorov", "other"),
    "social": ("telegram", "vk", "other"),
}


MAX_BILL_RUB = Decimal(100_000_000)


class OperationError(ValueError):
    """A staff request that cannot be carried out; the message is for the person (Russian)."""


@dataclass(frozen=True)
class Outcome:
    posting: ledger.Posting
    repeated: bool  # the same form was already submitted; nothing new was posted


def _key(raw: str) -> str:
    key = (raw or "").strip().lower()
    if not _KEY.fullmatch(key):
        raise OperationError("Форма устарела: обновите страницу и повторите.")
    return key


def _points(raw: str | int, *, allow_negative: bool = False) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise OperationError("Количество бонусов — целое число.") from None
    if value == 0 or (value < 0 and not allow_negative):
        raise OperationError("Количество бонусов должно быть больше нуля.")
    return value


def _roubles(raw: str | Decimal) -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise OperationError("Сумма счёта — число в рублях.") from None
    if not value.is_finite() or value <= 0:
        raise OperationError("Сумма счёта должна быть больше нуля.")
    # A typo of many digits (or 1e400) is no bill: refused before quantize() overflows.
    if value > MAX_BILL_RUB:
        raise OperationError(f"Сумма счёта не больше {rub(MAX_BILL_RUB)} ₽.")
    return value.quantize(Decimal("0.01"))


def _patient(session: Session, patient_mis_id: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.mis_id == patient_mis_id))
    if patient is None:
        raise OperationError("Пациент не найден.")
    return patient


def spend_limit(config: Config, session: Session, bill: Decimal) -> int:
    """The most points a bill of `bill` roubles may take, by the share rule."""
    settings = effective(session, config)
    most_rub = bill * Decimal(str(settings.max_bill_share_percent)) / Decimal(100)
    return int(most_rub / Decimal(str(settings.point_value_rub)))


def spend(
    session: Session,
    config: Config,
    patient_mis_id: str,
    *,
    points: str | int,
    bill: str | Decimal,
    key: str,
    user: str,
    now: datetime,
) -> Outcome:
    """Pay part of a bill with points: at most the share of the bill the rules allow, and
    never more than the account holds."""
    key = _key(key)
    existing = ledger.find_entry(session, f"spend:{key}")
    if existing is not None:
        return Outcome(ledger.Posting(existing, created=False), repeated=True)
    settings = effective(session, config)
    if not settings.enabled:
        raise OperationError("Бонусная программа выключена.")
    _patient(session, patient_mis_id)
    wanted, amount = _points(points), _roubles(bill)
    limit = spend_limit(config, session, amount)
    if wanted > limit:
        raise OperationError(
            f"Бонусами можно оплатить не больше {settings.max_bill_share_percent:g} % счёта: "
            f"не больше {limit} бонусов для счёта {rub(amount)} ₽."
        )
    account = account_of(session, patient_mis_id, now)
    if wanted > account.balance:
        raise OperationError(f"На счёте только {account.balance} бонусов.")
    value = Decimal(wanted) * Decimal(str(settings.point_value_rub))
    posting = ledger.debit(
        session,
        account,
        wanted,
        kind="spend",
        cause=f"spend:{key}",
        now=now,
        note=basis_note("spend", value=rub(value), bill=rub(amount)),
        created_by=user,
        patient_mis_id=patient_mis_id,
    )
    assert posting is not None
    notify_account(
        session,
        config,
        account,
        f"bonus-spent:{key}",
        "bonus_spent",
        about=patient_mis_id,
        points=wanted,
        rub=rub(value),
        balance=account.balance,
    )
    return Outcome(posting, repeated=False)


def grant(
    session: Session,
    config: Config,
    patient_mis_id: str,
    *,
    points: str | int,
    reason: str,
    key: str,
    user: str,
    now: datetime,
) -> Outcome:
    """An owner's manual correction: positive adds a lot, negative takes points (never
    below zero). The reason and the user are kept on the entry."""
    key = _key(key)
    existing = ledger.find_entry(session, f"manual:{key}")
    if existing is not None:
        return Outcome(ledger.Posting(existing, created=False), repeated=True)
    reason = " ".join((reason or "").split())
    if len(reason) < 3:
        raise OperationError("Укажите причину начисления.")
    value = _points(points, allow_negative=True)
    _patient(session, patient_mis_id)
    settings = effective(session, config)
    account = account_of(session, patient_mis_id, now)
    if value > 0:
        posting = earn(
            session,
            config,
            settings,
            account,
            value,
            kind="manual",
            cause=f"manual:{key}",
            now=now,
            note=reason,
            created_by=user,
            patient_mis_id=patient_mis_id,
            capped=False,
        )
        assert posting is not None
        notify_account(
            session,
            config,
            account,
            f"bonus-granted:{key}",
            "bonus_granted",
            about=patient_mis_id,
            points=value,
            reason=reason,
            balance=account.balance,
        )
        return Outcome(posting, repeated=False)
    if -value > account.balance:
        raise OperationError(f"На счёте только {account.balance} бонусов.")
    taken = ledger.debit(
        session,
        account,
        -value,
        kind="manual",
        cause=f"manual:{key}",
        now=now,
        note=reason,
        created_by=user,
        patient_mis_id=patient_mis_id,
    )
    assert taken is not None
    return Outcome(taken, repeated=False)


def approve_bonus(
    session: Session,
    config: Config,
    patient_mis_id: str,
    *,
    kind: str,
    platform: str,
    user: str,
    now: datetime,
) -> Outcome:
    """A review or social bonus, once per patient and platform, for the act alone."""
    if kind not in BONUS_PLATFORMS or platform not in BONUS_PLATFORMS[kind]:
        raise OperationError("Неизвестная площадка.")
    settings = effective(session, config)
    points = settings.review_bonus if kind == "review" else settings.social_bonus
    if not settings.enabled or not points:
        raise OperationError("Этот бонус выключен в настройках программы.")
    _patient(session, patient_mis_id)
    cause = f"{kind}:{patient_mis_id}:{platform}"
    existing = ledger.find_entry(session, cause)
    if existing is not None:
        return Outcome(ledger.Posting(existing, created=False), repeated=True)
    account = account_of(session, patient_mis_id, now)
    posting = earn(
        session,
        config,
        settings,
        account,
        points,
        kind=kind,
        cause=cause,
        now=now,
        note=basis_note("screenshot", kind=kind, platform=platform, user=user),
        created_by=user,
        patient_mis_id=patient_mis_id,
    )
    if posting is None:
        raise OperationError("Лимит начислений за месяц исчерпан.")
    notify_account(
        session,
        config,
        account,
        f"bonus-{kind}:{patient_mis_id}:{platform}",
        f"bonus_{kind}",
        about=patient_mis_id,
        points=posting.entry.amount,
        balance=account.balance,
    )
    return Outcome(posting, repeated=False)
