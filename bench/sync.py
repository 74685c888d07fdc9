"""Sync benchmark: the initial import and the cost of a poll, on IDENT-shaped data (the
demo clinic in SQLite, read through the IDENT profile's T-SQL) and on Open Dental-shaped
data in MariaDB, at one clinic's scale: 30,000 patients, 600,000 visits, 400,000 payments.

    .venv/bin/python bench/sync.py [--scale 0.1] [--skip-opendental] [--data-dir var/bench]

Measured, for each:
  * the initial import (wall time) and the importing process's peak memory (RSS);
  * a poll when nothing changed, in total and per query ("entity");
  * a poll after 100 visits were moved, beside the raw driver fetching the same 100 rows
    with the same query in one go (the ratio is what Kabinet's mapping, mirror and events
    cost on top of reading);
  * Open Dental only: the histappointment cursor's no-change query against a
    `WHERE DateTStamp > ?` scan as the appointment table grows (150k, 300k, 600k rows).
Each phase runs in its own process, so one import's memory does not hide another's.
Figures go to stdout; the last line is one JSON object (units in the key names). The demo
clinic's database is generated once (about a minute) and reused from --data-dir.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATIENTS = 30_000
VISITS = 600_000
PAYMENTS = 400_000
CHANGES = 100


def _child(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase in a fresh process (its own peak RSS) and return its figures."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(func, args)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median_ms(func: Callable[[], Any], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 2)


def _store(directory: Path) -> Any:
    from core.db import make_engine, session_factory
    from core.migrate import upgrade

    directory.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{directory / 'kabinet.sqlite3'}")
    upgrade(engine, directory / "migrate.lock")
    return session_factory(engine)


class _EntityTimer:
    """Per-query wall time of a poll, by wrapping the connector's read."""

    def __init__(self, connector: Any) -> None:
        self.times: Counter[str] = Counter()
        original = connector.read_changes

        def timed(entity: str, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(entity, *args, **kwargs)
            finally:
                self.times[entity] += (time.perf_counter() - start) * 1000

        connector.read_changes = timed


class _SyncJob:
    """A poll as the runner's sync job makes it: the sync, then the no-show sweep."""

    def __init__(self, sync: Any) -> None:
        from core.visits.no_show_sweep import NoShowSweep

        self.sync = sync
        self.no_shows = NoShowSweep(sync.factory, clock=sync.clock)

    def plan(self) -> list[tuple[str, str]]:
        return list(self.sync.plan())

    def run_once(self) -> Any:
        report = self.sync.run_once()
        report.events.extend(self.no_shows.run(live="appointment" in report.live))
        return report


def _poll_figures(
    prefix: str,
    sync: Any,
    timer: _EntityTimer,
    change: Callable[[int], None],
    raw_fetch: Callable[[], int],
    indexed: set[str],
) -> dict[str, Any]:
    """No-change and 100-change polls, and the raw fetch of the same changes."""
    out: dict[str, Any] = {}
    sync.run_once()  # settle: window re-reads and the no-show sweep's first pass
    nochange, per_entity = [], Counter[str]()
    for _ in range(7):
        timer.times.clear()
        start = time.perf_counter()
        report = sync.run_once()
        nochange.append((time.perf_counter() - start) * 1000)
        assert not report.events, report.events
        for entity, ms in timer.times.items():
            per_entity[entity] = max(per_entity[entity], ms)
    entities = len(sync.plan())
    out[f"{prefix}_poll_nochange_ms"] = round(statistics.median(nochange), 2)
    out[f"{prefix}_poll_nochange_per_entity_ms"] = round(statistics.median(nochange) / entities, 2)
    out[f"{prefix}_poll_nochange_worst_indexed_entity_ms"] = round(
        max(v for k, v in per_entity.items() if k in indexed), 2
    )
    slowest = max(per_entity, key=lambda k: per_entity[k])
    out[f"{prefix}_poll_nochange_slowest_entity"] = slowest
    out[f"{prefix}_poll_nochange_slowest_entity_ms"] = round(per_entity[slowest], 2)

    polls, raws = [], []
    for round_no in range(5):
        # The raw fetch reads the changed rows first (the cursor is still before them),
        # then Kabinet's poll reads and applies them.
        change(round_no)
        start = time.perf_counter()
        fetched = raw_fetch()
        raws.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        report = sync.run_once()
        polls.append((time.perf_counter() - start) * 1000)
        moved = {subject for kind, subject in report.events if kind == "appointment.moved"}
        assert fetched >= CHANGES and len(moved) == CHANGES, (
            fetched,
            sorted(moved),
            report.summary(),
        )
    out[f"{prefix}_poll_100_changes_ms"] = round(statistics.median(polls), 2)
    out[f"{prefix}_raw_fetch_100_rows_ms"] = round(statistics.median(raws), 2)
    out[f"{prefix}_poll_100_vs_raw_ratio"] = round(
        statistics.median(polls) / statistics.median(raws), 1
    )
    return out


# -- IDENT shape: the demo clinic in SQLite ------------------------------------------------


def build_ident(path: str, scale: float) -> dict[str, Any]:
    from sandbox.demo_clinic import build_demo_clinic

    patients = int(PATIENTS * scale)
    start = time.perf_counter()
    build_demo_clinic(
        path,
        patients=patients,
        receptions_per_patient=VISITS / PATIENTS,
        payments_per_reception=PAYMENTS / VISITS,
        doctors=max(10, int(80 * scale)),
        history_days=1460,
        seed=1,
    )
    con = sqlite3.connect(path)
    counts = {
        t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("Patients", "Receptions", "PaymentsIn")
    }
    con.close()
    return {"built_s": round(time.perf_counter() - start, 1), **counts}


def bench_ident(path: str, work: str) -> dict[str, Any]:
    from connectors.registry import open_connector
    from connectors.sync import SyncEngine
    from sandbox.demo_clinic.wallclock import clinic_now
    from tests.conftest import make_config

    out: dict[str, Any] = {}
    config = make_config(Path(work), mis={"profile": "demo", "dsn": path})
    factory = _store(Path(config.storage.data_dir))
    connector = open_connector(config)
    sync = SyncEngine(connector, factory, batch_size=5000)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    report = sync.run_once()
    out["ident_import_s"] = round(time.perf_counter() - start, 1)
    out["ident_import_rows"] = sum(report.read.values())
    out["ident_import_peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["ident_rss_before_import_mb"] = round(rss_before, 1)

    sync.batch_size = 1000  # the appliance's poll size
    timer = _EntityTimer(connector)
    mis = sqlite3.connect(path)
    upcoming = [
        r[0]
        for r in mis.execute(
            "SELECT ID FROM Receptions WHERE PlanStart > ? AND ReceptionCanceled IS NULL"
            " ORDER BY ID LIMIT ?",
            (str(clinic_now() + timedelta(days=2))[:19], CHANGES),
        )
    ]
    assert len(upcoming) == CHANGES, "not enough upcoming visits to move"
    profile = connector.profile
    raw_sql = profile.render("appointment", 1000, "sqlite").sql
    state: dict[str, int] = {}

    def change(round_no: int) -> None:
        state["cursor"] = mis.execute("SELECT Value FROM RowVersionCounter").fetchone()[0]
        marks = ",".join("?" * len(upcoming))
        mis.execute(
            "UPDATE Receptions SET PlanStart = datetime(PlanStart, '+5 minutes'),"
            f" PlanEnd = datetime(PlanEnd, '+5 minutes') WHERE ID IN ({marks})",
            upcoming,
        )
        mis.commit()

    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def raw_fetch() -> int:
        return len(raw.execute(raw_sql, (state["cursor"],)).fetchall())

    indexed = set(connector.entities())  # every IDENT query has an indexed cursor
    out.update(_poll_figures("ident", _SyncJob(sync), timer, change, raw_fetch, indexed))
    connector.close()
    return out


# -- Open Dental shape: MariaDB ------------------------------------------------------------


def _od_connect(dsn: str, db: str | None = None) -> Any:
    import pymysql

    from connectors.drivers import parse_url_dsn

    url = parse_url_dsn(dsn, "mysql", "mysql://root@127.0.0.1:3306/test")
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.user,
        password=url.password,
        database=db,
        autocommit=True,
        charset="utf8mb4",
    )


def _od_fill_appointments(cur: Any, first: int, last: int, total: int, patients: int) -> None:
    """Appointments first..last of `total`, 4 minutes apart, the last three weeks of them
    in the future, each with its history row."""
    when = f"TIMESTAMP(CURDATE()) + INTERVAL 21 DAY - INTERVAL ({total} - seq) * 4 MINUTE"
    cur.execute(
        f"""
        INSERT INTO appointment (AptNum, PatNum, AptStatus, Pattern, ProvNum, AptDateTime,
            SecDateTEntry, DateTStamp)
        SELECT seq, 1 + seq % {patients}, 0, 'XXXXXX', 1 + seq % 80, {when},
               {when} - INTERVAL 3 DAY, LEAST({when}, NOW())
        FROM seq_{first}_to_{last}
        """
    )
    cur.execute(
        f"""
        UPDATE appointment SET AptStatus = CASE
            WHEN AptDateTime > NOW() THEN 1
            WHEN AptNum % 17 = 0 THEN 3
            WHEN AptNum % 23 = 0 THEN 5
            ELSE 2 END
        WHERE AptNum BETWEEN {first} AND {last}
        """
    )
    cur.execute(
        f"""
        INSERT INTO histappointment (HistDateTStamp, HistApptAction, AptNum, PatNum,
            AptStatus, Pattern, ProvNum, AptDateTime)
        SELECT SecDateTEntry, 0, AptNum, PatNum, AptStatus, Pattern, ProvNum, AptDateTime
        FROM appointment WHERE AptNum BETWEEN {first} AND {last} ORDER BY AptNum
        """
    )


def bench_opendental(admin_dsn: str, work: str, scale: float) -> dict[str, Any]:
    from connectors.drivers import parse_url_dsn
    from connectors.profiles import load_profile

    out: dict[str, Any] = {}
    db = f"kabinet_bench_od_{os.getpid()}"
    admin = _od_connect(admin_dsn)
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    try:
        cur.execute(f"USE {db}")
        schema = (ROOT / "tests/connectors/contract/schemas/opendental_mariadb.sql").read_text()
        text = "\n".join(ln for ln in schema.splitlines() if not ln.strip().startswith("--"))
        for statement in (s.strip() for s in text.split(";\n") if s.strip()):
            cur.execute(statement)
        patients, visits, payments = (int(n * scale) for n in (PATIENTS, VISITS, PAYMENTS))
        start = time.perf_counter()
        cur.execute(
            "INSERT INTO provider (Abbr, LName, FName, MI, Specialty, DateTStamp)"
            " SELECT CONCAT('D', seq), CONCAT('Doctor', seq), 'Ann', '', 5, '2021-06-01'"
            " FROM seq_1_to_80"
        )
        cur.execute(
            f"""
            INSERT INTO patient (PatNum, LName, FName, MiddleI, Birthdate, WirelessPhone,
                HmPhone, TxtMsgOk, Guarantor, SecDateEntry, DateTStamp)
            SELECT seq, CONCAT('Patient', seq), 'Maria', '', '1980-01-01' + INTERVAL seq % 20000 DAY,
                   CONCAT('(912) 5', LPAD(seq, 6, '0')), '', seq % 3, seq - seq % 3 + 1,
                   '2020-01-01', TIMESTAMP('2021-01-01') + INTERVAL seq * 4099 SECOND
            FROM seq_1_to_{patients}
            """
        )
        # The history cursor against a DateTStamp scan, as the appointment table grows.
        profile = load_profile("opendental")
        hist_sql = profile.render("appointment_history", 1000, "mysql").sql.replace("?", "%s")
        od = _od_connect(admin_dsn, db)
        od_cur = od.cursor()
        filled = 0
        for size in sorted({visits // 4, visits // 2, visits}):
            _od_fill_appointments(cur, filled + 1, size, visits, patients)
            filled = size
            cur.execute("ANALYZE TABLE appointment, histappointment")
            cur.fetchall()
            cur.execute(
                "SELECT (SELECT MAX(HistApptNum) FROM histappointment),"
                " (SELECT MAX(DateTStamp) FROM appointment)"
            )
            top, newest = cur.fetchone()

            def history(top: int = top) -> None:
                od_cur.execute(hist_sql, (top,))
                od_cur.fetchall()

            def scan(newest: datetime = newest) -> None:
                od_cur.execute(
                    "SELECT a.AptNum, a.DateTStamp FROM appointment AS a"
                    " WHERE a.DateTStamp > %s ORDER BY a.DateTStamp LIMIT 1000",
                    (newest,),
                )
                od_cur.fetchall()

            label = f"{round(size / 1000)}k"
            out[f"opendental_history_cursor_nochange_ms_at_{label}"] = _median_ms(history, 21)
            out[f"opendental_datetstamp_scan_nochange_ms_at_{label}"] = _median_ms(scan, 7)
        cur.execute(
            f"""
            INSERT INTO payment (PayNum, PayType, PayDate, PayAmt, PatNum, DateEntry)
            SELECT seq, 3, DATE(NOW() - INTERVAL ({payments} - seq) * 6 MINUTE),
                   500 + seq % 9000, 1 + seq % {patients}, '2022-01-01'
            FROM seq_1_to_{payments}
            """
        )
        cur.execute(
            "INSERT INTO paysplit (SplitAmt, PatNum, PayNum, DatePay, ProcNum)"
            " SELECT PayAmt, PatNum, PayNum, PayDate, 0 FROM payment"
        )
        out["opendental_generate_s"] = round(time.perf_counter() - start, 1)
        url = parse_url_dsn(admin_dsn, "mysql", "")
        dsn = f"mysql://{url.user}@{url.host}:{url.port or 3306}/{db}"
        out.update(_child(_bench_opendental_sync, dsn, url.password, admin_dsn, db, work))
        od.close()
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()
    return out


def _bench_opendental_sync(
    dsn: str, password: str, admin_dsn: str, db: str, work: str
) -> dict[str, Any]:
    from connectors.registry import open_connector
    from connectors.sync import SyncEngine
    from tests.conftest import make_config

    out: dict[str, Any] = {}
    config = make_config(
        Path(work),
        clinic={"phone_region": "RU"},
        mis={
            "profile": "opendental",
            "dsn": dsn,
            "password": password,
            "query_timeout_seconds": 60,
        },
    )
    factory = _store(Path(config.storage.data_dir))
    connector = open_connector(config)
    sync = SyncEngine(connector, factory, batch_size=5000)
    start = time.perf_counter()
    report = sync.run_once()
    out["opendental_import_s"] = round(time.perf_counter() - start, 1)
    out["opendental_import_rows"] = sum(report.read.values())
    out["opendental_import_peak_rss_mb"] = round(_peak_rss_mb(), 1)

    sync.batch_size = 1000
    timer = _EntityTimer(connector)
    od = _od_connect(admin_dsn, db)
    cur = od.cursor()
    cur.execute(
        "SELECT AptNum FROM appointment WHERE AptStatus = 1 AND AptDateTime > NOW() + INTERVAL 2 DAY"
        " ORDER BY AptNum LIMIT %s",
        (CHANGES,),
    )
    upcoming = [r[0] for r in cur.fetchall()]
    assert len(upcoming) == CHANGES, "not enough upcoming appointments to move"
    hist_sql = connector.profile.render("appointment_history", 1000, "mysql").sql.replace("?", "%s")
    state: dict[str, int] = {}
    marks = ",".join(["%s"] * len(upcoming))

    def change(round_no: int) -> None:
        cur.execute("SELECT MAX(HistApptNum) FROM histappointment")
        state["cursor"] = cur.fetchone()[0]
        cur.execute(
            "UPDATE appointment SET AptDateTime = AptDateTime + INTERVAL 5 MINUTE"
            f" WHERE AptNum IN ({marks})",
            upcoming,
        )
        cur.execute(
            "INSERT INTO histappointment (HistDateTStamp, HistApptAction, AptNum, PatNum,"
            " AptStatus, Pattern, ProvNum, AptDateTime) SELECT NOW(), 1, AptNum, PatNum,"
            f" AptStatus, Pattern, ProvNum, AptDateTime FROM appointment WHERE AptNum IN ({marks})",
            upcoming,
        )

    raw = _od_connect(admin_dsn, db).cursor()

    def raw_fetch() -> int:
        raw.execute(hist_sql, (state["cursor"],))
        return len(raw.fetchall())

    # The cursors Open Dental indexes: keys and histappointment (not DateTStamp scans).
    indexed = {e for e, q in connector.profile.entities.items() if q.strategy == "monotonic"}
    out.update(_poll_figures("opendental", _SyncJob(sync), timer, change, raw_fetch, indexed))
    connector.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument("--skip-opendental", action="store_true")
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"scale": args.scale, "cpus": os.cpu_count()}

    ident_db = data / f"ident-shape-{args.scale:g}.sqlite3"
    if not ident_db.exists():
        print(f"generating {ident_db} ...", flush=True)
        built = _child(build_ident, str(ident_db), args.scale)
        print(f"  {built}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="kabinet-bench-", dir=data))
    try:
        # The poll phase edits the MIS: work on a copy, so a rerun starts from the same data.
        mis_copy = work / "ident.sqlite3"
        shutil.copyfile(ident_db, mis_copy)
        ident = _child(bench_ident, str(mis_copy), str(work / "ident"))
        for key, value in ident.items():
            print(f"{key}: {value}", flush=True)
        results.update(ident)

        dsn = os.environ.get("KABINET_BENCH_MARIADB_DSN") or os.environ.get(
            "KABINET_TEST_MARIADB_DSN", ""
        )
        if args.skip_opendental:
            results["opendental_skipped"] = "--skip-opendental"
        elif not dsn:
            results["opendental_skipped"] = (
                "no KABINET_TEST_MARIADB_DSN (source var/test-services.env)"
            )
        else:
            od = bench_opendental(dsn, str(work / "opendental"), args.scale)
            for key, value in od.items():
                print(f"{key}: {value}", flush=True)
            results.update(od)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
