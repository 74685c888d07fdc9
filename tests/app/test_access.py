"""Panel access on its libraries: argon2id hashes (old ones replaced at login), equal work
for an unknown login, the lockout per account and per address, server-side sessions that
logout, deactivation, a password reset and the idle timeout end, cookies, headers, CSP."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import generate_password_hash

from core.access import passwords
from core.access.models import LoginFailure, StaffSession
from core.config import Config
from core.db import transaction
from core.models import StaffUser
from core.staff import authenticate
from tests.conftest import PASSWORDS, Persona

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def _hash(factory: sessionmaker[Session], login: str) -> str:
    with factory() as s:
        return s.scalar(select(StaffUser.password_hash).where(StaffUser.login == login)) or ""


def _client_at(flask_app, address: str):  # type: ignore[no-untyped-def]
    client = flask_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _at_login(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def real_argon2():  # type: ignore[no-untyped-def]
    """The production parameters (the suite runs on cheap ones)."""
    cheap = passwords.hasher()
    passwords.configure(PasswordHasher())
    yield
    passwords.configure(cheap)


# --- hashes -------------------------------------------------------------------------------


def test_passwords_are_argon2id_with_rfc_9106_parameters(real_argon2) -> None:  # type: ignore[no-untyped-def]
    stored = passwords.hash_password("a-password-1")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(stored, "a-password-1") == (True, False)
    assert passwords.verify(stored, "another-one") == (False, False)


def test_an_old_werkzeug_hash_is_replaced_at_the_next_successful_login(
    app, outsider: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        user = s.scalar(select(StaffUser).where(StaffUser.login == "admin"))
        user.password_hash = generate_password_hash(PASSWORDS["admin"])  # scrypt, as before
    old = _hash(factory, "admin")
    assert old.startswith("scrypt:")
    assert outsider.login("admin", "not-it-at-all").status_code == 401
    assert _hash(factory, "admin") == old  # a failed login changes nothing
    assert outsider.login("admin", PASSWORDS["admin"]).status_code == 302
    assert _hash(factory, "admin").startswith("$argon2id$")
    assert outsider.get("/").status_code == 200
    # ...and the new hash is the one that works from now on.
    again = Persona(app.test_client(), None)
    assert again.login("admin", PASSWORDS["admin"]).status_code == 302


def test_a_hash_with_weaker_parameters_is_replaced_too(
    outsider: Persona, factory: sessionmaker[Session]
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORDS["owner"])
    with transaction(factory) as s:
        s.scalar(select(StaffUser).where(StaffUser.login == "owner")).password_hash = weak
    assert outsider.login("owner", PASSWORDS["owner"]).status_code == 302
    assert _hash(factory, "owner") != weak and _hash(factory, "owner").startswith("$argon2id$")


def test_an_unknown_login_costs_the_same_work_as_a_wrong_password(
    real_argon2, app, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        user = s.scalar(select(StaffUser).where(StaffUser.login == "admin"))
        user.password_hash = passwords.hash_password(PASSWORDS["admin"])

    def seconds(login: str) -> float:
        with factory() as s:
            start = time.perf_counter()
            assert authenticate(s, login, "wrong-password") is None
            return time.perf_counter() - start

    unknown = statistics.median(seconds("nobody-here") for _ in range(5))
    wrong = statistics.median(seconds("admin") for _ in range(5))
    # Before: 5 ms against 100 ms. Both now verify one argon2id hash of the same cost.
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)
    assert unknown > 0.02  # really hashed, not answered at once


# --- lockout ------------------------------------------------------------------------------


def test_the_account_locks_after_failed_logins_and_opens_after_the_window(
    app, clock, config: Config
) -> None:  # type: ignore[no-untyped-def]
    web = config.web
    persona = Persona(app.test_client(), None)
    for _ in range(web.login_attempts):
        assert persona.login("owner", "wrong-password").status_code == 401
    refused = persona.login("owner", PASSWORDS["owner"])  # the right password, too late
    assert refused.status_code == 429
    assert "Слишком много неудачных попыток входа" in refused.get_data(as_text=True)
    assert _at_login(persona.get("/"))
    # Per account: another login from the same address is not locked out.
    assert Persona(app.test_client(), None).login("admin", PASSWORDS["admin"]).status_code == 302
    # From another address the account is still locked: the lock is on the account.
    elsewhere = Persona(_client_at(app, "10.9.8.7"), None)
    assert elsewhere.login("owner", PASSWORDS["owner"]).status_code == 429

    clock.advance(timedelta(minutes=web.login_lockout_minutes - 1))
    assert persona.login("owner", PASSWORDS["owner"]).status_code == 429
    clock.advance(timedelta(minutes=1, seconds=5))
    assert persona.login("owner", PASSWORDS["owner"]).status_code == 302
    assert persona.get("/").status_code == 200


def test_an_unknown_login_locks_the_same_way(app, config: Config) -> None:  # type: ignore[no-untyped-def]
    persona = Persona(app.test_client(), None)
    answers = [persona.login("nobody", "x-password").status_code for _ in range(6)]
    assert answers == [401] * config.web.login_attempts + [429]


def test_the_address_locks_after_failures_on_many_logins(
    config: Config, factory: sessionmaker[Session], app_for
) -> None:  # type: ignore[no-untyped-def]
    flask_app = app_for(config.replace(web={"login_attempts_per_address": 6}))
    persona = Persona(flask_app.test_client(), None)
    for n in range(6):
        assert persona.login(f"guess-{n}", "x-password").status_code == 401
    assert persona.login("owner", PASSWORDS["owner"]).status_code == 429
    other = Persona(_client_at(flask_app, "10.1.1.1"), None)
    assert other.login("owner", PASSWORDS["owner"]).status_code == 302


def test_failed_and_locked_logins_are_in_the_audit_log(app, owner: Persona, config: Config) -> None:  # type: ignore[no-untyped-def]
    intruder = Persona(app.test_client(), None)
    for _ in range(config.web.login_attempts + 1):
        intruder.login("admin", "guess-guess")
    page = owner.get("/audit/?action=auth.login_failed").get_data(as_text=True)
    assert page.count('data-action="auth.login_failed"') == config.web.login_attempts
    locked = owner.get("/audit/?action=auth.locked").get_data(as_text=True)
    assert locked.count('data-action="auth.locked"') == 1 and "admin" in locked


@pytest.mark.clock
def test_two_workers_share_the_lockout_and_a_restart_keeps_it(
    app, app_for, clock, config: Config, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    """Two apps on one store are two gunicorn workers (or one before and after a restart):
    the failures on either count for both."""
    web = config.web
    first = Persona(app.test_client(), None)
    for _ in range(web.login_attempts - 2):
        assert first.login("owner", "wrong-password").status_code == 401
    second_app = app_for(config)  # started after the failures: a restart forgets none
    second = Persona(second_app.test_client(), None)
    for _ in range(2):
        assert second.login("owner", "wrong-password").status_code == 401
    assert second.login("owner", PASSWORDS["owner"]).status_code == 429
    assert first.login("owner", PASSWORDS["owner"]).status_code == 429
    # Neither the login nor the address is in the table, only their keyed hashes.
    with factory() as s:
        rows = s.execute(select(LoginFailure.kind, LoginFailure.value)).all()
    assert len(rows) == 2 * web.login_attempts
    assert {kind for kind, _ in rows} == {"account", "address"}
    assert all(re.fullmatch("[0-9a-f]{64}", value) for _, value in rows)
    assert not any(v in ("owner", "127.0.0.1") for _, v in rows)

    clock.advance(timedelta(minutes=web.login_lockout_minutes, seconds=5))
    assert second.login("owner", PASSWORDS["owner"]).status_code == 302
    assert first.login("owner", PASSWORDS["owner"]).status_code == 302


@pytest.mark.clock
def test_the_lock_ends_when_the_oldest_failure_leaves_the_window(
    app, clock, config: Config, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    web = config.web
    guard = app.extensions["kabinet.login_guard"]
    window = timedelta(minutes=web.login_lockout_minutes)
    guard.failed("owner", "10.0.0.1")
    clock.advance(window - timedelta(minutes=5))
    for _ in range(web.login_attempts - 1):
        assert guard.locked_for("owner", "10.0.0.1") == 0
        guard.failed("owner", "10.0.0.1")
    # Locked until the first failure leaves, 5 minutes on, not a window after the last.
    assert 5 * 60 - 5 <= guard.locked_for("owner", "10.0.0.1") <= 5 * 60
    assert guard.locked_for("owner", "10.0.0.2") > 0  # the account, from anywhere
    assert guard.locked_for("admin", "10.0.0.1") == 0  # the address is not locked
    clock.advance(timedelta(minutes=5, seconds=1))
    assert guard.locked_for("owner", "10.0.0.1") == 0
    # A failure now clears the ones that left the window; the others stay and count.
    guard.failed("admin", "10.0.0.3")
    with factory() as s:
        # The first failure's two rows are gone; the later ones and this one's are kept.
        assert s.scalar(select(func.count(LoginFailure.id))) == 2 * (web.login_attempts - 1) + 2
    guard.failed("owner", "10.0.0.4")  # with the later ones still inside: the limit again
    assert guard.locked_for("owner", "10.0.0.4") > 0


# --- sessions -----------------------------------------------------------------------------


def _copy_of(app, persona: Persona):  # type: ignore[no-untyped-def]
    """Another browser holding a copy of the persona's session cookie."""
    cookie = persona.client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_cookie_copied_before_logout_opens_nothing_after_it(app, owner: Persona) -> None:  # type: ignore[no-untyped-def]
    thief = _copy_of(app, owner)
    assert thief.get("/patients/").status_code == 200  # a copy works while the session does
    owner.post("/logout")
    assert _at_login(thief.get("/patients/"))
    assert _at_login(owner.get("/patients/"))


def test_the_session_is_a_row_with_only_a_hash_of_the_token(
    owner: Persona, factory: sessionmaker[Session]
) -> None:
    token = owner.client.get_cookie("session")
    with factory() as s:
        rows = s.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None))).all()
    assert len(rows) == 1 and len(rows[0].token_hash) == 64
    assert token is not None and rows[0].token_hash not in token.value


def test_deactivation_ends_the_sessions_at_once(
    app, owner: Persona, administrator: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    with factory() as s:
        admin_id = s.scalar(select(StaffUser.id).where(StaffUser.login == "admin"))
    second = Persona(app.test_client(), "admin")  # another browser of hers
    assert administrator.get("/").status_code == 200
    owner.post(f"/staff/{admin_id}/deactivate")
    assert _at_login(administrator.get("/"))
    assert _at_login(second.get("/"))
    assert Persona(app.test_client(), None).login("admin", PASSWORDS["admin"]).status_code == 401
    with factory() as s:
        reasons = s.scalars(
            select(StaffSession.ended_reason).where(StaffSession.user_id == admin_id)
        )
        assert set(reasons) == {"deactivated"}


def test_a_password_reset_ends_the_sessions_and_the_old_password(
    app, owner: Persona, administrator: Persona, factory: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    with factory() as s:
        admin_id = s.scalar(select(StaffUser.id).where(StaffUser.login == "admin"))
    page = owner.post(f"/staff/{admin_id}/password").get_data(as_text=True)
    new = re.search(r'id="new-password">.*?<code>([^<]+)</code>', page, re.S)
    assert new is not None
    assert _at_login(administrator.get("/"))
    fresh = Persona(app.test_client(), None)
    assert fresh.login("admin", PASSWORDS["admin"]).status_code == 401
    assert fresh.login("admin", new.group(1)).status_code == 302
    # Shown on the page that answered, never kept in the cookie as a flash message.
    assert new.group(1) not in (owner.client.get_cookie("session").value or "")


def test_the_idle_timeout_and_the_lifetime_end_a_session(
    config: Config, factory: sessionmaker[Session], app_for, clock
) -> None:  # type: ignore[no-untyped-def]
    flask_app = app_for(config.replace(web={"session_idle_minutes": 30, "session_max_hours": 2}))
    persona = Persona(flask_app.test_client(), "admin")
    for _ in range(5):  # kept alive by use: 5 x 20 minutes is past 30 idle minutes
        clock.advance(timedelta(minutes=20))
        assert persona.get("/").status_code == 200
    clock.advance(timedelta(minutes=20))  # 2 hours since the login: the lifetime is over
    assert _at_login(persona.get("/"))

    idle = Persona(flask_app.test_client(), "owner")
    clock.advance(timedelta(minutes=31))
    assert _at_login(idle.get("/"))
    with factory() as s:
        reasons = sorted(s.scalars(select(StaffSession.ended_reason)))
    assert reasons == ["expired", "idle"]


def test_a_login_starts_a_new_cookie_session(app, outsider: Persona) -> None:  # type: ignore[no-untyped-def]
    outsider.client.get("/login")
    with outsider.client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    outsider.login("owner", PASSWORDS["owner"])
    with outsider.client.session_transaction() as sess:
        assert "planted" not in sess


def test_a_csrf_token_of_another_session_is_refused(
    app, owner: Persona, administrator: Persona
) -> None:  # type: ignore[no-untyped-def]
    stolen = administrator.csrf()
    response = owner.client.post("/logout", data={"csrf_token": stolen})
    assert response.status_code == 400
    assert "Форма устарела или подделана" in response.get_data(as_text=True)
    assert owner.get("/").status_code == 200


# --- cookies and headers ------------------------------------------------------------------


@pytest.mark.parametrize(("public_url", "secure"), [("https://panel.clinic.ru", True), ("", False)])
def test_the_session_cookie_is_secure_over_https(
    config: Config, factory, app_for, public_url: str, secure: bool
) -> None:  # type: ignore[no-untyped-def]
    flask_app = app_for(config.replace(web={"public_url": public_url}))
    client = flask_app.test_client()
    persona = Persona(client, None)
    response = persona.login("owner", PASSWORDS["owner"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure
    assert ("Strict-Transport-Security" in response.headers) is secure


@pytest.mark.parametrize(("proto", "secure"), [("https", True), ("http", False)])
def test_the_session_cookie_is_secure_when_the_request_came_over_https(
    config: Config, factory, app_for, proto: str, secure: bool
) -> None:  # type: ignore[no-untyped-def]
    """No public_url, a reverse proxy that terminates TLS: its X-Forwarded-Proto decides."""
    flask_app = app_for(config.replace(web={"public_url": "", "proxies": 1}))
    client = flask_app.test_client()
    client.environ_base["HTTP_X_FORWARDED_PROTO"] = proto
    # Over HTTPS Flask-WTF also wants a same-origin Referer, which a browser sends.
    client.environ_base["HTTP_REFERER"] = f"{proto}://localhost/login"
    response = Persona(client, None).login("owner", PASSWORDS["owner"])
    assert response.status_code == 302
    assert ("Secure" in response.headers["Set-Cookie"]) is secure


@pytest.mark.parametrize(
    "url", ["/login", "/", "/patients/", "/static/style.css", "/no-such-page", "/healthz"]
)
def test_every_response_carries_the_security_headers(owner: Persona, url: str) -> None:
    response = owner.get(url)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "style-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    if not url.startswith("/static/"):
        assert response.headers["Cache-Control"] == "no-store"


def test_errors_are_russian_pages(owner: Persona, administrator: Persona) -> None:
    missing = owner.get("/no-such-page")
    assert missing.status_code == 404 and "Такой страницы нет" in missing.get_data(as_text=True)
    denied = administrator.get("/staff/")
    assert denied.status_code == 403 and "Недостаточно прав" in denied.get_data(as_text=True)
    wrong = owner.get("/logout")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]


def test_no_template_has_inline_script_or_style() -> None:
    """The CSP allows neither: an inline handler or style would silently stop working."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE
    )
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for match in inline.finditer(path.read_text())
    ]
    assert found == []
