"""Broadcast benchmark: 30,000 day-before reminders through the Telegram emulator.

    .venv/bin/python bench/broadcast.py [--patients 30000] [--latency-ms 100]

What runs, all on this machine:
- a demo clinic (IDENT-shaped SQLite) with that many patients, every one of them with a
  visit tomorrow, all allowing messages;
- the Bot API emulator in this process, enforcing Telegram's limits (30/s overall, 1/s
  per chat, 20/min per group) and taking `--latency-ms` before it handles each send, as a
  stand-in for the real API's round trip;
- `kabinet run` as a clinic runs it (gunicorn web workers plus the one runner), on a store
  where every patient is already connected to the bot (linked long ago: inserted, not
  replayed through 30,000 conversations).

The store is filled by `kabinet sync --once` first (the installation's initial import), so
at start the runner's reminder job queues all 30,000 reminders at once. While they go out,
the benchmark books a visit in the MIS for a connected patient every ~20 s and measures
until the emulator receives that patient's "you are booked" notice.

Figures: sustained throughput (first to last reminder), reminders lost and duplicated,
the share of requests answered 429, booked-notice latency (p50/p95/max), and the peak
memory of the whole appliance (the runner and the web workers). The last line printed is
one JSON object. It takes about 20 minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from core.clock import utcnow  # noqa: E402
from core.config import load  # noqa: E402
from core.db import make_engine, session_factory, transaction  # noqa: E402
from core.models import OutboxMessage, PatientLink, Subscriber  # noqa: E402
from sandbox.demo_clinic import BookingConflict, DemoClinic, build_demo_clinic  # noqa: E402
from sandbox.demo_clinic.wallclock import clinic_now  # noqa: E402
from sandbox.telegram import TelegramEmulator  # noqa: E402

TOKEN = "100000009:BENCH-kabinet-broadcast-token-000000"
KABINET = str(ROOT / ".venv" / "bin" / "kabinet")
REMINDER_MARK = "напоминаем о визите"
BOOKED_MARK = "вы записаны"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class TimedEmulator(TelegramEmulator):
    """The emulator, noting when each message of interest was accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reminder_times: list[float] = []
        self.booked_at: dict[int, float] = {}
        self.send_requests = 0
        self._watch = threading.Lock()

    def handle_api(self, token: str, method: str, params: Any = None, files: Any = None) -> Any:
        response = super().handle_api(token, method, params, files)
        if method.lower() == "sendmessage":
            now = time.time()
            with self._watch:
                self.send_requests += 1
                if response.status == 200:
                    text = str((params or {}).get("text", ""))
                    if REMINDER_MARK in text:
                        self.reminder_times.append(now)
                    elif BOOKED_MARK in text:
                        self.booked_at.setdefault(int((params or {}).get("chat_id")), now)
        return response


def overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        dotted, _, raw = item.partition("=")
        section, key = dotted.split(".")
        value: Any = {"true": True, "false": False}.get(raw.lower(), raw)
        out.setdefault(section, {})[key] = value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml(sections: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        f"[{name}]\n" + "\n".join(f"{k} = {value(v)}" for k, v in values.items()) + "\n"
        for name, values in sections.items()
    )


def tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += tree(int(child))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (the runner's own work)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; PSS shares pages among the processes using them."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class MemoryWatch(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_rss_total = self.peak_pss_total = self.peak_rss_runner = 0
        self.started = time.time()
        self.peak_runner_at = 0.0

    def run(self) -> None:
        while not self.stop.wait(0.5):
            sizes = [memory_kb(p) for p in tree(self.pid)]
            self.peak_rss_total = max(self.peak_rss_total, sum(r for r, _ in sizes))
            self.peak_pss_total = max(self.peak_pss_total, sum(p for _, p in sizes))
            runner = memory_kb(self.pid)[0]
            if runner > self.peak_rss_runner:
                self.peak_rss_runner, self.peak_runner_at = runner, time.time() - self.started


def build_clinic(path: Path, patients: int, seed: int) -> tuple[DemoClinic, list[int]]:
    """The demo clinic, plus one visit tomorrow for every patient, all allowing messages."""
    doctors = max(10, patients // 700)
    clinic = build_demo_clinic(path, patients=patients, doctors=doctors, seed=seed)
    # The clinic's tomorrow, not the machine's: at 23:47 UTC it is already 02:47 in Moscow.
    tomorrow = clinic_now().date() + timedelta(days=1)
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute("UPDATE Patients SET ConformToSending = 1, SMSRejection = 0, Status = 0")
            ids = [r[0] for r in con.execute("SELECT ID_Persons FROM Patients ORDER BY ID_Persons")]
            staff = [r[0] for r in clinic.doctors()]
            rng = random.Random(seed)
            now = clinic_now().strftime("%Y-%m-%d %H:%M:%S")
            rows = []
            for i, pid in enumerate(ids[:patients]):
                start = datetime.combine(tomorrow, datetime.min.time()) + timedelta(
                    hours=9, minutes=15 * rng.randrange(44)
                )
                end = start + timedelta(minutes=30)
                rows.append(
                    (
                        pid,
                        staff[i % len(staff)],
                        f"{start:%Y-%m-%d %H:%M:%S}",
                        f"{end:%Y-%m-%d %H:%M:%S}",
                        now,
                        now,
                    )
                )
            con.executemany(
                "INSERT INTO Receptions (ID_Patients, ID_Staffs, PlanStart, PlanEnd, IsNotified, "
                "NeedHandReminder, DateTimeAdded, DateTimeChanged) VALUES (?, ?, ?, ?, 0, 0, ?, ?)",
                rows,
            )
    finally:
        con.close()
    return clinic, ids[:patients]


def classify_429(calls: list[dict[str, Any]], delay: float) -> Counter[str]:
    """Was each 429 for a chat written to less than a second before, or for the overall
    rate? (Sends are counted by the emulator `delay` after they arrive.)"""
    sends = sorted(
        (c["time"] + delay, str(c["params"].get("chat_id")), c["status"])
        for c in calls
        if c["method"] == "sendMessage"
    )
    last_ok: dict[str, float] = {}
    kinds: Counter[str] = Counter()
    for at, chat, status in sends:
        if status == 429:
            kinds["chat" if at - last_ok.get(chat, -10.0) < 1.0 else "overall"] += 1
        elif status == 200:
            last_ok[chat] = at
    return kinds


def outstanding(factory: Any) -> int:
    """Reminders planned and not settled yet."""
    with factory() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.kind == "reminder",
                    OutboxMessage.state.in_(("pending", "claimed", "sending")),
                )
            )
            or 0
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=30_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--book-every", type=float, default=20.0, help="seconds between bookings")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--stop-after", type=float, default=0, help="diagnosis: stop the run after N seconds"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="diagnosis: override a config key, e.g. --set loyalty.enabled=false",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kabinet-bench-"))
    data_dir = work / "data"
    data_dir.mkdir()
    t0 = time.time()
    say(f"working in {work}")

    clinic_path = work / "clinic.sqlite3"
    clinic, patient_ids = build_clinic(clinic_path, args.patients, args.seed)
    say(
        f"demo clinic: {len(patient_ids)} patients with a visit tomorrow ({time.time() - t0:.0f} s)"
    )

    emulator = TimedEmulator(host="127.0.0.1", port=0)
    emulator.start()
    emulator.register_bot(token=TOKEN, username="kabinet_bench_bot", first_name="Клиника")
    chats: dict[int, int] = {}
    for pid in patient_ids:
        user = emulator.create_user(first_name=f"П{pid}")
        emulator.send_text(user["id"], "/start")
        chats[pid] = int(user["id"])
    # They pressed Start long ago: Telegram handed those updates out then.
    last = max(chats.values())
    emulator.handle_api(TOKEN, "getUpdates", {"offset": 10**9})
    assert emulator.stats()["pending_updates"] == 0, last
    say(f"emulator: {len(chats)} patients who pressed Start")

    port = free_port()
    config_path = work / "kabinet.toml"
    config_path.write_text(
        toml(
            {
                "clinic": {"name": "Бенчмарк", "timezone": "Europe/Moscow"},
                "web": {"host": "127.0.0.1", "port": port},
                "storage": {"data_dir": str(data_dir)},
                "telegram": {"token": TOKEN, "api_url": emulator.url},
                "mis": {"profile": "demo", "dsn": str(clinic_path)},
                # Quiet hours off so the figures do not depend on the hour the bench runs;
                # the reminder time already passed, so reminders are due at once.
                "messaging": {
                    "quiet_hours_start": "00:00",
                    "quiet_hours_end": "00:00",
                    "reminder_send_at": "00:00",
                    "rating_enabled": False,
                    "birthday_enabled": False,
                },
                **overrides(args.set),
            }
        )
    )
    env = {**os.environ, "KABINET_CONFIG": str(config_path)}
    subprocess.run([KABINET, "db", "upgrade"], env=env, check=True, capture_output=True)
    started = time.time()
    subprocess.run([KABINET, "sync", "--once"], env=env, check=True, capture_output=True)
    say(f"initial import of the MIS: {time.time() - started:.0f} s")
    config = load(config_path, environ={})
    engine = make_engine(config.storage.url)
    factory = session_factory(engine)
    with transaction(factory) as s:
        now = utcnow()
        s.execute(
            insert(Subscriber),
            [
                {
                    "telegram_user_id": chat,
                    "chat_id": chat,
                    "consent_at": now,
                    "consent_version": "b",
                }
                for chat in chats.values()
            ],
        )
        sub_ids = dict(s.execute(select(Subscriber.chat_id, Subscriber.id)).all())
        s.execute(
            insert(PatientLink),
            [
                {"subscriber_id": sub_ids[chat], "patient_mis_id": str(pid), "phone": ""}
                for pid, chat in chats.items()
            ],
        )
    say("store: every patient connected")

    if args.latency_ms > 0:
        emulator.inject_fault(
            "slow", method="sendMessage", count=None, delay=args.latency_ms / 1000
        )
    # The emulator's own collector pauses would bunch the requests it counts; keep what
    # the setup built out of its way (the appliance's process is left as shipped).
    gc.collect()
    gc.freeze()

    load_before = os.getloadavg()[0]
    log = open(work / "kabinet.log", "w")  # noqa: SIM115
    runner = subprocess.Popen([KABINET, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    watch = MemoryWatch(runner.pid)
    watch.start()
    run_started = time.time()
    say(f"kabinet run started (pid {runner.pid}); sending {len(chats)} reminders")

    doctor = clinic.doctors()[0][0]
    rng = random.Random(args.seed)
    probes = list(chats.items())[:200]
    rng.shuffle(probes)
    bookings: list[tuple[int, float]] = []
    next_booking = time.time() + 10
    deadline = run_started + max(3600, len(chats) / 10)
    reminders_done_at = None
    if args.stop_after:
        deadline = run_started + args.stop_after
    while time.time() < deadline:
        time.sleep(0.5)
        if runner.poll() is not None:
            say(f"kabinet run exited with {runner.returncode}; see {work / 'kabinet.log'}")
            break
        done = len(emulator.reminder_times)
        if done < len(chats) and time.time() >= next_booking and probes:
            pid, chat = probes.pop()
            day = clinic_now().date() + timedelta(days=2 + rng.randrange(10))
            for _ in range(50):
                start = datetime.combine(day, datetime.min.time()) + timedelta(
                    hours=9, minutes=15 * rng.randrange(44)
                )
                try:
                    clinic.book(pid, doctor, start, minutes=15)
                except BookingConflict:
                    continue
                bookings.append((chat, time.time()))
                break
            next_booking = time.time() + args.book_every
        if int(time.time()) % 60 == 0:
            tree_kb = [memory_kb(p)[0] for p in tree(runner.pid)]
            say(
                f"{done} reminders delivered, {emulator.stats()['http_429']} answered 429; "
                f"RSS runner {memory_kb(runner.pid)[0] // 1024} MB, "
                f"all {len(tree_kb)} processes {sum(tree_kb) // 1024} MB"
            )
            time.sleep(1)
        if done >= len(chats) and reminders_done_at is None and outstanding(factory) == 0:
            reminders_done_at = time.time()
        if reminders_done_at and all(chat in emulator.booked_at for chat, _ in bookings):
            break
        if reminders_done_at and time.time() - reminders_done_at > 60:
            break
    runner_cpu = cpu_seconds(runner.pid)
    load_after = os.getloadavg()[0]
    runner.send_signal(signal.SIGTERM)
    try:
        runner.wait(60)
    except subprocess.TimeoutExpired:
        runner.kill()
    watch.stop.set()
    watch.join()

    # A few patients also have a visit of their own tomorrow (the demo clinic's schedule):
    # two visits, two reminders. So each chat is held to what the outbox planned for it.
    with factory() as s:
        rows = s.execute(
            select(OutboxMessage.chat_id, OutboxMessage.state).where(
                OutboxMessage.kind == "reminder"
            )
        ).all()
    engine.dispose()
    states = Counter(state for _, state in rows)
    planned = Counter(chat for chat, _ in rows)
    received: Counter[int] = Counter()
    for chat in chats.values():
        texts = [m.get("text", "") for m in emulator.messages(chat)]
        received[chat] = sum(REMINDER_MARK in t for t in texts)
    lost = sum(max(0, planned[c] - received[c]) for c in chats.values())
    duplicates = sum(max(0, received[c] - planned[c]) for c in chats.values())
    unplanned = sum(1 for c in chats.values() if planned[c] == 0)
    kinds_429 = classify_429(emulator.calls, args.latency_ms / 1000)
    send_status = Counter(c["status"] for c in emulator.calls if c["method"] == "sendMessage")
    times = sorted(emulator.reminder_times)
    sustained = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    overall = len(times) / (times[-1] - run_started) if times else 0.0
    latencies = sorted(
        emulator.booked_at[chat] - at for chat, at in bookings if chat in emulator.booked_at
    )
    stats = emulator.stats()
    requests = emulator.send_requests
    emulator.stop()

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        return (
            round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)
            if len(values) > 1
            else round(values[0], 2)
        )

    result = {
        "patients": len(chats),
        "patients_without_a_reminder": unplanned,
        "reminders": sum(planned.values()),
        "reminders_delivered": len(times),
        "lost_count": lost,
        "duplicate_count": duplicates,
        "outbox_states": dict(states),
        "sustained_throughput_msg_per_s": round(sustained, 2),
        "overall_throughput_msg_per_s": round(overall, 2),
        "send_duration_s": round(times[-1] - times[0], 1) if times else None,
        "send_requests": requests,
        "send_requests_by_status": {str(k): v for k, v in sorted(send_status.items())},
        "http_429_count": stats["http_429"],
        "http_429_percent": round(100.0 * stats["http_429"] / max(requests, 1), 3),
        "http_429_same_chat_within_1s_count": kinds_429["chat"],
        "http_429_overall_count": kinds_429["overall"],
        "booked_probes": len(bookings),
        "booked_received": len(latencies),
        "booked_latency_p50_s": pct(latencies, 50),
        "booked_latency_p95_s": pct(latencies, 95),
        "booked_latency_max_s": round(max(latencies), 2) if latencies else None,
        "poll_interval_s": config.mis.poll_seconds,
        "emulated_latency_ms": args.latency_ms,
        "peak_rss_runner_mb": round(watch.peak_rss_runner / 1024, 1),
        "peak_rss_runner_at_s": round(watch.peak_runner_at, 1),
        "peak_rss_total_mb": round(watch.peak_rss_total / 1024, 1),
        "peak_pss_total_mb": round(watch.peak_pss_total / 1024, 1),
        "runner_cpu_s": round(runner_cpu, 1),
        "machine_load_avg_1min_at_start": round(load_before, 2),
        "machine_load_avg_1min_at_end": round(load_after, 2),
        "bench_duration_s": round(time.time() - t0, 1),
    }
    say(f"working directory: {work}")
    if not args.keep and lost == 0 and duplicates == 0:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
