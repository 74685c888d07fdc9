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
from core.db import make_engine, session_factory
from core.migrate import UnsupportedUpgrade, upgrade
from core.staff import has_users


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


NO_ACCOUNT = (
    "No staff account yet: create the owner with `kabinet user add owner --role owner` "
    "(its password is shown once, on that terminal)."
)


def ensure_owner(config: Config, announce: Callable[[str], None] = click.echo) -> bool:
    """At start, on a store with no staff account, say how to make the owner; True if one
    exists. The owner is not made here: its password would land in the service's log (the
    journal). The installer creates it and shows the password once on the terminal."""
    engine = make_engine(config.storage.url)
    try:
        with session_factory(engine)() as session:
            if has_users(session):
                return True
    finally:
        engine.dispose()
    announce(NO_ACCOUNT)
    return False
