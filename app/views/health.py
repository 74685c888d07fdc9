"""/healthz: for the installer's update check, Docker's HEALTHCHECK and monitoring."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import text

from app.extensions import db
from core import __version__
from core.health import mis_health
from core.migrate import head_revision

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    status: dict[str, Any] = {"status": "ok", "version": __version__}
    try:
        rows = db.session.execute(text("SELECT version_num FROM alembic_version")).scalars()
        revision = "+".join(sorted(rows))
        status["schema"] = "current" if revision == head_revision() else f"outdated ({revision})"
        status["mis"] = mis_health(db.session())
    except Exception as exc:  # the answer must say what is wrong, not crash
        current_app.logger.warning("healthz: %s", exc)
        return {"status": "error", "version": __version__, "error": "database unavailable"}, 503
    if status["schema"] != "current":
        status["status"] = "error"
        return status, 503
    return status
