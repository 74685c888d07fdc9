"""Login, logout, role decorators and CSRF protection for the panel."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from app.extensions import db
from core.models import StaffUser
from core.staff import authenticate

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def current_user() -> StaffUser | None:
    if "user" not in g:
        user_id = session.get("user_id")
        user = db.session.get(StaffUser, user_id) if user_id else None
        g.user = user if user is not None and user.active else None
    return g.user


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def role_required(*roles: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


# Endpoints called by machines with their own authentication, not by a browser session.
CSRF_EXEMPT = {"telegram.webhook"}


@bp.before_app_request
def check_csrf() -> None:
    if request.endpoint in CSRF_EXEMPT:
        return  # Telegram proves itself with the webhook secret (app/views/telegram.py)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400, "CSRF token missing or wrong; reload the page and try again")


@bp.app_context_processor
def inject_csrf() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing gift. Browsers drop
    # tabs and newlines from URLs and read "\" as "/", so "/\evil" and "/<tab>/evil"
    # are "//evil" to them: refuse those characters outright.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        user = authenticate(
            db.session(), request.form.get("login", ""), request.form.get("password", "")
        )
        if user is None:
            flash("Неверный логин или пароль.", "error")
            return render_template("login.html"), 401
        session.clear()
        session["user_id"] = user.id
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))
