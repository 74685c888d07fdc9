"""The Telegram webhook (telegram.mode = "webhook"): store the update, answer at once.

Any web worker may receive an update; none handles it. It is stored in the inbox table
(deduplicated by update_id) and the runner handles it in order (jobs/poller.py), so
handlers never run in two processes at once. Telegram sends the secret given to
setWebhook in a header with every request; anything without it is refused.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, request

from app.extensions import db
from app.permissions import public
from core.updates import store_one

bp = Blueprint("telegram", __name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@bp.route("/telegram/webhook", methods=["POST"])
@public
def webhook() -> Any:
    config = current_app.config["KABINET"]
    if config.telegram.mode != "webhook":
        abort(404)
    sent = request.headers.get(SECRET_HEADER, "")
    # Constant-time: the time to refuse must not tell how much of a guess was right.
    if not hmac.compare_digest(sent.encode(), config.telegram.webhook_secret.encode()):
        abort(403)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        abort(400)
    store_one(db.session(), payload, "webhook")
    # 200 for a duplicate too: Telegram must stop redelivering it.
    return {"ok": True}
