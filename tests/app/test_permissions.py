"""The permission matrix over the app's whole URL map: every route declares a permission
of app/permissions.py's table, and answers every role and a logged-out visitor as the
table says (sent to the login page, 403, or served)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint, Flask, abort
from werkzeug.routing import IntegerConverter, Rule

from app.auth import current_user
from app.permissions import PERMISSIONS, PUBLIC, allowed, permission_of, requires
from core.staff import ROLES
from tests.conftest import PASSWORDS, Persona, add_manager

MISSING = 999_999  # ids that name nothing: an allowed role gets 404, never a changed row


def _url(rule: Rule) -> str:
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = rule._converters[name]  # noqa: SLF001  (werkzeug keeps them there)
        if rule.endpoint == "static":
            values[name] = "style.css"
        elif isinstance(converter, IntegerConverter):
            values[name] = MISSING
        else:
            values[name] = str(MISSING)
    path = rule.build(values, append_unknown=False)
    assert path is not None
    return path[1]


def _sent_to_login(response) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code != 302:
        return False
    location = urlsplit(response.headers["Location"])
    return location.path == "/login" and "next" in parse_qs(location.query)


def undeclared(app: Flask) -> list[str]:
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if permission_of(app, rule.endpoint) is None
    )


def mismatches(app: Flask, persona: Persona, role: str | None) -> list[str]:
    wrong: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        permission = permission_of(app, rule.endpoint)
        assert permission is not None, rule.endpoint
        url = _url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = persona.post(url) if method == "POST" else persona.get(url)
            status = response.status_code
            if permission != PUBLIC and role is None:
                ok, expected = _sent_to_login(response), "sent to /login"
            elif not allowed(permission, role):
                ok, expected = status == 403, "403"
            else:
                ok = status != 500 and status not in (401, 403) and not _sent_to_login(response)
                expected = "served"
            if not ok:
                wrong.append(f"{method} {url} ({permission}) as {role}: {status}, want {expected}")
            if role is not None and rule.endpoint == "auth.logout" and ok:
                persona.login(role, PASSWORDS[role])  # logging out is what it should do
    return wrong


def test_every_route_declares_a_permission_of_the_table(app: Flask) -> None:
    assert undeclared(app) == []
    used = {permission_of(app, r.endpoint) for r in app.url_map.iter_rules()}
    assert set(PERMISSIONS) == used, "a permission no route uses, or one the table lacks"
    for roles in PERMISSIONS.values():
        assert roles is None or (roles and set(roles) <= set(ROLES))


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_route_answers_each_role_as_the_table_says(app: Flask, role: str | None) -> None:
    if role == "manager":
        add_manager(app)
    persona = Persona(app.test_client(), role)
    assert mismatches(app, persona, role) == []
    if role is not None:
        assert persona.get("/").status_code == 200  # the walk changed nobody's access


def test_the_walk_finds_an_undeclared_route(config, factory, app_for) -> None:  # type: ignore[no-untyped-def]
    """The two checks above can fail: a route without a declaration is named."""
    stray = Blueprint("stray", __name__)

    @stray.route("/stray")
    def forgotten() -> str:
        return "open to all"

    flask_app = app_for(config)
    flask_app.register_blueprint(stray)
    assert undeclared(flask_app) == ["stray.forgotten"]


def test_the_walk_finds_a_route_answering_against_the_table(config, factory, app_for) -> None:  # type: ignore[no-untyped-def]
    lax = Blueprint("lax", __name__)

    @lax.route("/lax")
    @requires("panel.view")
    def owner_only_by_hand() -> str:
        user = current_user()
        if user is None or user.role != "owner":  # a check of its own the table does not know
            abort(403)
        return "owners only"

    flask_app = app_for(config)
    flask_app.register_blueprint(lax)
    persona = Persona(flask_app.test_client(), "admin")
    found = mismatches(flask_app, persona, "admin")
    assert found == ["GET /lax (panel.view) as admin: 403, want served"]


def test_an_unknown_permission_is_refused_at_import() -> None:
    with pytest.raises(KeyError, match="not in app/permissions.py"):
        requires("everything")


@pytest.mark.parametrize("token", [None, "", "forged", "IjAwMCI.aaaa.bbbb"])
def test_every_post_route_refuses_a_missing_or_forged_csrf_token(
    app: Flask, owner: Persona, token: str | None
) -> None:
    """Flask-WTF guards every POST of the map, not only the forms it renders; the
    Telegram webhook alone is exempt (it proves itself with its secret)."""
    posts = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or set())]
    assert len(posts) > 20
    for rule in posts:
        data = {} if token is None else {"csrf_token": token}
        response = owner.client.post(_url(rule), data=data)
        if rule.endpoint in ("telegram.webhook", "max.webhook"):
            assert response.status_code == 404, rule.rule  # not in webhook mode: no such page
        else:
            assert response.status_code == 400, (rule.rule, response.status_code)
    assert owner.get("/").status_code == 200  # and nothing logged the owner out
