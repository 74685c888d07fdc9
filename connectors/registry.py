"""Profile name -> driver module, imported lazily so a missing driver breaks only its profile."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import ConnectorError
from connectors.profiles import load_profile
from connectors.sql import SqlConnector
from core.config import Config

# A profile's `driver` -> the module that wraps that Python package.
DRIVERS: dict[str, str] = {
    "sqlite": "connectors.drivers.sqlite",
    "pyodbc": "connectors.drivers.odbc",
    "fdb": "connectors.drivers.firebird",
    "pymysql": "connectors.drivers.mysql",
}

# setup.cfg extras that install each driver's package
_EXTRAS = {"pyodbc": "mssql", "fdb": "firebird", "pymysql": "mysql"}


def load_driver(name: str) -> Any:
    try:
        module_name = DRIVERS[name]
    except KeyError:
        raise ConnectorError(f"no driver named {name!r}", retryable=False, kind="config") from None
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name, name)
        raise ConnectorError(
            f"the {name} driver is not installed ({exc.name}); "
            f"install it with: pip install 'kabinet[{extra}]'",
            retryable=False,
            kind="config",
        ) from None


def open_connector(config: Config, profile_overrides: str | None = None) -> SqlConnector:
    """The clinic's connector; nothing connects until the first read."""
    profile = load_profile(config.mis.profile, profile_overrides or config.mis.profile_overrides)
    driver = load_driver(profile.driver)
    return SqlConnector(
        profile,
        driver,
        config.mis.dsn,
        mis_tz=config.mis_tz,
        phone_region=config.clinic.phone_region,
        query_timeout=config.mis.query_timeout_seconds,
        password=config.mis.password,
        write_dsn=config.mis.write_dsn if config.mis.write_back_confirmations else "",
    )
