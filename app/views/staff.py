"""«Сотрудники» (the owner): add a staff user, deactivate or reactivate one, reset a
password, see each one's last login and open sessions, and each one's Telegram for the
staff group: a one-time code for them to send the bot, or unlinking (a lost phone, a
colleague who left). `kabinet user add` stays for IT.

A password made here is shown once on the page that answers the form, never put in a
flash message: those travel in the session cookie.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp

from app.auth import current_user
from app.extensions import db
from app.forms import PanelForm
from app.permissions import requires
from core.access.sessions import open_count
from core.clock import utcnow
from core.conversations import staff_links
from core.conversations.models import StaffTelegram
from core.models import StaffUser
from core.staff import MIN_PASSWORD, ROLE_LABELS, ROLES, create_user, set_active, set_password

bp = Blueprint("staff", __name__, url_prefix="/staff")


class AddForm(PanelForm):
    login = StringField(
        "Логин",
        validators=[
            InputRequired("Укажите логин."),
            Length(max=64, message="Логин — не длиннее 64 символов."),
            Regexp(
                r"^\s*[A-Za-z0-9._-]+\s*$",
                message="Логин — латинские буквы, цифры, точка, дефис или подчёркивание.",
            ),
        ],
    )
    full_name = StringField(
        "Имя", validators=[Length(max=200, message="Имя — не длиннее 200 символов.")]
    )
    role = SelectField(
        "Роль",
        choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES],
        default="admin",
        validate_choice=True,
    )
    password = PasswordField(
        "Пароль (пусто — придумать)",
        validators=[
            Optional(),
            Length(
                min=MIN_PASSWORD,
                max=1024,
                message=f"Пароль — не короче {MIN_PASSWORD} символов.",
            ),
        ],
    )


def _rows() -> list[dict[str, Any]]:
    web = current_app.config["KABINET"].web
    since = utcnow() - timedelta(minutes=web.session_idle_minutes)
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.login))
    links = {
        row.staff_user_id: row
        for row in db.session.scalars(
            select(StaffTelegram).where(StaffTelegram.telegram_user_id.is_not(None))
        )
    }
    return [
        {"user": u, "sessions": open_count(db.session(), u.id, since), "telegram": links.get(u.id)}
        for u in users
    ]


def _page(
    form: AddForm | None = None,
    shown: dict[str, str] | None = None,
    status: int = 200,
    code: dict[str, Any] | None = None,
) -> Any:
    return (
        render_template(
            "staff.html",
            rows=_rows(),
            form=form or AddForm(formdata=None),
            shown=shown,
            code=code,
            labels=ROLE_LABELS,
            me=current_user(),
            tz=current_app.config["KABINET"].clinic.tz,
        ),
        status,
    )


@bp.route("/")
@requires("staff.manage")
def index() -> Any:
    return _page()


@bp.route("/", methods=["POST"])
@requires("staff.manage")
def add() -> Any:
    form = AddForm()
    if not form.validate():
        return _page(form, status=400)
    # WTForms' Optional() lets a password of spaces only through as "not given", but its
    # data is not empty: refuse it here rather than make one from blanks.
    if form.password.data and not form.password.data.strip():
        form.password.errors = [
            "Пароль из одних пробелов не подходит: введите другой или оставьте поле пустым."
        ]
        return _page(form, status=400)
    login = (form.login.data or "").strip().lower()
    if db.session.scalar(select(StaffUser.id).where(StaffUser.login == login)) is not None:
        form.login.errors = [f"Логин «{login}» уже занят."]
        return _page(form, status=400)
    user, password = create_user(
        db.session(),
        login,
        form.role.data or "admin",
        form.password.data or None,
        (form.full_name.data or "").strip(),
    )
    db.session.commit()
    shown = {"login": user.login, "password": password} if not form.password.data else None
    flash(f"Сотрудник «{user.login}» добавлен ({ROLE_LABELS[user.role]}).", "info")
    return _page(shown=shown)


@bp.route("/<int:user_id>/deactivate", methods=["POST"])
@requires("staff.manage")
def deactivate(user_id: int) -> Any:
    user = db.get_or_404(StaffUser, user_id)
    me = current_user()
    if me is not None and me.id == user.id:
        flash("Свою учётную запись отключить нельзя.", "error")
        return redirect(url_for("staff.index"))
    try:
        set_active(db.session(), user, False)
    except ValueError:
        flash("Нельзя отключить последнего владельца.", "error")
        return redirect(url_for("staff.index"))
    db.session.commit()
    flash(f"«{user.login}» отключён(а); его (её) сеансы завершены.", "info")
    return redirect(url_for("staff.index"))


@bp.route("/<int:user_id>/activate", methods=["POST"])
@requires("staff.manage")
def activate(user_id: int) -> Any:
    user = db.get_or_404(StaffUser, user_id)
    set_active(db.session(), user, True)
    db.session.commit()
    flash(f"«{user.login}» снова может входить.", "info")
    return redirect(url_for("staff.index"))


@bp.route("/<int:user_id>/password", methods=["POST"])
@requires("staff.manage")
def reset_password(user_id: int) -> Any:
    user = db.get_or_404(StaffUser, user_id)
    password = set_password(db.session(), user)
    db.session.commit()
    flash(f"Пароль «{user.login}» сброшен; его (её) сеансы завершены.", "info")
    return _page(shown={"login": user.login, "password": password})


@bp.route("/<int:user_id>/telegram/code", methods=["POST"])
@requires("staff.manage")
def telegram_code(user_id: int) -> Any:
    """A code for this colleague to send the bot (/link CODE): shown once, on this page."""
    user = db.get_or_404(StaffUser, user_id)
    if not user.active:
        flash(f"«{user.login}» отключён(а): сначала включите учётную запись.", "error")
        return redirect(url_for("staff.index"))
    code = staff_links.new_code(db.session(), user, utcnow())
    db.session.commit()
    return _page(code={"login": user.login, "code": code, "minutes": staff_links.LINK_CODE_MINUTES})


@bp.route("/<int:user_id>/telegram/unlink", methods=["POST"])
@requires("staff.manage")
def telegram_unlink(user_id: int) -> Any:
    user = db.get_or_404(StaffUser, user_id)
    staff_links.unlink(db.session(), user)
    db.session.commit()
    flash(f"Telegram «{user.login}» отвязан: из группы он (она) больше ничего не изменит.", "info")
    return redirect(url_for("staff.index"))
