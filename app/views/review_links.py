"""/r/<token>: a review button's way to the platform, so an open is counted.

The patient's phone opens it from the bot without any login: the token (secrets, 144
bits) is the only key, and the answer names nobody — a 302 to the platform's page, or a
Russian «ссылка не найдена» for a token that is not one. Nothing is cached (no-store,
as app/security.py sends everywhere), and the referrer policy keeps the token from the
platform. A HEAD (a link checker, a preview) is sent on without being counted as an open.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request

from app.extensions import db
from app.permissions import public
from core.clock import utcnow
from core.ratings.review_links import lookup, record_open

bp = Blueprint("review_links", __name__)


@bp.route("/r/<path:token>")
@public
def follow(token: str) -> Any:
    session = db.session()
    if request.method == "HEAD":
        found = lookup(session, token)
        url = found[1] if found else None
    else:
        url = record_open(session, token, utcnow())
        session.commit()
    if url is None:
        return render_template("review_link_missing.html"), 404
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"
    return response
