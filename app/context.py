"""What every screen reads from the request's context: the clinic's configuration and the
signed-in staff member. One place, so a view never reaches into ``current_app.config`` by
hand or repeats the "a protected route always has a user" check."""

from __future__ import annotations

from flask import current_app

from app.auth import current_user
from core.config import Config
from core.models import StaffUser


def clinic_config() -> Config:
    """The appliance's configuration, as loaded by the app factory."""
    config: Config = current_app.config["KABINET"]
    return config


def signed_in() -> StaffUser:
    """The staff member of this request; only for routes under ``@requires`` (which sends
    a visitor who is not signed in to the login page before the view runs)."""
    user = current_user()
    if user is None:  # pragma: no cover - requires() has already refused the request
        raise RuntimeError("signed_in() on a route without @requires")
    return user
