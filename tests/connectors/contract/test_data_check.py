"""`kabinet mis check` on what the data says, on each real engine: phones that cannot be read
as numbers of clinic.phone_region are counted and not stored, and most phones unread, or most
visits outside opening hours in the configured zones, are the signs of a wrong phone_region
or time zone. Each engine gets a database of its own for this module, holding only its
patients and visits, so every count is exact."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from app.cli import cli
from sandbox.demo import write_config
from tests.connectors.contract.conftest import MARKS
from tests.connectors.contract.engines import (
    MIS_TZ,
    MisEngine,
    ident_postgres,
    infodent_firebird,
    opendental_mariadb,
)

FRESH: dict[str, Callable[[], AbstractContextManager[MisEngine]]] = {
    "ident": ident_postgres,
    "infodent": infodent_firebird,
    "opendental": opendental_mariadb,
}
# Five phones with digits, two of them no number of Russia; "нет" is no phone at all.
PHONES = (
    "8 (912) 345-67-89",
    "8 495 123-45-67",
    "+44 20 7946 0958",
    "(453) 310-8759",
    "12-34",
    "нет",
)
NAMES = ("Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор")
CLINIC_TZ = ZoneInfo("Europe/Moscow")
# A winter day (no summer time anywhere involved) and visits in the clinic's day; the MIS
# server's clock (Yekaterinburg) is two hours ahead of the clinic's.
DAY = date(2031, 1, 14)
VISITS = (time(10, 0), time(12, 30), time(15, 0), time(18, 0))


@pytest.fixture(scope="module", params=[pytest.param(p, marks=MARKS[p]) for p in FRESH])
def fresh(request: pytest.FixtureRequest) -> Iterator[tuple[MisEngine, list[str]]]:
    with FRESH[request.param]() as engine:
        writer = engine.writer_factory()
        try:
            doctor = writer.add_doctor("Часова", "Ольга", "Петровна")
            patients = [
                writer.add_patient("Номерова", name, "Ивановна", phone, date(1980, 1, 1 + i))
                for i, (name, phone) in enumerate(zip(NAMES, PHONES, strict=True))
            ]
            for patient, at in zip(patients, VISITS, strict=False):
                start = datetime.combine(DAY, at, tzinfo=CLINIC_TZ).astimezone(MIS_TZ)
                writer.book(patient, doctor, start.replace(tzinfo=None))
        finally:
            writer.close()
        yield engine, patients


def _check(tmp_path: Path, engine: MisEngine, *args: str, **sections: dict[str, Any]) -> Any:
    config = engine.sections(tmp_path)
    for name, keys in sections.items():
        config[name] = {**config[name], **keys}
    path = tmp_path / f"kabinet-{len(list(tmp_path.glob('kabinet-*.toml')))}.toml"
    write_config(path, config)
    return CliRunner().invoke(cli, ["--config", str(path), "mis", *args], catch_exceptions=False)


def _line(output: str, prefix: str) -> str:
    return next(ln for ln in output.splitlines() if ln.startswith(prefix))


def test_phones_that_cannot_be_read_are_counted_and_not_stored(
    fresh: tuple[MisEngine, list[str]], tmp_path: Path
) -> None:
    engine, patients = fresh
    result = _check(tmp_path, engine, "check")
    assert result.exit_code == 0, result.output
    assert _line(result.output, "✓ phones:") == (
        "✓ phones: 2 of 5 phones could not be read as numbers of region RU, "
        "e.g. '(453) 310-8759', '12-34'; they are not stored"
    )
    assert _line(result.output, "✓ visit times:") == (
        "✓ visit times: 4 of 4 visits start within 07:00–22:00 Europe/Moscow time"
    )
    assert "⚠" not in result.output
    dump = _check(tmp_path, engine, "dump", "patient")
    phones = {r["mis_id"]: r["phones"] for r in map(json.loads, dump.output.splitlines())}
    assert [phones[p] for p in patients] == [
        ["+79123456789"],
        ["+74951234567"],
        ["+442079460958"],
        [],
        [],
        [],
    ]


def test_a_wrong_phone_region_is_told(fresh: tuple[MisEngine, list[str]], tmp_path: Path) -> None:
    engine, _ = fresh
    result = _check(tmp_path, engine, "check", clinic={"phone_region": "US"})
    assert result.exit_code == 0, result.output  # a warning: every query works
    line = _line(result.output, "⚠ phones:")
    assert line.startswith(
        "⚠ phones: 4 of 5 phones could not be read as numbers of region US, "
        "e.g. '8 (912) 345-67-89', '8 495 123-45-67', '(453) 310-8759' — most of them: "
        "is clinic.phone_region right?"
    ), line


@pytest.mark.parametrize("section", ["mis", "clinic"])
def test_a_wrong_time_zone_is_told(
    fresh: tuple[MisEngine, list[str]], tmp_path: Path, section: str
) -> None:
    # Los Angeles for the MIS server's clock: 12:00 there is 23:00 in Moscow. Los Angeles
    # for the clinic: the visits, read right, are at night there. Either way three of the
    # four visits start outside the hours a clinic keeps, as the configuration reads them.
    engine, _ = fresh
    result = _check(tmp_path, engine, "check", **{section: {"timezone": "America/Los_Angeles"}})
    assert result.exit_code == 0, result.output
    zone = "America/Los_Angeles" if section == "clinic" else "Europe/Moscow"
    mis_zone = "America/Los_Angeles" if section == "mis" else "Asia/Yekaterinburg"
    assert _line(result.output, "⚠ visit times:") == (
        f"⚠ visit times: 3 of 4 visits start outside 07:00–22:00 {zone} time (the "
        "configuration has no opening hours; Kabinet assumes these) — is clinic.timezone "
        f"right, and mis.timezone, the zone of the MIS server's clock (read as {mis_zone})?"
    )
