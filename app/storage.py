"""The local store made ready before anything else touches it: the data directory, the
schema, and on a fresh install the first owner account.

Its own module because three starters need it (`kabinet run`, `kabinet sync --once`
and the demo): each imports it from here, so none of them imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from core.config import Config
from core.db import make_engine, session_factory, transaction
from core.migrate import UnsupportedUpgrade, upgrade
from core.staff import create_user, has_users


def prepare_storage(config: Config) -> None:
    """Data directory and schema, before anything else touches the store."""
    Path(config.storage.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.url)
    try:
        upgrade(engine, Path(config.storage.data_dir, "migrate.lock"))
    except UnsupportedUpgrade as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def ensure_owner(
    config: Config, announce: Callable[[str], None] = click.echo, login: str = "owner"
) -> str | None:
    """On a fresh install, create the first owner account and show its password once."""
    engine = make_engine(config.storage.url)
    try:
        with transaction(session_factory(engine)) as session:
            if has_users(session):
                return None
            _, password = create_user(session, login, "owner", full_name="Владелец")
    finally:
        engine.dispose()
    announce(
        f"First owner account: login {login!r}, password {password!r} "
        "(change it or add users with `kabinet user add`)"
    )
    return password
