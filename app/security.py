"""What every response carries, and the cookies' flags.

A CSP with no inline script or style (the templates use app/static only), no framing,
no MIME sniffing, no referrer leaving the panel, and nothing of the panel's pages kept
in a browser's or proxy's cache: they show patients' names, phones and balances.
"""

from __future__ import annotations

from flask import Flask, Response, has_request_context, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from core.config import WebConfig

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

ERRORS = {
    400: "Запрос не понят: проверьте введённые данные.",
    403: "Недостаточно прав для этой страницы.",
    404: "Такой страницы нет.",
    405: "Так к этой странице обращаться нельзя.",
    413: "Слишком большой запрос.",
    429: "Слишком много запросов. Попробуйте позже.",
}


class _SessionCookies(SecureCookieSessionInterface):
    """The session cookie is Secure when web.public_url says https, and also whenever the
    request itself came over HTTPS (directly, or through a proxy trusted with web.proxies
    that says so in X-Forwarded-Proto): a panel reached by https:// without a public_url
    set must not hand its session to a later plain-http request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def init_app(app: Flask, web: WebConfig) -> None:
    app.session_interface = _SessionCookies()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=web.https,
        REMEMBER_COOKIE_SECURE=web.https,
        # The CSRF token lives as long as the session; the session's own idle timeout
        # and lifetime bound it, not a clock of its own that breaks a page left open.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if web.proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=web.proxies, x_proto=web.proxies, x_host=web.proxies
        )

    @app.after_request
    def headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if web.https:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            h["Cache-Control"] = "no-store"
            h.pop("Expires", None)
        return response

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> tuple[str, int]:  # Flask-WTF's reason is English
        message = "Форма устарела или подделана: обновите страницу и попробуйте ещё раз."
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> BaseResponse:
        response = exc.get_response()  # keeps Allow, Retry-After and the like
        code = exc.code or 500
        if code < 400 or request.path.startswith(("/healthz", "/metrics", "/telegram")):
            return response
        # A view's own description (abort(400, "...")) is shown; werkzeug's English
        # defaults are replaced by the Russian text for the code.
        own = exc.description if exc.description != type(exc).description else None
        message = own or ERRORS.get(code, "Ошибка.")
        response.set_data(render_template("error.html", code=code, message=message))
        response.content_type = "text/html; charset=utf-8"
        return response
