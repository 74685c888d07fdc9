"""One module per database engine. Each is imported only when its profile is used, so a
clinic without Firebird client libraries can still run the IDENT profile."""

from __future__ import annotations

from typing import Any, Protocol

from connectors.base import ConnectorError


class Driver(Protocol):
    name: str
    dialect: str  # sqlglot dialect of this engine

    def connect(self, dsn: str, timeout_seconds: int, password: str = "") -> Any: ...

    def classify(self, exc: BaseException) -> ConnectorError: ...
