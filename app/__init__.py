"""The Flask app factory: the admin panel and /healthz.

One blueprint module per panel screen under app/views. The app never runs jobs: that is
the runner's work (jobs/runner.py), so any number of web workers is safe.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from app.routing import StoreIntConverter
from core import __version__
from core.config import Config, load
from core.db import engine_options
from core.staff import ROLE_LABELS


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
