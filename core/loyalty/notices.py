"""Balance notices to the patients an account belongs to, minus the members who muted them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.loyalty.accounts import account_patients
from core.models import LoyaltyAccount, LoyaltyMember, Patient
from core.outbox import PRIORITY_NOTICE, enqueue
from core.patients.linking import reachable_subscribers
from core.patients.notice_prefs import wants
from core.texts import _MONTHS_RU, render


def rub(amount: Decimal | float | int) -> str:
    """3450 -> '3 450', 99.5 -> '99.50' (non-breaking space between thousands)."""
    text = f"{Decimal(str(amount)):,.2f}".replace(",", "\u00a0")
    return text[:-3] if text.endswith(".00") else text


def day(d: date, lang: str) -> str:
    if lang == "en":
        return d.strftime("%d %B %Y").lstrip("0")
    return f"{d.day} {_MONTHS_RU[d.month - 1]} {d.year}"


def notify_account(
    session: Session,
    config: Config,
    account: LoyaltyAccount,
    key: str,
    template: str,
    *,
    about: str = "",
    family_template: str = "",
    dates: dict[str, datetime] | None = None,
    **fields: Any,
) -> int:
    """Queue `template` to every reachable chat of the account's patients, once per chat.

    `about` is the member the notice concerns (greeted first); a family account uses
    `family_template` when the chat belongs to another member. Dates are rendered in each
    chat's language, in the clinic's time zone. Returns how many messages were queued.
    """
    ids = account_patients(session, account)
    if not ids:
        return 0
    muted = set(
        session.scalars(
            select(LoyaltyMember.patient_mis_id).where(
                LoyaltyMember.patient_mis_id.in_(ids), LoyaltyMember.muted.is_(True)
            )
        )
    )
    patients = {
        p.mis_id: p
        for p in session.scalars(
            select(Patient).where(
                Patient.mis_id.in_(ids),
                Patient.messaging_allowed.is_(True),
                Patient.status != "deleted",
            )
        )
    }
    order = sorted(patients, key=lambda pid: (pid != about, ids.index(pid)))
    member_name = patients[about].address_name if about in patients else ""
    seen: set[int] = set()
    queued = 0
    for pid in order:
        if pid in muted:
            continue
        patient = patients[pid]
        for sub in reachable_subscribers(session, pid):
            # Bonus notices are optional in the chat's «Настройки» (core.patients.notice_prefs).
            if sub.id in seen or not wants(sub, "loyalty"):
                continue
            seen.add(sub.id)
            chosen = template
            if family_template and account.owner_kind == "family" and pid != about:
                chosen = family_template
            values: dict[str, Any] = {
                **fields,
                **{
                    name: day(value.astimezone(config.clinic.tz).date(), sub.language)
                    for name, value in (dates or {}).items()
                },
            }
            text = render(
                chosen,
                sub.language,
                name=patient.address_name,
                clinic=config.clinic.name,
                member=member_name,
                **values,
            )
            if enqueue(
                session,
                key=f"{key}:{sub.id}",
                chat_id=sub.chat_id,
                channel=sub.channel,
                text=text,
                kind="bonus",
                priority=PRIORITY_NOTICE,
            ):
                queued += 1
    return queued
