"""Login and logout: Flask-Login keeps the session, Flask-WTF the form and its CSRF token,
argon2-cffi the hashes (core.access.passwords), the store the lockout (app/login_guard.py).

The session cookie carries a random token; the session itself is a row in the store
(core.access.sessions), so logout, a deactivation or a password reset ends it at once and
the idle timeout is enforced by the server, not by the cookie's lifetime.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import flask_login
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from app.extensions import db
from app.forms import PanelForm
from app.login_guard import LoginGuard
from app.permissions import public, requires
from core.access import audit, sessions
from core.access.models import StaffSession
from core.config import WebConfig
from core.db import session_factory
from core.models import StaffUser
from core.staff import authenticate

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


class PanelUser(UserMixin):
    """Flask-Login's user: the staff account and the session token it came with."""

    def __init__(self, staff: StaffUser, token: str, row: StaffSession | None = None) -> None:
        self.staff = staff
        self.token = token
        self.row = row

    def get_id(self) -> str:
        return self.token  # never the account id: a session is a row, not a user


def _web() -> WebConfig:
    web: WebConfig = current_app.config["KABINET"].web
    return web


@login_manager.user_loader
def _load(token: str) -> PanelUser | None:
    web = _web()
    found = sessions.resume(
        db.session(),
        token,
        idle=timedelta(minutes=web.session_idle_minutes),
        lifetime=timedelta(hours=web.session_max_hours),
        # panel.js's background poll of the inbox (not the user doing anything)
        touch=request.headers.get("X-Kabinet-Poll") != "1",
    )
    return PanelUser(found[0], token, found[1]) if found else None


def current_user() -> StaffUser | None:
    user = flask_login.current_user
    return user.staff if user.is_authenticated else None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Войдите, чтобы открыть эту страницу."
    login_manager.login_message_category = "info"
    # A cookie taken to another browser or address is a logged-out cookie there.
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    with app.app_context():
        engine = db.engine
    # Its own sessions on the panel's engine: the failures are shared by every worker.
    app.extensions["kabinet.login_guard"] = LoginGuard(
        app.config["KABINET"].web, session_factory(engine), app.config["SECRET_KEY"]
    )


class LoginForm(PanelForm):
    login = StringField("Логин", validators=[InputRequired(), Length(max=64)])
    password = PasswordField("Пароль", validators=[InputRequired(), Length(max=1024)])


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


def _refuse(form: LoginForm, message: str, status: int, event: str, login: str) -> Any:
    address = request.remote_addr or ""
    audit.write(db.session(), audit.Actor(None, login[:64], address), event, [], message)
    db.session.commit()
    flash(message, "error")
    return render_template("login.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        return render_template("login.html", form=form)
    if not form.validate():
        flash("Введите логин и пароль.", "error")
        return render_template("login.html", form=form), 400
    name = (form.login.data or "").strip().lower()
    address = request.remote_addr or ""
    guard: LoginGuard = current_app.extensions["kabinet.login_guard"]
    wait = guard.locked_for(name, address)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return _refuse(
            form,
            f"Слишком много неудачных попыток входа. Попробуйте снова через {minutes} мин.",
            429,
            "auth.locked",
            name,
        )
    user = authenticate(db.session(), name, form.password.data or "")
    if user is None:
        guard.failed(name, address)
        return _refuse(form, "Неверный логин или пароль.", 401, "auth.login_failed", name)
    # The login itself is audited (last login, a replaced hash) under this account.
    g.audit_actor = audit.Actor(user.id, user.login, address)
    token = sessions.open_session(
        db.session(), user, address, request.headers.get("User-Agent", "")
    )
    db.session.commit()
    session.clear()  # nothing from before the login (a planted CSRF token) carries over
    login_user(PanelUser(user, token))
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@requires("account")
def logout() -> Any:
    user = flask_login.current_user
    sessions.end_session(db.session(), user.get_id())
    audit.write(
        db.session(),
        audit.Actor(user.staff.id, user.staff.login, request.remote_addr or ""),
        "auth.logout",
        [],
        "Выход",
    )
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
