"""Profiles as data: macros per dialect, validation, overrides; the IDENT T-SQL stays T-SQL;
error messages in clinic IT's words; credentials never leak."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlalchemy import select

from connectors.base import ConnectorError
from connectors.diagnose import explain, qualified_column
from connectors.drivers import parse_url_dsn, qmark_to_format
from connectors.profiles import known_profiles, load_profile
from connectors.registry import open_connector
from connectors.sql import SqlConnector
from connectors.sync import SyncEngine
from core.config import ConfigError
from core.health import retry_delay
from core.models import Appointment, DomainEvent
from sandbox.demo_clinic import DemoClinic
from tests.conftest import make_config


def test_every_profile_loads_and_every_query_has_its_cursor() -> None:
    assert known_profiles() == ["demo", "ident", "infodent", "opendental"]
    for name in known_profiles():
        profile = load_profile(name)
        records = {q.record for q in profile.entities.values()}
        assert {"doctor", "patient", "appointment", "payment", "payment_reversal"} <= records
        for entity in profile.entities:
            rendered = profile.render(entity, 7, profile.dialect)
            assert rendered.slots and "{" not in rendered.sql, (name, entity)


def test_ident_tsql_parses_as_tsql_with_sargable_rowversion_cursors() -> None:
    # SQL Server cannot run here: at least every query must be valid T-SQL as rendered for it.
    profile = load_profile("ident")
    for entity, query in profile.entities.items():
        sql = profile.sql_for(entity, 100, "tsql")
        sqlglot.parse_one(sql, read="tsql")
        if query.strategy == "monotonic":
            assert "> CAST(CAST(? AS BIGINT) AS BINARY(8))" in sql
            assert "< MIN_ACTIVE_ROWVERSION()" in sql
        else:
            assert ">= CAST(? AS DATETIME) AND" in sql
        assert "TOP 100" in sql


def test_macros_render_per_dialect_and_name_their_parameters() -> None:
    ident = load_profile("ident")
    pg = ident.render("appointment", 5, "postgres")
    assert "r.RowVersion > ?" in pg.sql and "BINARY" not in pg.sql and "LIMIT 5" in pg.sql
    assert "%s" not in pg.sql and pg.slots == ("cursor",)
    window = ident.render("appointment_window", 5, "postgres")
    assert "r.PlanStart >= ? AND r.ID > ?" in window.sql
    assert window.slots == ("window_start", "key")
    od = load_profile("opendental").render("patient", 5, "mysql")
    assert "p.DateTStamp >= ? AND (p.DateTStamp > ? OR p.PatNum > ?)" in od.sql
    assert od.slots == ("ts", "ts", "key")


def _override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_replace_add_and_switch_off_queries(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        '[entity.payment]\nmethod_map = { "Сертификат" = "bonus" }\n'
        "[entity.payment_window]\nenabled = false\n"
        "[entity.appointment_window]\nwindow_days = 3\nreread_seconds = 60\n",
    )
    profile = load_profile("ident", path)
    assert profile.entities["payment"].method_map == {"Сертификат": "bonus"}
    assert "PaymentsIn" in profile.entities["payment"].sql  # the rest is the built-in's
    assert "payment_window" not in profile.entities
    assert (
        profile.entities["appointment_window"].window_days,
        profile.entities["appointment_window"].reread_seconds,
    ) == (3, 60)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[entity.payment]\nsq1 = 'x'\n", "unknown key(s) sq1"),
        ('[entity.patient]\nstrategy = "timestamp"\n', "strategy 'timestamp' needs {changed(...)}"),
        ('[entity.visits]\nsql = "SELECT 1 WHERE {after_key(ID)}"\n', "record = ''"),
        ("[entity.payment]\nwindow_days = -1\n", "window_days = -1"),
        ("[entity.payment\n", "cannot read"),
        ("[profile]\nname = 'x'\n", "only [entity.NAME] tables"),
    ],
)
def test_a_broken_override_says_what_is_wrong(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        load_profile("ident", _override(tmp_path, text))
    assert caught.value.kind == "config" and complaint in str(caught.value)


def test_config_refuses_an_override_file_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mis.profile_overrides"):
        make_config(tmp_path, mis={"profile_overrides": str(tmp_path / "nope.toml")})


def test_qmark_placeholders_become_format_ones_outside_literals() -> None:
    sql = "SELECT '50%?' AS a, `x?` FROM t -- what?\nWHERE a LIKE 'q%' AND b > ? AND c = ?"
    assert qmark_to_format(sql) == (
        "SELECT '50%%?' AS a, `x?` FROM t -- what?\nWHERE a LIKE 'q%%' AND b > %s AND c = %s"
    )


def test_url_dsns_carry_user_password_path_and_options() -> None:
    url = parse_url_dsn(
        "firebird://KABINET_RO:p%40ss@db:3051//var/lib/x.fdb?charset=WIN1251&role=RO",
        "firebird",
        "example",
    )
    assert (url.host, url.port, url.user, url.password, url.database) == (
        "db",
        3051,
        "KABINET_RO",
        "p@ss",
        "/var/lib/x.fdb",
    )
    assert url.options == {"charset": "WIN1251", "role": "RO"}
    with pytest.raises(ConnectorError, match="expected a mysql:// address"):
        parse_url_dsn("db-host:3306", "mysql", "mysql://u@h/db")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("[42S22] Invalid column name 'PlanStart'.", "Receptions.PlanStart"),
        ("[42703] ERROR: column r.planstart does not exist", "Receptions.PlanStart"),
        ("no such column: r.PlanStart", "Receptions.PlanStart"),
        ("Column unknown R.PLANSTART At line 1", "Receptions.PlanStart"),
    ],
)
def test_a_missing_column_is_named_by_table(message: str, expected: str) -> None:
    profile = load_profile("ident")
    error = ConnectorError(message, retryable=False, kind="missing_column")
    line = explain("appointment", error, profile, query_timeout=10)
    assert line == (
        f"✗ appointment: column {expected} not found — check the IDENT version or override "
        "entity.appointment.sql in mis.profile_overrides"
    )


def test_diagnoses_for_tables_grants_and_timeouts() -> None:
    od = load_profile("opendental")
    assert (
        qualified_column(od.entities["appointment"].sql, "a.AptDateTime")
        == "appointment.AptDateTime"
    )
    table = ConnectorError(
        "(1146) Table 'od.histappointment' doesn't exist", retryable=False, kind="missing_column"
    )
    assert explain("appointment_history", table, od, query_timeout=10).startswith(
        "✗ appointment_history: table histappointment not found — check the Open Dental version"
    )
    denied = ConnectorError(
        "(1142) SELECT command denied to user 'ro'@'host' for table `od`.`paysplit`",
        retryable=False,
        kind="permission",
    )
    line = explain("payment_split_refund", denied, od, query_timeout=10)
    assert line.startswith(
        "✗ payment_split_refund: permission denied on paysplit — grant the Kabinet account "
        "SELECT on payment, paysplit "
    ), line
    slow = ConnectorError("query timed out", retryable=True, kind="timeout")
    assert "did not finish within 10 s" in explain("patient", slow, od, query_timeout=10)


class _EchoingDriver:
    """A driver whose errors quote the connection string, as some ODBC drivers do."""

    name = "echo"
    dialect = "sqlite"

    def connect(self, dsn: str, timeout_seconds: int, password: str = "") -> Any:
        raise RuntimeError(f"cannot open {dsn} with password {password}")

    def classify(self, exc: BaseException) -> ConnectorError:
        return ConnectorError(str(exc), retryable=True, kind="unreachable")


def test_credentials_are_redacted_from_errors(caplog: pytest.LogCaptureFixture) -> None:
    from zoneinfo import ZoneInfo

    connector = SqlConnector(
        load_profile("ident"),
        _EchoingDriver(),
        "DRIVER={x};SERVER=db;UID=ro;PWD=Hidden-Pa55",
        mis_tz=ZoneInfo("Europe/Moscow"),
        password="Other-Secret-9",
    )
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    text = str(caught.value)
    assert "Hidden-Pa55" not in text and "Other-Secret-9" not in text and "PWD=***" in text
    assert "Hidden-Pa55" not in repr(connector)


def test_backoff_doubles_from_the_poll_interval_up_to_the_cap(tmp_path: Path) -> None:
    config = make_config(tmp_path, mis={"poll_seconds": 15, "retry_max_seconds": 300})
    delays = [retry_delay(config, n).total_seconds() for n in range(1, 8)]
    assert delays == [15, 30, 60, 120, 240, 300, 300]
    assert retry_delay(config, 1, retryable=False) == timedelta(seconds=300)


def test_a_window_read_that_loses_most_rows_is_refused(
    tmp_path: Path, factory: Any, demo_clinic: DemoClinic
) -> None:
    # An override whose window returns nothing (a broken WHERE) must not cancel the week.
    path = _override(
        tmp_path,
        "[entity.appointment_window]\nreread_seconds = 0\nwindow_days = 400\n"
        'sql = """SELECT TOP {limit} r.ID AS mis_id, r.ID_Patients AS patient_id, '
        "r.PlanStart AS starts_at, r.PlanEnd AS ends_at, 'scheduled' AS status, "
        "r.ID AS sync_cursor FROM Receptions AS r WHERE 1 = 0 AND {window(r.PlanStart, r.ID)} "
        'ORDER BY r.ID"""\n'
        "[entity.deletion]\nenabled = false\n",
    )
    config = make_config(tmp_path, mis={"profile_overrides": str(path)})
    connector = open_connector(config)
    sync = SyncEngine(connector, factory)
    first = sync.run_once()
    second = sync.run_once()
    connector.close()
    for report in (first, second):
        assert len(report.problems) == 1, report.problems
        assert "not treating them as deleted" in report.problems[0]
    with factory() as s:
        assert s.scalar(select(Appointment).where(Appointment.deleted.is_(True))) is None
        assert (
            s.scalar(select(DomainEvent).where(DomainEvent.kind == "appointment.cancelled")) is None
        )


# The MIS server's own clock, in any of the profiles' dialects.
_SERVER_CLOCK = re.compile(
    r"\b(NOW|GETDATE|GETUTCDATE|SYSDATETIME|SYSUTCDATETIME|SYSDATETIMEOFFSET|CURRENT_TIMESTAMP"
    r"|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME|SYSDATE|UTC_TIMESTAMP|CURDATE"
    r"|CURTIME)\b",  # NOW also finds SQLite's date('now')
    re.IGNORECASE,
)


def test_no_query_reads_the_mis_servers_clock() -> None:
    """Kabinet's clock is "now" (core.clock, or the engine's injected one): a window's start
    is a parameter. A query reading the server's clock would move with a server whose clock
    is wrong or in another zone, and no test freezing Kabinet's time could reach it."""
    engines = {"tsql": ("tsql", "sqlite", "postgres"), "firebird": ("firebird",)}
    windows = 0
    for name in known_profiles():
        profile = load_profile(name)
        for entity, query in profile.entities.items():
            for target in engines.get(profile.dialect, (profile.dialect,)):
                rendered = profile.render(entity, 7, target)
                found = _SERVER_CLOCK.findall(rendered.sql)
                assert not found, (name, entity, target, found)
                if query.strategy == "window":
                    assert "window_start" in rendered.slots, (name, entity, target)
                    windows += 1
            assert not _SERVER_CLOCK.findall(query.start_sql), (name, entity)
    assert windows >= 6
    assert _SERVER_CLOCK.search("WHERE r.PlanStart >= DATEADD(day, -1, GETDATE())")
    assert _SERVER_CLOCK.search("WHERE paid_at > date('now', '-30 days')")
