"""Tables of the local store.

Mirror tables (patients, doctors, appointments, payments) hold what the sync last read
from the MIS, keyed by the MIS's own id. Everything else is Kabinet's own state. Changes
to this file need an Alembic migration under migrations/versions.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, UTCDateTime

# --- mirror of the MIS ---------------------------------------------------------------------


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    last_name: Mapped[str] = mapped_column(String(100), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    family_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    messaging_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    @property
    def address_name(self) -> str:
        """How a Russian clinic addresses a patient: first name and patronymic."""
        return " ".join(p for p in (self.first_name, self.middle_name) if p) or self.last_name


class PatientPhone(Base):
    """One row per (normalised phone, patient): the index the bot looks a contact up in."""

    __tablename__ = "patient_phones"
    __table_args__ = (UniqueConstraint("phone", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))


class Doctor(Base):
    __tablename__ = "doctors"

    id: Mapped[int] = mapped_column(primary_key=True)
    mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    specialty: Mapped[str] = mapped_column(String(100), default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_patient_starts", "patient_mis_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_mis_id: Mapped[str] = mapped_column(String(64))
    doctor_mis_id: Mapped[str] = mapped_column(String(64), default="")
    branch_id: Mapped[str] = mapped_column(String(64), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kabinet's own state about the visit: the patient's answer to the reminder.
    confirmation: Mapped[str] = mapped_column(String(16), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    method: Mapped[str] = mapped_column(String(16), default="money")
    reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64), default="")


class SyncCursor(Base):
    __tablename__ = "sync_cursors"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), default="")
    # False until the initial import of this entity has read everything: rows read before
    # that are history, not news, and produce no events.
    baseline_done: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DomainEvent(Base):
    """What the sync noticed, recorded in the same transaction as the mirror change.

    The rules consume these afterwards; `key` makes producing one twice impossible.
    """

    __tablename__ = "domain_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str] = mapped_column(Text, default="")


# --- patients in Telegram ------------------------------------------------------------------


class Subscriber(Base):
    """A Telegram user who pressed Start. Not yet a patient until their contact matches."""

    __tablename__ = "subscribers"

    __table_args__ = (UniqueConstraint("channel", "telegram_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The messenger ("telegram", "max"); the user id is that messenger's own (the column
    # keeps its first name: Telegram was the only one when it was made).
    channel: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    username: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[str] = mapped_column(String(8), default="ru")
    start_payload: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_version: Mapped[str] = mapped_column(String(20), default="")
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unreachable_reason: Mapped[str] = mapped_column(String(200), default="")
    # Set by the patient's own "unsubscribe" (button or /stop): no campaigns, holidays or
    # birthday greetings from then on; visit notices and reminders still go out.
    marketing_opt_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the person last wrote or pressed here: a patient in two messengers gets each
    # message by the one used last (core.patients.linking.one_chat_per_person).
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the person chose this chat's messenger in the bot's settings (bot_handlers/
    # messengers.py); the newest choice among a person's chats wins over the one used last.
    preferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Notice kinds this chat turned off in «Настройки», comma-separated (core.patients.notice_prefs).
    notices_off: Mapped[str] = mapped_column(String(100), default="", server_default="")

    links: Mapped[list[PatientLink]] = relationship(back_populates="subscriber")


class PatientLink(Base):
    """A subscriber acts for a patient: themselves, or a child sharing the phone."""

    __tablename__ = "patient_links"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "patient_mis_id"),
        # «Подключение пациентов»: the links made in a period (a range read), each checked
        # against an earlier link of the same patient (one probe) — migration 0017.
        Index("ix_patient_links_linked_at", "linked_at"),
        Index("ix_patient_links_patient_linked", "patient_mis_id", "linked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # «Семья» in this chat: a muted member's notices do not come here; a member not shown
    # is left out of «Мои визиты» and «Мои бонусы» (core.patients.family).
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    shown: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    subscriber: Mapped[Subscriber] = relationship(back_populates="links")


class FamilyInvite(Base):
    """A one-time link a linked chat sends to a family member: opened, and the member's own
    contact shared, the member's patient is shown in the inviting chat too (core.patients.family)."""

    __tablename__ = "family_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # open -> claimed (opened by someone) -> joined | staff (the family rule needs the staff)
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")


# --- loyalty ledger ------------------------------------------------------------------------


class LoyaltyAccount(Base):
    __tablename__ = "loyalty_accounts"
    __table_args__ = (UniqueConstraint("owner_kind", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # patient | family | staff
    owner_id: Mapped[str] = mapped_column(String(64))
    # A cache of sum(entries.amount), kept in the same transaction as each entry;
    # `kabinet ledger verify` recomputes it.
    balance: Mapped[int] = mapped_column(Integer, default=0)
    # A cache of sum(entries.shortfall): points a reversal could not take back because
    # they were already spent, withheld from later accruals.
    debt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tier: Mapped[str] = mapped_column(String(40), default="", server_default="")
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """Append-only. `cause` is unique, so the same payment can never accrue twice."""

    __tablename__ = "ledger_entries"
    # A month's sums in Экономика read only this index (amount and account_id in it: no
    # fetch of the ~40,000 rows a busy month has) — migration 0017.
    __table_args__ = (
        Index(
            "ix_ledger_entries_created_kind_amount", "created_at", "kind", "amount", "account_id"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(120), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Points this entry should have taken but could not (positive), or debt it settled or
    # moved away (negative).
    shortfall: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The member who earned or spent, when the account is a family's.
    patient_mis_id: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LoyaltyLot(Base):
    """Points earned by one credit entry, with their own expiry; spent oldest first.

    `remaining` and `is_open` are caches of amount - sum(allocations); verify checks them.
    """

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        Index("ix_loyalty_lots_fifo", "account_id", "is_open", "earned_at"),
        Index("ix_loyalty_lots_expiry", "is_open", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the points were first earned: a lot moved into a family account keeps its age.
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LedgerAllocation(Base):
    """Which lots a debit entry (spend, expiry, reversal, transfer) consumed, and how much."""

    __tablename__ = "ledger_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("loyalty_lots.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)


class LoyaltyFamily(Base):
    """A shared account's household: from the MIS (key "mis:<id>") or formed in the panel."""

    __tablename__ = "loyalty_families"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyMember(Base):
    """A patient's place in the programme: family, notice mute."""

    __tablename__ = "loyalty_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_families.id"), index=True)
    # "mis" follows Patient.family_id; "panel" is a staff decision the MIS does not undo.
    family_source: Mapped[str] = mapped_column(String(16), default="")
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralCode(Base):
    """The code in a patient's (r<code>) or a staff member's (s<code>) deep link."""

    __tablename__ = "loyalty_referral_codes"
    __table_args__ = (UniqueConstraint("owner_kind", "owner_id"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # patient | staff
    owner_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Referral(Base):
    """Who brought a patient: another patient's link or a staff member's. One per patient."""

    __tablename__ = "loyalty_referrals"
    __table_args__ = (Index("ix_loyalty_referrals_referrer", "referrer_kind", "referrer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referred_patient_mis_id: Mapped[str] = mapped_column(String(64), unique=True)
    referrer_kind: Mapped[str] = mapped_column(String(16))  # patient | staff
    referrer_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(16))
    # pending | rewarded | ineligible | reversed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(200), default="")
    payment_mis_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoyaltySetting(Base):
    """An owner's change to a [loyalty] key made in the panel; the config gives defaults."""

    __tablename__ = "loyalty_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- messaging and tasks -------------------------------------------------------------------


class Campaign(Base):
    """A broadcast to a segment of connected patients: created in the panel (owner only) or
    by the holidays job. The campaigns job expands it into outbox rows in resumable chunks
    (`cursor` is the last subscriber id expanded), so a restart mid-expansion neither
    skips nor doubles anyone."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "campaign:<uuid>" from the panel, "holiday:<date>" from the holidays job.
    key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign | holiday
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    segment: Mapped[str] = mapped_column(String(32), default="all")
    # scheduled -> expanding -> sending -> done; or cancelled.
    state: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_ready", "state", "priority", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # "telegram" (chat_id) or "sms" (phone; chat_id 0).
    channel: Mapped[str] = mapped_column(String(16), default="telegram")
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    # Who it is about, for the delivery screen; empty for staff messages.
    patient_mis_id: Mapped[str] = mapped_column(String(64), default="")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Lower goes first: 0 replies to a patient, 5 staff, 10 notices, 20 reminders,
    # 30 greetings, 50 campaigns (core.outbox.PRIORITY_*).
    priority: Mapped[int] = mapped_column(Integer, default=10)
    text: Mapped[str] = mapped_column(Text)
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parse_mode: Mapped[str] = mapped_column(String(16), default="")
    # Set for an edit of a message already sent (e.g. removing a reminder's buttons).
    edit_message_id: Mapped[int | None] = mapped_column(BigInteger)
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending -> claimed (in a dispatcher's hands) -> sending (request on the wire) -> sent;
    # or unreachable (403), failed (gave up), cancelled, unknown (the process died while
    # the request was on the wire: never resent by itself, see README "Delivery").
    state: Mapped[str] = mapped_column(String(16), default="pending")
    claim_token: Mapped[str] = mapped_column(String(32), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TelegramUpdate(Base):
    """Updates as received (long polling or webhook), handled in update_id order by the
    runner alone. The primary key drops a redelivered update; `processed_at` is set in
    the same transaction as the handler's own writes, so none is handled twice."""

    __tablename__ = "telegram_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="polling")  # polling | webhook
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str] = mapped_column(Text, default="")


class MaxUpdate(Base):
    """MAX's updates as received, handled in arrival order by the runner alone (jobs/max_poller.py).
    MAX gives updates no id of their own: the long-poll marker, saved in the same transaction
    as the batch it follows, is what keeps one from being stored twice."""

    __tablename__ = "max_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="polling")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str] = mapped_column(Text, default="")


class MaxMessage(Base):
    """MAX's message ids are strings (``mid.…``); the outbox and the button check keep
    integers, so each mid gets a local integer, the same one every time."""

    __tablename__ = "max_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    mid: Mapped[str] = mapped_column(String(128), unique=True)


class PhoneCode(Base):
    """A one-time code sent by SMS to a patient's phone in the MIS: the proof a messenger
    that cannot vouch for a shared number (MAX) needs before linking (bot_handlers/phone_code.py)."""

    __tablename__ = "phone_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VisitRating(Base):
    """A rating asked after a completed visit, on the clinic's scale. One per visit and chat."""

    __tablename__ = "visit_ratings"
    __table_args__ = (UniqueConstraint("appointment_mis_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_mis_id: Mapped[str] = mapped_column(String(64))
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    doctor_mis_id: Mapped[str] = mapped_column(String(64), default="")
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Whether this request carried the review link: every patient asked gets it (within
    # the per-patient cap), before and regardless of any score.
    review_link_offered: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    # The scale the request was sent on (core.ratings.scale: "5", "10", "smileys"), kept so
    # a setting changed later cannot reinterpret the buttons already out.
    scale: Mapped[str] = mapped_column(String(8), default="5", server_default="5")
    # The optional comment after the score: "" (not asked), "asked", "given", "skipped".
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    comment_state: Mapped[str] = mapped_column(String(8), default="", server_default="")


class Task(Base):
    """Something a person at the clinic must do: a reschedule request, a patient's message."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    patient_mis_id: Mapped[str] = mapped_column(String(64), default="")
    appointment_mis_id: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    taken_by: Mapped[str] = mapped_column(String(100), default="")
    # Indexed for «Время ответа», which reads a period's episodes (migration 0021).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the task, still not taken, was announced to the staff group a second time.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The task as an episode of a patient's thread (core.conversations): the messages that
    # joined it, since when the patient has been waiting for an answer (None once answered),
    # the first answer, and whether the patient was told their message was received.
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_by: Mapped[str] = mapped_column(String(100), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- staff and settings --------------------------------------------------------------------


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="admin")  # owner | manager | admin
    full_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsentText(Base):
    """A version of the consent to personal data processing, written in the panel. The bot
    shows the latest; a subscriber's acceptance names the version they accepted."""

    __tablename__ = "consent_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(20), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyValue(Base):
    """Small durable facts: the Telegram update offset, MIS health, the instance secret."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- care instructions after treatment -----------------------------------------------------


class CareInstruction(Base):
    """What to do after a kind of treatment, written by the clinic's staff and sent in the
    bot `delay_minutes` after a matching visit is completed (core.care).

    `services` and `specialties` are comma-separated, case-insensitive fragments: a visit
    matches when every non-empty one matches (one of the visit's services contains, or is,
    one of the service fragments; the doctor's specialty contains one of the specialty
    fragments). Both empty: every completed visit."""

    __tablename__ = "care_instructions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    services: Mapped[str] = mapped_column(String(1000), default="")
    specialties: Mapped[str] = mapped_column(String(500), default="")
    delay_minutes: Mapped[int] = mapped_column(Integer, default=30)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The English version, for a chat whose language is English; empty: the Russian one.
    title_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    text_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A PDF or an image sent with the text (core.care.attachments): its path under
    # <data_dir>/files, the name the patient sees, its type as read from its content.
    file_path: Mapped[str] = mapped_column(String(300), default="", server_default="")
    file_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    file_type: Mapped[str] = mapped_column(String(100), default="", server_default="")
    file_size: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CareSent(Base):
    """An instruction sent after a visit, kept as it was sent (the instruction may be
    edited or deleted later), so the patient can read it again in the bot."""

    __tablename__ = "care_sent"
    __table_args__ = (
        UniqueConstraint("appointment_mis_id", "instruction_id"),
        Index("ix_care_sent_patient_sent", "patient_mis_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_mis_id: Mapped[str] = mapped_column(String(64))
    patient_mis_id: Mapped[str] = mapped_column(String(64))
    # Not a foreign key: the record outlives the instruction's deletion.
    instruction_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    text_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The attachment as it was when sent (its file is kept under its own content's name).
    file_path: Mapped[str] = mapped_column(String(300), default="", server_default="")
    file_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    file_type: Mapped[str] = mapped_column(String(100), default="", server_default="")
    visit_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When it is due in the chats (completion + the instruction's delay).
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The conversation and panel-access (sessions, audit log) tables live in their own
# packages; importing them here registers them on Base.metadata wherever the models are
# loaded (migrations, tests).
from core.access.models import AuditEntry, StaffSession  # noqa: E402, F401
from core.conversations.models import Conversation, ThreadMessage  # noqa: E402, F401
from core.documents.models import DocumentRequest, DocumentSignature  # noqa: E402, F401
from core.ratings.models import ReviewOffer  # noqa: E402, F401
from core.settings.models import PanelSetting  # noqa: E402, F401
from core.visits.models import MisWriteback, ReminderReach  # noqa: E402, F401
