"""Ledger benchmark: 1,000,000 entries over 30,000 accounts.

    .venv/bin/python bench/ledger.py [--entries 1000000] [--accounts 30000] [--seed 7]

What runs: a migrated local store (SQLite, as a clinic has it) filled with two years of a
programme's history, generated per account in time order as the ledger would have written
it: accruals making lots that expire after 365 days, spends consuming lots oldest first
(with their allocations), refunds reversing accruals, and expiries for lots that fell due
while the nightly job was running. For the last 30 days it was not (a month's outage), so
the nightly run measured here has a month of lots to expire at once.

Figures:
- a balance read (`core.ledger.balance`, what the bot and the panel call), 20,000 reads of
  random accounts: p50, p99 and max in milliseconds (target: <= 1 ms);
- the nightly expiry (`core.loyalty.nightly.expire`) on that backlog, in seconds
  (target: <= 30 s), and the whole nightly run after it (reminders, birthdays, tiers);
- `kabinet ledger verify` over everything, in seconds, and the problems it found (0);
- a stress case: the expiry of a whole year's backlog (every lot still open, a year on).

The last line printed is one JSON object. It takes about two minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from core import ledger  # noqa: E402
from core.config import from_mapping  # noqa: E402
from core.db import make_engine, session_factory  # noqa: E402
from core.loyalty import nightly  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import LoyaltyLot  # noqa: E402

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 04:00 in Moscow: the nightly hour
HISTORY_DAYS = 730
OUTAGE_DAYS = 30
EXPIRY_DAYS = 365


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def stamp(dt: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _Books:
    """The rows of every table, appended as the ledger would have written them."""

    def __init__(self) -> None:
        self.accounts: list[tuple] = []
        self.entries: list[tuple] = []
        # [id, account, entry, amount, remaining, earned, expires, expires as datetime]
        self.lots: list[list] = []
        self.allocations: list[tuple[int, int, int]] = []
        self.account = 0
        self.balance = 0
        self.open: list[list] = []

    def post(self, amount: int, kind: str, cause: str, at: datetime, expires: str | None) -> int:
        entry = len(self.entries) + 1
        self.balance += amount
        self.entries.append(
            (entry, self.account, amount, kind, cause, expires, "", "system", stamp(at), 0, "")
        )
        return entry

    def earn(self, points: int, at: datetime) -> None:
        due = at + timedelta(days=EXPIRY_DAYS)
        entry = self.post(points, "accrual", f"payment:{len(self.entries) + 1}", at, stamp(due))
        row = [len(self.lots) + 1, self.account, entry, points, points, stamp(at), stamp(due), due]
        self.lots.append(row)
        self.open.append(row)

    def take(
        self, points: int, kind: str, cause: str, at: datetime, lot: list | None = None
    ) -> None:
        entry = self.post(-points, kind, cause, at, None)
        left = points
        for row in [lot] if lot is not None else self.open:
            part = min(row[4], left)
            if part:
                self.allocations.append((entry, row[0], part))
                row[4] -= part
                left -= part
            if not left:
                break
        self.open = [row for row in self.open if row[4] > 0]


def generate(path: Path, n_entries: int, n_accounts: int, seed: int) -> dict[str, int]:
    """Write a consistent ledger straight into the tables, in bulk."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=HISTORY_DAYS)
    job_stopped = NOW - timedelta(days=OUTAGE_DAYS)
    books = _Books()
    entries_per_event = 1.3  # an event is one entry, plus the expiries it brings due
    for account_id in range(1, n_accounts + 1):
        books.account, books.balance, books.open = account_id, 0, []
        before = len(books.entries)
        target = n_entries * account_id // n_accounts
        events = max(1, round((target - before) / entries_per_event))
        for day in sorted(rng.random() * HISTORY_DAYS for _ in range(events)):
            at = start + timedelta(days=day)
            # The nightly job expired what fell due, until it stopped a month ago.
            for row in [r for r in books.open if r[7] <= min(at, job_stopped)]:
                books.take(row[4], "expiry", f"expiry:{row[0]}", row[7], row)
            roll = rng.random()
            # Patients spend part of what they hold, so older points often reach their expiry.
            if roll < 0.6 or books.balance == 0:
                books.earn(rng.randint(20, 2500), at)
            elif roll < 0.95:
                spend = rng.randint(1, max(1, books.balance // 3))
                books.take(spend, "spend", f"spend:{len(books.entries)}", at)
            else:
                row = books.open[-1]
                books.take(row[4], "reversal", f"reversal:payment:{row[2]}", at, row)
        for row in [r for r in books.open if r[7] <= job_stopped]:
            books.take(row[4], "expiry", f"expiry:{row[0]}", row[7], row)
        if account_id == n_accounts:  # top up to the exact size with small recent accruals
            while len(books.entries) < n_entries:
                books.earn(10, NOW - timedelta(days=1))
        written = len(books.entries) - before
        entries_per_event = 0.9 * entries_per_event + 0.1 * (written / events)
        books.accounts.append(
            (account_id, "patient", f"b{account_id}", books.balance, stamp(start))
        )
    accounts, entries, lots, allocations = (
        books.accounts,
        books.entries,
        books.lots,
        books.allocations,
    )
    say(
        f"generated {len(entries):,} entries, {len(lots):,} lots, {len(allocations):,} "
        "allocations; writing"
    )
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO loyalty_accounts (id, owner_kind, owner_id, balance, debt, tier,"
            " created_at) VALUES (?, ?, ?, ?, 0, '', ?)",
            accounts,
        )
        con.executemany(
            "INSERT INTO ledger_entries (id, account_id, amount, kind, cause, expires_at, note,"
            " created_by, created_at, shortfall, patient_mis_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        con.executemany(
            "INSERT INTO loyalty_lots (id, account_id, entry_id, amount, remaining, is_open,"
            " earned_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[2], r[3], r[4], int(r[4] > 0), r[5], r[6]) for r in lots],
        )
        con.executemany(
            "INSERT INTO ledger_allocations (entry_id, lot_id, points) VALUES (?, ?, ?)",
            allocations,
        )
    con.execute("ANALYZE")
    con.close()
    return {"entries": len(entries), "lots": len(lots), "allocations": len(allocations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=30_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kabinet-bench-ledger-") as tmp:
        config = from_mapping(
            {"storage": {"data_dir": tmp}, "loyalty": {"expiry_days": EXPIRY_DAYS}}, environ={}
        )
        engine = make_engine(config.storage.url)
        upgrade(engine, Path(tmp, "migrate.lock"))
        engine.dispose()
        began = time.perf_counter()
        sizes = generate(Path(tmp, "kabinet.sqlite3"), args.entries, args.accounts, args.seed)
        generate_s = time.perf_counter() - began
        say(f"store ready in {generate_s:.1f} s")

        engine = make_engine(config.storage.url)
        factory = session_factory(engine)
        rng = random.Random(args.seed + 1)
        timings = []
        with factory() as session:
            for _ in range(args.reads):
                owner = f"b{rng.randint(1, args.accounts)}"
                t = time.perf_counter()
                ledger.balance(session, "patient", owner)
                timings.append((time.perf_counter() - t) * 1000)
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]
        say(f"balance read: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {timings[-1]:.3f} ms")

        with factory() as session:
            due = session.scalar(
                select(func.count(LoyaltyLot.id)).where(
                    LoyaltyLot.is_open.is_(True), LoyaltyLot.expires_at <= NOW
                )
            )
        t = time.perf_counter()
        expired = nightly.expire(factory, NOW)
        expiry_s = time.perf_counter() - t
        say(f"nightly expiry: {expired:,} lots (of {due:,} due) in {expiry_s:.1f} s")

        t = time.perf_counter()
        report = nightly.run(factory, config, NOW)
        nightly_s = time.perf_counter() - t
        say(f"whole nightly run after it: {nightly_s:.1f} s {report.as_dict()}")

        t = time.perf_counter()
        with factory() as session:
            problems = ledger.verify(session)
        verify_s = time.perf_counter() - t
        say(f"ledger verify: {len(problems)} problems in {verify_s:.1f} s")

        # A stress case beyond any real night: the job down for a whole year.
        t = time.perf_counter()
        year_expired = nightly.expire(factory, NOW + timedelta(days=EXPIRY_DAYS))
        year_s = time.perf_counter() - t
        say(f"a year's backlog: {year_expired:,} lots expired in {year_s:.1f} s")
        engine.dispose()

    result = {
        "entries": sizes["entries"],
        "accounts": args.accounts,
        "lots": sizes["lots"],
        "allocations": sizes["allocations"],
        "generate_s": round(generate_s, 1),
        "balance_read_p50_ms": round(p50, 4),
        "balance_read_p99_ms": round(p99, 4),
        "balance_read_max_ms": round(timings[-1], 4),
        "expired_lots": expired,
        "expiry_s": round(expiry_s, 2),
        "nightly_after_expiry_s": round(nightly_s, 2),
        "year_backlog_expired_lots": year_expired,
        "year_backlog_expiry_s": round(year_s, 1),
        "verify_s": round(verify_s, 1),
        "verify_problems": len(problems),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
