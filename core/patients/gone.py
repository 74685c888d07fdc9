"""A patient archived or deleted in the MIS: their chats are unlinked, politely, once.

After this nothing more is sent about the patient: the links that every notice, reminder,
rating and campaign goes through are gone, and what was already queued about them is
cancelled. An *archived* patient's chat, left with no patient, gets one short goodbye
saying how to reach the clinic. A *deleted* record gets nothing at all: profiles map a
deceased patient to deleted (Open Dental), and a duplicate merged away is deleted too, so
a goodbye could only hurt or confuse. A chat still linked to others (a parent whose
child's record was closed) is told nothing either, since its own messages go on.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.config import Config
from core.models import OutboxMessage, PatientLink, Subscriber
from core.outbox import PRIORITY_NOTICE, enqueue
from core.texts import render

GONE = ("archived", "deleted")


def reach(config: Config, lang: str) -> str:
    """How else to reach the clinic: its phone from the config, or the clinic itself."""
    phone = config.clinic.phone.strip()
    if phone:
        return render("consent_reach_phone", lang, phone=phone)
    return render("consent_reach_visit", lang)


def unlink(session: Session, config: Config, patient_mis_id: str, *, goodbye: bool) -> int:
    """Unlink every chat from the patient (`goodbye`: tell a chat left with nobody);
    returns how many chats were linked."""
    subs = list(
        session.scalars(
            select(Subscriber)
            .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
            .where(PatientLink.patient_mis_id == patient_mis_id)
        )
    )
    if not subs:
        return 0
    session.execute(delete(PatientLink).where(PatientLink.patient_mis_id == patient_mis_id))
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.patient_mis_id == patient_mis_id,
            OutboxMessage.state.in_(("pending", "claimed")),
        )
        .values(state="cancelled", last_error="patient archived or deleted in the MIS")
    )
    for sub in subs:
        session.expire(sub, ["links"])
        left = session.scalar(select(PatientLink.id).where(PatientLink.subscriber_id == sub.id))
        if not goodbye or left is not None or sub.unreachable_at is not None:
            continue
        enqueue(
            session,
            key=f"unlinked:{sub.id}:{patient_mis_id}",
            chat_id=sub.chat_id,
            channel=sub.channel,
            text=render(
                "unlinked_gone",
                sub.language,
                clinic=config.clinic.name,
                reach=reach(config, sub.language),
            ),
            kind="linked",
            priority=PRIORITY_NOTICE,
            reply_markup={"remove_keyboard": True},
        )
    return len(subs)
