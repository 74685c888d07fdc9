"""The Flask app factory: the admin panel and /healthz.

One blueprint module per panel screen under app/views. The app never runs jobs: that is
the runner's work (jobs/runner.py), so any number of web workers is safe.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from core import __version__
from core.config import Config, load
from core.db import engine_options
from core.staff import ROLE_LABELS

# The store's integers are 64-bit signed (SQLite's INTEGER, PostgreSQL's BIGINT): the
# driver raises OverflowError for a Python int outside this range instead of finding no row.
STORE_INT_MIN = -(2**63)
STORE_INT_MAX = 2**63 - 1


def _decimal_at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to `limit` (leading zeros as werkzeug's \\d+
    allows them, up to the limit's length): shorter ones, then the limit's length digit by
    digit, each branch below the limit's digit at one place and equal before it."""
    digits = str(limit)
    width = len(digits)
    branches = [rf"\d{{1,{width - 1}}}"]
    for i, d in enumerate(digits):
        if d != "0":
            rest = width - i - 1
            branches.append(digits[:i] + f"[0-{int(d) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    branches.append(digits)
    return "(?:" + "|".join(branches) + ")"


class StoreIntConverter(IntegerConverter):
    """The panel's ``<int:...>``: werkzeug's, bounded to what the store can hold. An id
    past 2**63 - 1 in a path (/tasks/100000000000000000000) then matches no route and is a
    404 like any unknown id, instead of reaching the database and ending in a 500.

    The bound is in the regex, not only in ``max``: werkzeug checks ``max`` after it has
    picked a rule, and when that check fails on a path that another method's rule also
    matched (GET and POST /care/<id>) it answers 405, not 404."""

    regex = _decimal_at_most(STORE_INT_MAX)

    def __init__(
        self,
        map: Map,  # noqa: A002  (werkzeug's name for it)
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(
            map,
            fixed_digits,
            STORE_INT_MIN if min is None else min,
            STORE_INT_MAX if max is None else max,
            signed,
        )


def in_store_range(number: int) -> bool:
    """Whether an id read from a query or a form (``type=int`` takes any size) can be
    looked up at all; one that cannot names no row, and the view answers as for any id the
    store lacks."""
    return STORE_INT_MIN <= number <= STORE_INT_MAX


def _secret_key(config: Config) -> str:
    if config.web.secret_key:
        return config.web.secret_key
    # Generated once and kept beside the data, so sessions survive restarts. The web
    # workers start together on a fresh install: each writes a complete candidate and
    # links it into place atomically, so all of them read the one that won.
    path = Path(config.storage.data_dir, "secret_key")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        candidate = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another worker was first
        finally:
            candidate.unlink()
    return path.read_text().strip()


def create_app(config: Config | None = None) -> Flask:
    if config is None:
        config = load(os.environ.get("KABINET_CONFIG") or None)
    app = Flask(__name__)
    # Before any blueprint is registered: every <int:...> route is built with this one.
    app.url_map.converters["int"] = StoreIntConverter
    app.config.update(
        SECRET_KEY=_secret_key(config),
        SQLALCHEMY_DATABASE_URI=config.storage.url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(config.storage.url),
        KABINET=config,
    )
    from app import audit, security
    from app.extensions import db

    db.init_app(app)
    security.init_app(app, config.web)
    audit.init_app()

    from app import formatting, labels

    formatting.register(app, config.clinic.tz)
    labels.register(app, config.clinic.tz)

    from app import auth, permissions
    from app.views import (
        audit_log,
        bonus_screenshots,
        campaigns,
        care,
        consent,
        dashboard,
        delivery,
        documents,
        health,
        loyalty,
        patients,
        reports,
        review_links,
        settings,
        staff,
        task_reports,
        tasks,
        telegram,
    )
    from app.views import max as max_messenger

    auth.init_app(app)
    for module in (
        auth,
        health,
        dashboard,
        patients,
        tasks,
        bonus_screenshots,
        task_reports,
        reports,
        review_links,
        delivery,
        campaigns,
        telegram,
        max_messenger,
        loyalty,
        care,
        consent,
        documents,
        settings,
        staff,
        audit_log,
    ):
        app.register_blueprint(module.bp)
    auth.csrf.exempt(telegram.webhook)  # Telegram proves itself with the webhook secret
    auth.csrf.exempt(max_messenger.webhook)  # and MAX with its subscription's secret

    @app.context_processor
    def inject_globals() -> dict[str, object]:
        return {
            "clinic": config.clinic,
            "version": __version__,
            "current_user": auth.current_user(),
            "may": permissions.may,
            "role_labels": ROLE_LABELS,
        }

    return app
