"""Linking by a one-time code: the proof of a phone that the messenger cannot give itself.

Telegram's own contact card proves the number (see bot_handlers/channels/telegram.py); MAX's
proves only the account (bot_handlers/channels/max.py: ``number_proven`` False). For such a
card whose number the MIS has, onboarding calls `ask`: a 6-digit code goes by SMS to that
number — the MIS's, never one the person typed — or, when SMS is off, to the staff as a
task (they call the number and say the code). Whoever types the code in the chat holds
that phone; the card is then handled as a proven one (the same onboarding, not a copy).

Codes are kept as an HMAC under the instance's secret key, compared in constant time,
valid 10 minutes, 5 attempts; at most one a minute and five a day per chat.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot_handlers.channels.base import Contact, Text
from bot_handlers.channels.router import Router
from bot_handlers.chat import to_task
from bot_handlers.context import BotContext, contact_keyboard
from core.clock import utcnow
from core.models import PhoneCode, Subscriber
from core.outbox import PRIORITY_REPLY, enqueue
from core.patients.linking import linked_patients
from core.tasks import create_task

CODE = re.compile(r"^\s*(\d{6})\s*$")
TTL = timedelta(minutes=10)
ATTEMPTS = 5
RESEND_AFTER = timedelta(minutes=1)
PER_DAY = 5


def _digest(ctx: BotContext, sub: Subscriber, code: str) -> str:
    key = (ctx.config.web.secret_key or "kabinet").encode()
    return hmac.new(key, f"{sub.id}:{code}".encode(), hashlib.sha256).hexdigest()


def ask(ctx: BotContext, session: Session, sub: Subscriber, key: str, phone: str) -> None:
    """Send a code to `phone` (a number the MIS has for a patient) and ask for it."""
    now = utcnow()
    recent = list(
        session.scalars(
            select(PhoneCode.created_at).where(
                PhoneCode.subscriber_id == sub.id, PhoneCode.created_at > now - timedelta(days=1)
            )
        )
    )
    if len(recent) >= PER_DAY or any(at > now - RESEND_AFTER for at in recent):
        ctx.reply(session, sub, key, ctx.text("phone_code_wait", sub))
        return
    # Earlier codes of this chat stop working: only the newest one counts.
    for old in session.scalars(
        select(PhoneCode).where(PhoneCode.subscriber_id == sub.id, PhoneCode.used_at.is_(None))
    ):
        old.used_at = now
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        PhoneCode(
            subscriber_id=sub.id,
            phone=phone,
            code_hash=_digest(ctx, sub, code),
            created_at=now,
            expires_at=now + TTL,
        )
    )
    tail = phone[-4:]
    if ctx.config.messaging.sms_enabled:
        enqueue(
            session,
            key=f"phone-code:{sub.id}:{len(recent)}:{int(now.timestamp())}",
            chat_id=0,
            channel="sms",
            phone=phone,
            kind="phone_code",
            text=ctx.text("phone_code_sms", None, code=code),
            priority=PRIORITY_REPLY,
            respect_quiet_hours=False,
        )
        ctx.reply(session, sub, key, ctx.text("phone_code_sent", sub, tail=tail))
        return
    # No SMS gateway: a person at the clinic calls the MIS number and says the code.
    create_task(
        session,
        ctx.config,
        kind="phone_confirm",
        key=f"phone-confirm:{sub.id}:{int(now.timestamp())}",
        text=ctx.text(
            "task_phone_confirm",
            None,
            phone=phone,
            name=" ".join(filter(None, [sub.first_name, sub.last_name])) or str(sub.id),
            code=code,
        ),
        subscriber_id=sub.id,
        acknowledged=True,
    )
    ctx.reply(session, sub, key, ctx.text("phone_code_staff", sub, tail=tail))


def register(router: Router, ctx: BotContext) -> None:
    @router.on(Text, when=lambda e: bool(CODE.match(e.text)))
    def typed_code(event: Text) -> None:
        proven: Contact | None = None
        with ctx.session() as session:
            sub = ctx.subscriber(session, event)
            key = f"phone-code-answer:{event.chat.id}:{event.message_id}"
            now = utcnow()
            pending = session.scalar(
                select(PhoneCode)
                .where(
                    PhoneCode.subscriber_id == sub.id,
                    PhoneCode.used_at.is_(None),
                    PhoneCode.expires_at > now,
                )
                .order_by(PhoneCode.id.desc())
            )
            if pending is None:
                if linked_patients(session, sub):
                    to_task(ctx, session, sub, event)  # six digits meant for the clinic
                else:
                    text = ctx.text("phone_code_none", sub)
                    ctx.reply(session, sub, key, text, contact_keyboard(ctx, sub))
                return
            pending.attempts += 1
            typed = CODE.match(event.text)
            digits = typed.group(1) if typed else ""
            if not hmac.compare_digest(pending.code_hash, _digest(ctx, sub, digits)):
                if pending.attempts >= ATTEMPTS:
                    pending.used_at = now
                    text = ctx.text("phone_code_burnt", sub)
                    ctx.reply(session, sub, key, text, contact_keyboard(ctx, sub))
                else:
                    ctx.reply(session, sub, key, ctx.text("phone_code_wrong", sub))
                return
            pending.used_at = now
            proven = Contact(
                channel=event.channel,
                chat=event.chat,
                user=event.user,
                message_id=event.message_id,
                phone=pending.phone,
                own=True,
                number_proven=True,  # the code reached the MIS number and came back here
            )
        router.dispatch(proven)
