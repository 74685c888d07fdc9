"""«Семья» in a chat: the patients linked to it, whose visits and bonuses it shows, whose
notices it gets, and one-time invites a family member opens to join it.

An invite proves nothing by itself: whoever opens the link still shares their own contact
(the onboarding's rule, bot_handlers/onboarding.py), and is then shown in the inviting chat
only under the family rule — the MIS has both in one family (or the clinic's loyalty
family joins them) — or else the staff get a task to confirm, and the invite waits until
the family is joined in the MIS (looked at again whenever either chat opens «Семья»).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.loyalty.accounts import member
from core.loyalty.referrals import deep_link
from core.models import FamilyInvite, Patient, PatientLink, Subscriber
from core.patients.linking import linked_patients

INVITE_PREFIX = "fam-"  # the /start payload of an invite: fam-<token>
INVITE_DAYS = 7


@dataclass(frozen=True)
class Member:
    patient: Patient
    link: PatientLink


def members(session: Session, sub: Subscriber) -> list[Member]:
    """The chat's linked patients with their per-chat settings, oldest first."""
    rows = session.execute(
        select(Patient, PatientLink)
        .join(PatientLink, PatientLink.patient_mis_id == Patient.mis_id)
        .where(PatientLink.subscriber_id == sub.id)
        .order_by(Patient.birth_date.is_(None), Patient.birth_date, Patient.id)
    ).all()
    return [Member(patient, link) for patient, link in rows]


def shown_patients(session: Session, sub: Subscriber) -> list[Patient]:
    """Whose visits and bonuses the chat shows (everyone linked, less those hidden)."""
    return [m.patient for m in members(session, sub) if m.link.shown]


def set_member(session: Session, sub: Subscriber, patient_id: int, flag: str, value: bool) -> str:
    """Set `flag` ("shown" or "muted") of one of this chat's own members to `value`:
    "changed", "same" (so already: a stale press), "not_linked" (not this chat's member: a
    forged press), or "last_shown" (hiding would leave the chat showing nobody)."""
    chosen = [m for m in members(session, sub) if m.patient.id == patient_id]
    if not chosen or flag not in ("shown", "muted"):
        return "not_linked"
    link = chosen[0].link
    if getattr(link, flag) == value:
        return "same"
    if flag == "shown" and not value and len(shown_patients(session, sub)) == 1:
        return "last_shown"
    setattr(link, flag, value)
    return "changed"


def start_link(config: Config, channel: str, payload: str) -> str:
    """The link that opens the bot with `payload`, in the chat's own messenger."""
    if channel == "max" and config.max.bot_name:
        return f"https://max.ru/{config.max.bot_name}?start={payload}"
    return deep_link(config, payload)


def create_invite(session: Session, sub: Subscriber, now: datetime) -> FamilyInvite:
    """The chat's open invite, or a fresh one: pressing «Пригласить» again (or an old copy
    of the button) gives the same link rather than one more that could be opened."""
    open_one = session.scalar(
        select(FamilyInvite)
        .where(
            FamilyInvite.subscriber_id == sub.id,
            FamilyInvite.state == "open",
            FamilyInvite.expires_at > now,
        )
        .order_by(FamilyInvite.id.desc())
        .limit(1)
    )
    if open_one is not None:
        return open_one
    invite = FamilyInvite(
        token=secrets.token_urlsafe(12),
        subscriber_id=sub.id,
        created_at=now,
        expires_at=now + timedelta(days=INVITE_DAYS),
    )
    session.add(invite)
    session.flush()
    return invite


def claim(session: Session, token: str, sub: Subscriber, now: datetime) -> str:
    """The invite `token` opened by `sub`: "claimed", "own" (the inviting chat itself),
    or "gone" (unknown, used or expired)."""
    invite = session.scalar(select(FamilyInvite).where(FamilyInvite.token == token))
    if invite is None or invite.state != "open" or invite.expires_at <= now:
        if invite is not None and invite.claimed_by == sub.id:
            return "claimed"
        return "gone"
    if invite.subscriber_id == sub.id:
        return "own"
    invite.state, invite.claimed_by, invite.claimed_at = "claimed", sub.id, now
    return "claimed"


def one_family(session: Session, a: Patient, b: Patient) -> bool:
    """The family rule: one family in the MIS, or in the clinic's loyalty families."""
    if a.family_id and a.family_id == b.family_id:
        return True
    ma, mb = member(session, a.mis_id), member(session, b.mis_id)
    return bool(ma and mb and ma.family_id and ma.family_id == mb.family_id)


@dataclass(frozen=True)
class Joined:
    invite: FamilyInvite
    inviter: Subscriber
    joined: list[Patient]  # shown in the inviting chat now; empty: the staff must confirm


def apply_claims(session: Session, sub: Subscriber) -> list[Joined]:
    """Invites this chat opened (as the invited) or sent (as the inviting chat) that wait:
    each one whose two sides pass the family rule now joins. Only a chat linked by its own
    contact counts as the invited side."""
    pending = session.scalars(
        select(FamilyInvite).where(
            FamilyInvite.state.in_(("claimed", "staff")),
            (FamilyInvite.claimed_by == sub.id) | (FamilyInvite.subscriber_id == sub.id),
        )
    ).all()
    results: list[Joined] = []
    for invite in pending:
        invited = session.get(Subscriber, invite.claimed_by) if invite.claimed_by else None
        inviter = session.get(Subscriber, invite.subscriber_id)
        if invited is None or inviter is None:
            continue
        theirs = [p for p in linked_patients(session, invited) if p.status == "active"]
        if not theirs:
            continue  # not recognised yet: they share their contact first
        ours = linked_patients(session, inviter)
        have = {p.mis_id for p in ours}
        joining = [
            p
            for p in theirs
            if p.mis_id not in have and any(one_family(session, p, o) for o in ours)
        ]
        if joining:
            for patient in joining:
                session.add(
                    PatientLink(
                        subscriber_id=inviter.id,
                        patient_mis_id=patient.mis_id,
                        phone=invited.phone,
                    )
                )
            invite.state = "joined"
            session.flush()
            session.expire(inviter, ["links"])
            results.append(Joined(invite, inviter, joining))
        elif invite.state == "claimed":
            if all(p.mis_id in have for p in theirs):
                invite.state = "joined"  # already in this family screen: nothing to do
                continue
            invite.state = "staff"
            results.append(Joined(invite, inviter, []))
    return results
