"""Who may do what in the panel: one table, and the decorator every route declares.

Each view is decorated with `@requires("<permission>")` (or `@public`); the permission is
a key of PERMISSIONS, which names the roles allowed. A logged-out visitor is sent to the
login page, a staff member whose role is not allowed gets 403. tests/app/test_permissions.py
walks the whole URL map for every role and a logged-out visitor, and fails on a route
without a declaration or one that answers otherwise than this table says.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app
from flask_login import current_user

from core.staff import ROLES

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
ALL_STAFF = frozenset(ROLES)
OWNER = frozenset({"owner"})
OWNER_MANAGER = frozenset({"owner", "manager"})

# permission -> the roles allowed (None: anyone, logged in or not).
PERMISSIONS: dict[str, frozenset[str] | None] = {
    PUBLIC: None,  # login, /healthz, /metrics, the Telegram webhook, static files
    "account": ALL_STAFF,  # logout
    "panel.view": ALL_STAFF,  # the dashboard, patients, their cards, the leaderboard
    "tasks.work": ALL_STAFF,  # the inbox: read, take, answer, close
    "delivery.resend": ALL_STAFF,
    "bonus.spend": ALL_STAFF,  # spend at the desk, approve a pending spend, family links
    "care.edit": ALL_STAFF,  # «Рекомендации после лечения»
    "loyalty.economics": OWNER_MANAGER,  # Экономика
    "reports.view": OWNER_MANAGER,  # «Отчёты»: charts and CSV, revenue among them
    "campaigns.manage": OWNER_MANAGER,  # build a segment, preview, send or schedule, cancel
    "consent.edit": OWNER_MANAGER,  # the consent text the bot shows (a new version per save)
    "documents.send": ALL_STAFF,  # send a document to sign, withdraw it, download the PDFs
    "documents.templates": OWNER_MANAGER,  # document templates and the ПЭП agreement
    "bonus.grant": OWNER,  # points out of nothing: the owner's decision
    "bonus.settings": OWNER,  # the programme's rules: money
    "settings.edit": OWNER,  # «Настройки»: reminders, ratings, quiet hours, reviews
    "staff.manage": OWNER,  # staff users: add, deactivate, reset a password
    "audit.view": OWNER,  # the audit log
}

# Endpoints Flask itself adds: declared here, having no view of ours to decorate.
FRAMEWORK_ENDPOINTS = {"static": PUBLIC}


def allowed(permission: str, role: str | None) -> bool:
    roles = PERMISSIONS[permission]
    return roles is None or (role is not None and role in roles)


def requires(permission: str) -> Callable[[F], F]:
    if permission not in PERMISSIONS:
        raise KeyError(f"permission {permission!r} is not in app/permissions.py's table")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            roles = PERMISSIONS[permission]
            if roles is not None:
                if not current_user.is_authenticated:
                    return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
                if current_user.staff.role not in roles:
                    abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


public = requires(PUBLIC)


def permission_of(app: Flask, endpoint: str) -> str | None:
    """The permission a route declared, or None when it declared none (a defect)."""
    if endpoint in FRAMEWORK_ENDPOINTS:
        return FRAMEWORK_ENDPOINTS[endpoint]
    return getattr(app.view_functions.get(endpoint), "permission", None)


def may(permission: str) -> bool:
    """For templates: show a link or button only to those the table lets use it."""
    role = current_user.staff.role if current_user.is_authenticated else None
    return allowed(permission, role)
