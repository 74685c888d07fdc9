"""Panel benchmark, server time only: bench/panel.py's requests through the Flask test client.

    .venv/bin/python bench/panel_inprocess.py --store /tmp/panel/kabinet.sqlite3
                                              [--requests 200] [--report-weeks 12]
                                              [--patients 30000] [--entries 1000000] …

The same store as bench/panel.py (the same sizes and seed; `--store` keeps it between runs,
the fill taking a few minutes) and the same requests, but one at a time in this process,
logged in as a manager: no gunicorn, no sockets, no other request waiting for the GIL. So
the figures are what the panel's own code costs, and another program on the machine
disturbs them less than it does bench/panel.py's 20 concurrent users (which remain the
target's measure). `--requests` of each kind, the kinds taken in turn, patients at random.

A report is timed twice: the first request for the period (`_cold`: computed, as after
any new ledger entry, rating or link) and then every request (the panel keeps a computed
report until its data change, so in a quiet store these are the cache's figures).

Each kind's p50 / p95 / max in milliseconds; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inbox import PASSWORD, latency, say  # noqa: E402
from panel import REPORTS, prepare, report_period, request_of, store_arguments  # noqa: E402

from app import create_app  # noqa: E402

KINDS = ["search_name", "search_phone", "patient_card", "inbox_list"] + [
    f"report_{slug}" for slug in REPORTS
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    store_arguments(ap)
    ap.add_argument("--requests", type=int, default=200, help="requests of each kind")
    ap.add_argument("--report-weeks", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--store", default="", help="a store file to keep and reuse (bench/panel.py)")
    ap.add_argument("--kinds", default="", help="only these kinds, comma-separated")
    args = ap.parse_args()
    args.users = 1
    kinds = [k for k in args.kinds.split(",") if k] or KINDS
    _, _, config, entries, fill_s = prepare(args)
    app = create_app(config)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/login", data={"login": "staff0", "password": PASSWORD, "csrf_token": token[1]}
    )
    assert answer.status_code in (200, 302), f"login failed: {answer.status_code}"
    period = report_period(config, args.report_weeks)
    rng = random.Random(args.seed)
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    load_at_start = os.getloadavg()[0]
    for _ in range(args.requests):
        for name in kinds:
            url, params = request_of(name, rng.randrange(args.patients), period)
            t0 = time.perf_counter()
            answer = client.get(url, query_string=params)
            spent = time.perf_counter() - t0
            if name.startswith("report_") and name not in timings:
                timings[f"{name}_cold"].append(spent)
            timings[name].append(spent)
            if answer.status_code != 200:
                errors[name] += 1
    result: dict[str, Any] = {
        "patients": args.patients,
        "ledger_entries": entries,
        "messages": args.messages,
        "requests_per_kind": args.requests,
        "report_weeks": args.report_weeks,
        "fill_s": round(fill_s, 1),
        "machine_load_avg_1min_at_start": round(load_at_start, 2),
        "machine_load_avg_1min_at_end": round(os.getloadavg()[0], 2),
    }
    for name, values in timings.items():
        figures = latency(name, values, errors=errors.get(name, 0))
        say(f"{name}: p50 {figures[f'{name}_p50_ms']} ms, p95 {figures[f'{name}_p95_ms']} ms")
        result.update(figures)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
