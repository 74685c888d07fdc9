"""Deep links that bring patients in: a patient's referral link, a staff member's link.

The /start payload grammar (Telegram allows 1-64 characters of A-Z a-z 0-9 _ -):

    payload  = staff | referral | tag
    staff    = "s" code        a staff member's link: they earn points for the connection
    referral = "r" code        a patient's link: both earn after the first paid visit
    code     = 8 of "abcdefghijkmnpqrstuvwxyz23456789"   (random, so it cannot be guessed)
    tag      = anything else allowed, e.g. "clinic_qr": where the link was found, no reward

A code is looked up in loyalty_referral_codes and must belong to the kind its letter says;
an unknown code or a mismatch rewards nobody.

Rules: a patient is referred or connected once (the first link wins). A referral counts only
for a new patient: one with no paid visit before the link, and not the referrer or a member
of the referrer's family. The staff reward is paid when the patient is connected, unless
the patient was connected to the bot before. Referral rewards are paid when the referred
patient's first paid visit completes, and are taken back if that payment is refunded.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ledger
from core.config import Config
from core.loyalty.accounts import account_of, member, reconcile
from core.loyalty.basis import note as basis_note
from core.loyalty.crediting import earn
from core.loyalty.notices import notify_account
from core.loyalty.settings import effective
from core.models import (
    Appointment,
    Patient,
    PatientLink,
    Payment,
    Referral,
    ReferralCode,
    Subscriber,
)

log = logging.getLogger(__name__)

CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8
_ALLOWED = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CODED = re.compile(rf"([sr])([{CODE_ALPHABET}]{{{CODE_LENGTH}}})")
_KIND_OF_LETTER = {"s": "staff", "r": "patient"}
_LETTER_OF_KIND = {"staff": "s", "patient": "r"}


@dataclass(frozen=True)
class StartPayload:
    kind: Literal["staff", "referral", "tag", "invalid", "none"]
    value: str

    @property
    def owner_kind(self) -> str:
        return "staff" if self.kind == "staff" else "patient"


def parse_payload(text: str | None) -> StartPayload:
    text = (text or "").strip()
    if not text:
        return StartPayload("none", "")
    if not _ALLOWED.fullmatch(text):
        return StartPayload("invalid", "")
    coded = _CODED.fullmatch(text)
    if coded:
        letter, code = coded.groups()
        return StartPayload("staff" if letter == "s" else "referral", code)
    return StartPayload("tag", text)


def ensure_code(session: Session, owner_kind: str, owner_id: str) -> str:
    row = session.scalar(
        select(ReferralCode).where(
            ReferralCode.owner_kind == owner_kind, ReferralCode.owner_id == owner_id
        )
    )
    if row is not None:
        return row.code
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.get(ReferralCode, code) is None:
            break
    session.add(ReferralCode(code=code, owner_kind=owner_kind, owner_id=owner_id))
    session.flush()
    return code


def payload_for(session: Session, owner_kind: str, owner_id: str) -> str:
    return _LETTER_OF_KIND[owner_kind] + ensure_code(session, owner_kind, owner_id)


def deep_link(config: Config, payload: str) -> str:
    """The t.me link, or the bare /start command when the bot's username is not set."""
    if config.telegram.bot_username:
        return f"https://t.me/{config.telegram.bot_username}?start={payload}"
    return f"/start {payload}"


def _has_paid(session: Session, patient_mis_id: str) -> bool:
    return (
        session.scalar(
            select(Payment.id)
            .where(
                Payment.patient_mis_id == patient_mis_id,
                Payment.method == "money",
                Payment.amount > 0,
            )
            .limit(1)
        )
        is not None
    )


def _same_family(session: Session, a: str, b: str) -> bool:
    ma, mb = member(session, a), member(session, b)
    if ma is not None and mb is not None and ma.family_id and ma.family_id == mb.family_id:
        return True
    pa = session.scalar(select(Patient.family_id).where(Patient.mis_id == a))
    pb = session.scalar(select(Patient.family_id).where(Patient.mis_id == b))
    return bool(pa) and pa == pb


def on_linked(
    session: Session,
    config: Config,
    sub: Subscriber,
    patients: list[Patient],
    now: datetime,
) -> Referral | None:
    """A subscriber was just recognised as `patients` (the phone's owner first): the
    welcome bonus, and the referral or staff connection their /start link carried."""
    settings = effective(session, config)
    if not settings.enabled or not patients:
        return None
    main = patients[0]
    for patient in patients:
        # Families the MIS already knows show on the bonuses screen from the first look.
        reconcile(session, patient.mis_id, now)
    if settings.welcome_bonus:
        account = account_of(session, main.mis_id, now)
        posting = earn(
            session,
            config,
            settings,
            account,
            settings.welcome_bonus,
            kind="welcome",
            cause=f"welcome:{main.mis_id}",
            now=now,
            note=basis_note("welcome"),
            patient_mis_id=main.mis_id,
        )
        if posting is not None and posting.created:
            notify_account(
                session,
                config,
                account,
                f"welcome-bonus:{main.mis_id}",
                "welcome_bonus",
                about=main.mis_id,
                points=posting.entry.amount,
                balance=account.balance,
            )
    payload = parse_payload(sub.start_payload)
    if payload.kind not in ("staff", "referral"):
        return None
    code = session.get(ReferralCode, payload.value)
    if code is None or code.owner_kind != payload.owner_kind:
        log.info("start payload %r names no %s code", sub.start_payload, payload.owner_kind)
        return None
    if session.scalar(select(Referral).where(Referral.referred_patient_mis_id == main.mis_id)):
        return None  # the first link that connected the patient is the one that counts
    referral = Referral(
        referred_patient_mis_id=main.mis_id,
        referrer_kind=code.owner_kind,
        referrer_id=code.owner_id,
        code=code.code,
        state="pending",
        reason="",
        payment_mis_id="",
        created_at=now,
    )
    session.add(referral)
    session.flush()
    if code.owner_kind == "staff":
        _reward_staff(session, config, referral, sub, now)
    elif code.owner_id in {p.mis_id for p in patients} or _same_family(
        session, code.owner_id, main.mis_id
    ):
        referral.state, referral.reason = "ineligible", basis_note("own_link")
    elif _has_paid(session, main.mis_id):
        referral.state, referral.reason = "ineligible", basis_note("paying")
    return referral


def _reward_staff(
    session: Session, config: Config, referral: Referral, sub: Subscriber, now: datetime
) -> None:
    connected_before = session.scalar(
        select(PatientLink.id).where(
            PatientLink.patient_mis_id == referral.referred_patient_mis_id,
            PatientLink.subscriber_id != sub.id,
        )
    )
    if connected_before is not None:
        referral.state, referral.reason = "ineligible", basis_note("connected")
        return
    settings = effective(session, config)
    referral.state, referral.rewarded_at = "rewarded", now
    if settings.staff_connect_points:
        earn(
            session,
            config,
            settings,
            ledger.account_for(session, "staff", referral.referrer_id),
            settings.staff_connect_points,
            kind="staff",
            cause=f"staff-connect:{referral.referred_patient_mis_id}",
            now=now,
            note=basis_note("staff_connect", patient=referral.referred_patient_mis_id),
        )


def check_first_paid_visit(
    session: Session, config: Config, patient_mis_id: str, now: datetime
) -> Referral | None:
    """Reward a pending referral once its patient has paid for a completed visit."""
    referral = session.scalar(
        select(Referral).where(
            Referral.referred_patient_mis_id == patient_mis_id,
            Referral.referrer_kind == "patient",
            Referral.state == "pending",
        )
    )
    if referral is None:
        return None
    payment = session.scalar(
        select(Payment)
        .where(
            Payment.patient_mis_id == patient_mis_id,
            Payment.method == "money",
            Payment.reversed.is_(False),
            Payment.amount > 0,
        )
        .order_by(Payment.paid_at, Payment.id)
        .limit(1)
    )
    completed = session.scalar(
        select(Appointment.id)
        .where(
            Appointment.patient_mis_id == patient_mis_id,
            Appointment.status == "completed",
            Appointment.deleted.is_(False),
        )
        .limit(1)
    )
    if payment is None or completed is None:
        return None
    settings = effective(session, config)
    referral.state, referral.payment_mis_id, referral.rewarded_at = "rewarded", payment.mis_id, now
    for side, who, points, template in (
        ("referrer", referral.referrer_id, settings.referrer_points, "referral_rewarded"),
        ("referred", patient_mis_id, settings.referred_points, "referred_rewarded"),
    ):
        if not points:
            continue
        account = account_of(session, who, now)
        posting = earn(
            session,
            config,
            settings,
            account,
            points,
            kind="referral",
            cause=f"referral:{referral.id}:{side}",
            now=now,
            note=basis_note("referral", referral=referral.id, side=side),
            patient_mis_id=who,
        )
        if posting is not None and posting.created:
            notify_account(
                session,
                config,
                account,
                f"referral:{referral.id}:{side}",
                template,
                about=who,
                points=posting.entry.amount,
                balance=account.balance,
            )
    return referral


def on_payment_reversed(
    session: Session, config: Config, payment_mis_id: str, now: datetime
) -> None:
    """The payment that qualified a referral was refunded: both rewards are taken back."""
    for referral in session.scalars(
        select(Referral).where(
            Referral.payment_mis_id == payment_mis_id, Referral.state == "rewarded"
        )
    ):
        for side in ("referrer", "referred"):
            ledger.reverse(
                session,
                f"referral:{referral.id}:{side}",
                now=now,
                note=basis_note("refunded", payment=payment_mis_id),
            )
        referral.state, referral.reason = "reversed", basis_note("refunded", payment=payment_mis_id)
