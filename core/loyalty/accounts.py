"""Whose account a patient's points go to: their own, or their family's shared one.

A family comes from the MIS (Patient.family_id, key "mis:<id>") or is formed by staff in
the panel (key "panel:<uuid>"). A staff decision wins: the MIS's family of a patient placed
or removed in the panel is not applied again. Joining a family moves the patient's own
points into the shared account, each lot keeping its age and expiry (and any debt moves
with them); leaving one leaves the shared points with the family.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ledger
from core.loyalty.basis import note as basis_note
from core.models import LoyaltyAccount, LoyaltyFamily, LoyaltyMember, Patient


def member(session: Session, patient_mis_id: str) -> LoyaltyMember | None:
    return session.scalar(
        select(LoyaltyMember).where(LoyaltyMember.patient_mis_id == patient_mis_id)
    )


def member_row(session: Session, patient_mis_id: str, now: datetime) -> LoyaltyMember:
    row = member(session, patient_mis_id)
    if row is None:
        row = LoyaltyMember(
            patient_mis_id=patient_mis_id, family_source="", muted=False, updated_at=now
        )
        session.add(row)
        session.flush()
    return row


def owner_of(session: Session, patient_mis_id: str) -> tuple[str, str]:
    """(owner_kind, owner_id) of the account the patient's points live in now."""
    row = member(session, patient_mis_id)
    if row is not None and row.family_id is not None:
        return "family", str(row.family_id)
    return "patient", patient_mis_id


def read_account(session: Session, patient_mis_id: str) -> LoyaltyAccount | None:
    """The patient's account without creating or reconciling anything (for screens)."""
    return ledger.find_account(session, *owner_of(session, patient_mis_id))


def account_of(session: Session, patient_mis_id: str, now: datetime) -> LoyaltyAccount:
    """The account to post to, after applying the MIS's family membership if it changed."""
    reconcile(session, patient_mis_id, now)
    return ledger.account_for(session, *owner_of(session, patient_mis_id))


def family_members(session: Session, family_id: int) -> list[str]:
    return list(
        session.scalars(
            select(LoyaltyMember.patient_mis_id)
            .where(LoyaltyMember.family_id == family_id)
            .order_by(LoyaltyMember.id)
        )
    )


def account_patients(session: Session, account: LoyaltyAccount) -> list[str]:
    """The patients an account belongs to: whose notices it sends, who may spend from it."""
    if account.owner_kind == "patient":
        return [account.owner_id]
    if account.owner_kind == "family":
        return family_members(session, int(account.owner_id))
    return []


def family_by_key(session: Session, key: str) -> LoyaltyFamily | None:
    return session.scalar(select(LoyaltyFamily).where(LoyaltyFamily.key == key))


def _mis_family(session: Session, mis_family_id: str, surname: str, now: datetime) -> LoyaltyFamily:
    key = f"mis:{mis_family_id}"
    family = family_by_key(session, key)
    if family is None:
        family = LoyaltyFamily(
            key=key, name=f"Семья {surname}".strip(), created_by="mis", created_at=now
        )
        session.add(family)
        session.flush()
    return family


def create_family(session: Session, name: str, created_by: str, now: datetime) -> LoyaltyFamily:
    family = LoyaltyFamily(
        key=f"panel:{uuid.uuid4().hex}", name=name.strip(), created_by=created_by, created_at=now
    )
    session.add(family)
    session.flush()
    return family


def join(
    session: Session,
    patient_mis_id: str,
    family: LoyaltyFamily,
    *,
    source: str,
    now: datetime,
    created_by: str = "system",
) -> int:
    """Put the patient in the family; returns the points moved from their own account."""
    row = member_row(session, patient_mis_id, now)
    was_own = row.family_id is None
    row.family_id, row.family_source, row.updated_at = family.id, source, now
    session.flush()
    if not was_own:
        return 0  # from one family to another: the old family's points stay with it
    own = ledger.find_account(session, "patient", patient_mis_id)
    if own is None:
        return 0
    shared = ledger.account_for(session, "family", str(family.id))
    return ledger.transfer_all(
        session,
        own,
        shared,
        now=now,
        note=basis_note("family", family=family.name or family.id),
        created_by=created_by,
        patient_mis_id=patient_mis_id,
    )


def leave(session: Session, patient_mis_id: str, *, source: str, now: datetime) -> None:
    row = member_row(session, patient_mis_id, now)
    row.family_id, row.family_source, row.updated_at = None, source, now
    session.flush()


def reconcile(session: Session, patient_mis_id: str, now: datetime) -> None:
    """Follow the MIS's family of the patient, unless staff decided it in the panel."""
    row = member(session, patient_mis_id)
    if row is not None and row.family_source == "panel":
        return
    patient = session.scalar(select(Patient).where(Patient.mis_id == patient_mis_id))
    wanted = patient.family_id if patient is not None and patient.status != "deleted" else None
    current = session.get(LoyaltyFamily, row.family_id) if row and row.family_id else None
    if (current.key if current else None) == (f"mis:{wanted}" if wanted else None):
        return
    if wanted:
        assert patient is not None
        join(
            session,
            patient_mis_id,
            _mis_family(session, wanted, patient.last_name, now),
            source="mis",
            now=now,
        )
    elif row is not None and row.family_id is not None:
        leave(session, patient_mis_id, source="mis", now=now)


def reconcile_all(session: Session, now: datetime) -> int:
    """Apply every MIS family change not applied yet; returns how many patients moved."""
    keys = dict(session.execute(select(LoyaltyFamily.id, LoyaltyFamily.key)).all())
    rows = {
        m.patient_mis_id: m
        for m in session.scalars(select(LoyaltyMember).where(LoyaltyMember.family_source != ""))
    }
    wanted = dict(
        session.execute(
            select(Patient.mis_id, Patient.family_id).where(
                Patient.family_id.is_not(None), Patient.status != "deleted"
            )
        ).all()
    )
    candidates = set(wanted) | {pid for pid, m in rows.items() if m.family_source == "mis"}
    moved = 0
    for pid in sorted(candidates):
        m = rows.get(pid)
        if m is not None and m.family_source == "panel":
            continue
        have = keys.get(m.family_id) if m is not None and m.family_id is not None else None
        want = f"mis:{wanted[pid]}" if pid in wanted else None
        if have != want:
            reconcile(session, pid, now)
            moved += 1
    return moved
