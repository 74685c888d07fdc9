"""One MIS database per engine per test session, created on the real server and dropped
at the end; `mis` runs a test once per profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.contract.engines import (
    MisEngine,
    demo_sqlite,
    ident_postgres,
    infodent_firebird,
    opendental_mariadb,
)

PROFILES = ("demo", "ident", "infodent", "opendental")
MARKS = {
    "ident": pytest.mark.postgres,
    "infodent": pytest.mark.firebird,
    "opendental": pytest.mark.mariadb,
}


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MisEngine]:
    with demo_sqlite(tmp_path_factory.mktemp("demo-mis")) as engine:
        yield engine


@pytest.fixture(scope="session")
def ident_engine() -> Iterator[MisEngine]:
    with ident_postgres() as engine:
        yield engine


@pytest.fixture(scope="session")
def infodent_engine() -> Iterator[MisEngine]:
    with infodent_firebird() as engine:
        yield engine


@pytest.fixture(scope="session")
def opendental_engine() -> Iterator[MisEngine]:
    with opendental_mariadb() as engine:
        yield engine


@pytest.fixture(params=[pytest.param(p, marks=MARKS.get(p, ())) for p in PROFILES])
def mis(request: pytest.FixtureRequest) -> MisEngine:
    engine: MisEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def mis_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def config(mis: MisEngine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The clinic's configuration for this engine (the shared `factory` builds on it)."""
    return mis.config(tmp_path)
