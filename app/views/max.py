"""The MAX webhook (max.mode = "webhook"): store the update, answer at once.

MAX posts every update to the subscribed URL (jobs/max_poller.MaxWebhookKeeper subscribes it
at start) with the subscription's secret in ``X-Max-Bot-Api-Secret``; anything without it is
refused before anything is stored. The update goes into the same inbox table the long-polling
path fills (core.models.MaxUpdate), and only the runner handles it, in order, once
(jobs/max_poller.MaxUpdateProcessor): no web worker runs a handler.

MAX updates carry no id, and MAX redelivers for hours when it did not get its 200. So each
stored update leaves a fingerprint (a hash of its JSON) in the kv table, in the same
transaction: a redelivery of the very same body finds it and is answered 200 without being
stored again. Fingerprints older than MAX's redelivery window are pruned as new ones come.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.permissions import public
from core.clock import utcnow
from core.models import KeyValue, MaxUpdate

bp = Blueprint("max", __name__)

SECRET_HEADER = "X-Max-Bot-Api-Secret"
FINGERPRINT_PREFIX = "max.webhook:"
# MAX retries a failed delivery for up to 8 hours; a fingerprint outlives that a little.
REDELIVERY_WINDOW = timedelta(hours=9)


def fingerprint(update: dict[str, Any]) -> str:
    canonical = json.dumps(update, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return FINGERPRINT_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def store_webhook_update(session: Any, update: dict[str, Any]) -> bool:
    """True if stored, False if this very update was stored before (a redelivery)."""
    now = utcnow()
    key = fingerprint(update)
    try:
        session.execute(
            delete(KeyValue).where(
                KeyValue.key.startswith(FINGERPRINT_PREFIX),
                KeyValue.updated_at < now - REDELIVERY_WINDOW,
            )
        )
        if session.get(KeyValue, key) is not None:
            session.rollback()
            return False
        session.add(KeyValue(key=key, value=1, updated_at=now))
        session.add(MaxUpdate(payload=update, source="webhook", received_at=now))
        session.commit()
    except IntegrityError:  # two workers raced on one redelivery: the loser is the duplicate
        session.rollback()
        return False
    return True


@bp.route("/max/webhook", methods=["POST"])
@public
def webhook() -> Any:
    config = current_app.config["KABINET"]
    if not config.max.enabled or config.max.mode != "webhook":
        abort(404)
    sent = request.headers.get(SECRET_HEADER, "")
    # Constant-time: the time to refuse must not tell how much of a guess was right.
    if not hmac.compare_digest(sent.encode(), config.max.webhook_secret.encode()):
        abort(401)
    update = request.get_json(silent=True)
    if not isinstance(update, dict) or not isinstance(update.get("update_type"), str):
        abort(400)
    store_webhook_update(db.session(), update)
    # 200 for a redelivery too: MAX must stop sending it.
    return {"success": True}
