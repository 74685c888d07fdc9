"""The QR code of a patient's referral link, as a PNG made in memory when it is sent.

The outbox row (kind "file", key ``friend-qr:<payload>:<chat>:<message>``) keeps only the
caption; the transport asks `outgoing_qr` for the image, which is drawn again from the
payload, so nothing is written to disk and a row whose payload is not a referral code
sends nothing.
"""

from __future__ import annotations

import io

import segno

from core.config import Config
from core.loyalty.referrals import parse_payload
from core.models import OutboxMessage
from core.patients.family import start_link

KEY_PREFIX = "friend-qr"


def qr_png(text: str) -> bytes:
    """A PNG a phone camera reads from a screen: quiet zone kept, modules 10 px."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=10, border=4)
    return out.getvalue()


def qr_key(payload: str, chat_id: int, message_id: int) -> str:
    return f"{KEY_PREFIX}:{payload}:{chat_id}:{message_id}"


def outgoing_qr(config: Config, message: OutboxMessage) -> tuple[bytes, str, bool] | None:
    """For the transport: (PNG, file name, as a photo) of a ``friend-qr`` row, else None."""
    prefix, _, rest = message.key.partition(":")
    payload = rest.partition(":")[0]
    if prefix != KEY_PREFIX or parse_payload(payload).kind != "referral":
        return None
    return qr_png(start_link(config, message.channel, payload)), "qr.png", True
