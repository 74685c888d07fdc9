"""Panel benchmark: search, the patient card, the inbox and the reports under 20 staff.

    .venv/bin/python bench/panel.py [--patients 30000] [--entries 1000000]
                                    [--messages 200000] [--users 20] [--seconds 60]
                                    [--think-seconds 3] [--report-weeks 12]
                                    [--store /tmp/panel/kabinet.sqlite3]

What runs, all on this machine:
- a migrated store filled in bulk as a busy clinic's (issue #12's figures): the inbox
  benchmark's patients, chats, conversations, 200,000 messages and 2,000 open episodes
  (bench/inbox.py's `fill`), and the ledger benchmark's 1,000,000 entries with their lots
  and allocations over the same 30,000 patients (bench/ledger.py's `generate`);
- the panel as a clinic runs it: gunicorn, gthread, `web.workers` / `web.threads` from the
  configuration unless --workers / --threads say otherwise;
- `--users` managers (they may open every screen timed here), each a logged-in `requests`
  session in its own thread, one request every `--think-seconds` ±50 % (0: saturation):
  a search by surname (20 %), by phone typed as people type it (10 %), a patient's card
  with its bonus history (25 %), the inbox list (20 %), a report over the last
  `--report-weeks` weeks, one of the seven at random (25 %), timed per report and together.

`--store PATH` keeps the filled store there (with its sizes beside it, PATH.json) and uses
it as it is on the next run with the same sizes and seed, migrated to the current head:
the fill takes a few minutes. bench/panel_inprocess.py times the same requests one at a
time in its own process, on the same store: the server's own cost.

Each kind's p50 / p95 / max and errors; the target is p95 <= 100 ms for search, the card,
the inbox and the reports. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from inbox import (  # noqa: E402  (a sibling benchmark: the same store, the same panel)
    PASSWORD,
    fill,
    free_port,
    latency,
    login,
    percentile,
    say,
    start_panel,
    with_web,
    write_config,
)
from ledger import generate  # noqa: E402
from sqlalchemy import select  # noqa: E402

from core.clock import local_now  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import make_engine, session_factory, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import StaffUser  # noqa: E402
from core.staff import create_user  # noqa: E402

REPORTS = [
    "connections",
    "confirmations",
    "ratings",
    "referrals",
    "reviews",
    "response-times",
    "economics",
]


def prepare(args: argparse.Namespace) -> tuple[Path, int, Config, int, float]:
    """A work directory, a port, the configuration and the filled store: its ledger
    entries and how long the fill took (0 for a kept --store, used as it is)."""
    work = Path(tempfile.mkdtemp(prefix="kabinet-panel-bench-"))
    port = free_port()
    store = Path(args.store).resolve() if args.store else None
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
    config = write_config(work, port, store)
    (work / "data").mkdir()
    sizes = {key: getattr(args, key) for key in ("patients", "entries", "messages", "open", "seed")}
    # The fill takes minutes; a kept store remembers its sizes beside it, so that a reuse
    # with other sizes is refused rather than measured as if it were what was asked.
    kept = store.with_name(store.name + ".json") if store is not None else None
    engine = make_engine(config.storage.url)
    if store is not None and kept is not None and store.exists():
        if not kept.exists():
            sys.exit(f"{store} has no {kept.name}: its fill did not finish; delete it")
        recorded = json.loads(kept.read_text())
        if recorded["sizes"] != sizes:
            sys.exit(f"{store} was filled with {recorded['sizes']}, not {sizes}")
        upgrade(engine, work / "data" / "migrate.lock")  # migrations added since its fill
        entries, fill_s = int(recorded["entries"]), 0.0
        say(f"store kept in {store} used as it is: {sizes}")
    else:
        upgrade(engine, work / "data" / "migrate.lock")
        began = time.monotonic()
        fill(session_factory(engine), args.patients, args.messages, args.open, args.seed)
        engine.dispose()  # the ledger is written with sqlite3 straight into the same file
        path = Path(config.storage.url.removeprefix("sqlite:///"))
        entries = generate(path, args.entries, args.patients, args.seed)["entries"]
        fill_s = time.monotonic() - began
        if kept is not None:
            kept.write_text(json.dumps({"sizes": sizes, "entries": entries}))
        say(f"store filled in {fill_s:.0f} s: {args.patients} patients, {entries} entries")
    with transaction(session_factory(engine)) as s:
        for i in range(args.users):
            if s.scalar(select(StaffUser.id).where(StaffUser.login == f"staff{i}")) is None:
                create_user(s, f"staff{i}", "manager", PASSWORD, f"Руководитель {i}")
    engine.dispose()
    return work, port, config, entries, fill_s


def report_period(config: Config, weeks: int) -> dict[str, str]:
    """The reports' query: the last `weeks` weeks up to the clinic's today."""
    today = local_now(config.clinic.tz).date()
    start = today - timedelta(weeks=weeks)
    return {"from": start.strftime("%d.%m.%Y"), "to": today.strftime("%d.%m.%Y")}


def request_of(name: str, i: int, period: dict[str, str]) -> tuple[str, dict[str, str] | None]:
    """The URL and query of one request of a kind, about patient `i` (the fill's b<i>)."""
    if name == "search_name":
        return "/patients/", {"q": f"Пациентова{i}"}
    if name == "search_phone":  # typed as people type it
        return "/patients/", {"q": f"+7 (900) {i // 10000:03d}-{i // 100 % 100:02d}-{i % 100:02d}"}
    if name == "patient_card":
        return f"/patients/b{i}", None
    if name == "inbox_list":
        return "/tasks/", None
    return f"/reports/{name.removeprefix('report_')}", period


def store_arguments(ap: argparse.ArgumentParser) -> None:
    """The store's sizes, as bench/panel.py and bench/panel_inprocess.py both fill it."""
    ap.add_argument("--patients", type=int, default=30_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--open", type=int, default=2_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    store_arguments(ap)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think-seconds", type=float, default=3.0)
    ap.add_argument("--report-weeks", type=int, default=12)
    ap.add_argument("--workers", type=int, default=0, help="gunicorn workers (web.workers)")
    ap.add_argument("--threads", type=int, default=0, help="threads each (web.threads)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--store",
        default="",
        help="a store file to keep and reuse: filled there if missing, else used as it is",
    )
    args = ap.parse_args()

    work, port, config, entries, fill_s = prepare(args)
    web = with_web(config, args.workers, args.threads)
    load_at_start = os.getloadavg()[0]

    period = report_period(config, args.report_weeks)
    server, base = start_panel(work, port, web)
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    resent: dict[str, int] = defaultdict(int)
    try:
        sessions = [login(base, f"staff{i}") for i in range(args.users)]
        say(f"panel up (workers={web.workers}, threads={web.threads}); {args.users} logged in")
        lock = threading.Lock()
        stop = threading.Event()

        def user(session: requests.Session, rng: random.Random) -> None:
            while not stop.is_set():
                if args.think_seconds:
                    time.sleep(args.think_seconds * rng.uniform(0.5, 1.5))
                roll = rng.random()
                i = rng.randrange(args.patients)  # drawn here as before: the same sequence
                if roll < 0.2:
                    name = "search_name"
                elif roll < 0.3:
                    name = "search_phone"
                elif roll < 0.55:
                    name = "patient_card"
                elif roll < 0.75:
                    name = "inbox_list"
                else:
                    name = f"report_{rng.choice(REPORTS)}"
                url, params = request_of(name, i, period)
                t0 = time.perf_counter()
                try:
                    answer = session.get(base + url, params=params, timeout=120)
                except requests.ConnectionError:
                    # gunicorn closes a keep-alive connection idle for 2 s; one that closes
                    # as this request goes out is reset. A browser sends it again; so do we.
                    with lock:
                        resent[name] += 1
                    answer = session.get(base + url, params=params, timeout=120)
                spent = time.perf_counter() - t0
                with lock:
                    timings[name].append(spent)
                    if answer.status_code != 200:
                        errors[name] += 1

        threads = [
            threading.Thread(target=user, args=(s, random.Random(i)), daemon=True)
            for i, s in enumerate(sessions)
        ]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)

    result: dict[str, Any] = {
        "patients": args.patients,
        "ledger_entries": entries,
        "messages": args.messages,
        "open_episodes": args.open,
        "users": args.users,
        "seconds": args.seconds,
        "think_s": args.think_seconds,
        "report_weeks": args.report_weeks,
        "web_workers": web.workers,
        "web_threads": web.threads,
        "fill_s": round(fill_s, 1),
        "machine_load_avg_1min_at_start": round(load_at_start, 2),
        "machine_load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "machine_cores": os.cpu_count(),
    }
    for name, values in sorted(timings.items()):
        result.update(latency(name, values, errors=errors.get(name, 0), resent=resent.get(name, 0)))
    reports = [v * 1000 for name, values in timings.items() if name.startswith("report_")
               for v in values]  # fmt: skip
    if reports:
        result["reports_all_p50_ms"] = round(statistics.median(reports), 1)
        result["reports_all_p95_ms"] = round(percentile(reports, 95), 1)
    result["requests_per_s"] = round(sum(len(v) for v in timings.values()) / args.seconds, 1)
    say(f"store and logs kept in {work}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
