"""Inbox benchmark: the panel's «Задачи» under concurrent staff, on a store of a busy clinic.

    .venv/bin/python bench/inbox.py [--patients 30000] [--messages 200000] [--open 2000]
                                    [--users 20] [--seconds 60] [--writes-per-second 2]

What runs, all on this machine:
- a migrated store filled in bulk: that many patients, each with a Telegram chat linked to
  them and a conversation; the messages spread over the conversations as episodes of a
  few lines each (patient lines and staff replies, every reply with its outbox row), the
  last episode of `--open` conversations still open (half of them taken);
- the panel as a clinic runs it: gunicorn with the gthread worker, `web.workers` and
  `web.threads` from the config (the defaults unless --workers / --threads say otherwise);
- `--users` staff, each a logged-in `requests` session in its own thread, doing what the
  inbox page does, one request every `--think-seconds` (±50 %; 0: no pause, the panel's
  saturation): the list (the filters at random), a task's page, and the pages' own polls
  (/tasks/poll, /tasks/<id>/poll, with the version last seen, as panel.js sends them
  every 3 s);
- meanwhile patients write: a writer files `--writes-per-second` messages into random open
  episodes through core.conversations.threads.receive (the runner's own code path, its
  own store connection), and a watcher asks that task's poll every 50 ms until the new
  line is there: how long a patient's message takes to be in the inbox, server side (the
  page shows it at its next poll, at most 3 s later).

The staff group's post and the way of a patient's message while a 30,000-message campaign
is being sent: bench/inbox_campaign.py (the runner, its dispatcher and the Telegram
emulator).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import socket
import statistics
import subprocess
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

import requests  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from core.clock import utcnow  # noqa: E402
from core.config import Config, WebConfig, load  # noqa: E402
from core.conversations.models import Conversation, ThreadMessage  # noqa: E402
from core.conversations.threads import Incoming, receive  # noqa: E402
from core.db import make_engine, session_factory, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import OutboxMessage, Patient, PatientLink, Subscriber, Task  # noqa: E402
from core.staff import create_user  # noqa: E402

PASSWORD = "bench-password-123"
CHUNK = 5000
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _bulk(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def fill(
    factory: Any, patients: int, messages: int, open_count: int, seed: int, first_chat: int = 10**7
) -> list[int]:
    """The store of a clinic that has used the chat for a while; returns the open tasks.
    Patient i's Telegram user and chat are `first_chat` + i (a messenger emulator's ids)."""
    rng = random.Random(seed)
    now = utcnow()
    start = now - timedelta(days=365)
    with transaction(factory) as s:
        _bulk(
            s,
            Patient,
            [
                {"mis_id": f"b{i}", "last_name": f"Пациентова{i}", "first_name": "Анна"}
                for i in range(patients)
            ],
        )
        _bulk(
            s,
            Subscriber,
            [
                {
                    "telegram_user_id": first_chat + i,
                    "chat_id": first_chat + i,
                    "consent_at": start,
                }
                for i in range(patients)
            ],
        )
        subs = list(s.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        _bulk(
            s,
            PatientLink,
            [
                {"subscriber_id": sub, "patient_mis_id": f"b{i}", "phone": f"7900{i:07d}"}
                for i, sub in enumerate(subs)
            ],
        )
        _bulk(
            s,
            Conversation,
            [{"subscriber_id": sub, "chat_id": first_chat + i} for i, sub in enumerate(subs)],
        )
        convs = list(s.execute(select(Conversation.id, Conversation.subscriber_id)))
    # Messages per conversation, then episodes of 2-5 lines; the open ones last.
    per = [messages // len(convs)] * len(convs)
    for i in range(messages - sum(per)):
        per[i] += 1
    opened = set(rng.sample(range(len(convs)), open_count))
    tasks: list[dict[str, Any]] = []
    plan: list[tuple[int, int, int, int, bool]] = []  # (conv, sub, task index, lines, open)
    for index, ((conv_id, sub_id), count) in enumerate(zip(convs, per, strict=True)):
        left = count
        while left > 0:
            size = min(left, rng.randint(2, 5))
            left -= size
            is_open = left <= 0 and index in opened
            plan.append((conv_id, sub_id, len(tasks), size, is_open))
            tasks.append(
                {
                    "kind": "message",
                    "key": f"bench:{conv_id}:{len(tasks)}",
                    "subscriber_id": sub_id,
                    "conversation_id": conv_id,
                    "patient_mis_id": f"b{index}",
                    "text": f"Пациентова{index} Анна: вопрос про визит",
                    "state": ("taken" if rng.random() < 0.5 else "open") if is_open else "done",
                    "created_at": start,
                    "message_count": size,
                }
            )
    clock = start
    step = (now - start) / max(len(plan), 1)
    for (*_, is_open), task in zip(plan, tasks, strict=True):
        clock += step
        task["created_at"] = clock
        task["last_message_at"] = clock
        task["waiting_since"] = clock if is_open else None
        task["taken_by"] = "Ольга" if task["state"] != "open" else ""
        if not is_open:
            task["closed_at"] = clock + timedelta(minutes=30)
            task["first_response_at"] = clock + timedelta(minutes=5)
            task["first_response_by"] = "Ольга"
    with transaction(factory) as s:
        _bulk(s, Task, tasks)
        ids = list(s.scalars(select(Task.id).order_by(Task.id)))
    lines: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    n = 0
    for (conv_id, _, t, size, is_open), task_id in zip(plan, ids, strict=True):
        at = tasks[t]["created_at"]
        for k in range(size):
            n += 1
            out = k % 2 == 1 and not (is_open and k == size - 1)
            lines.append(
                {
                    "conversation_id": conv_id,
                    "task_id": task_id,
                    "direction": "out" if out else "in",
                    "kind": "reply" if out else "text",
                    "text": ("Ответ клиники " if out else "Сообщение пациента ") + str(n),
                    "author": "Ольга" if out else "",
                    "telegram_message_id": n,
                    "outbox_id": len(outbox) + 1 if out else None,
                    "created_at": at + timedelta(minutes=k),
                }
            )
            if out:
                outbox.append(
                    {
                        "key": f"bench-reply:{n}",
                        "chat_id": 0,
                        "text": "…",
                        "kind": "reply",
                        "priority": 0,
                        "state": "sent",
                        "due_at": at,
                        "created_at": at,
                    }
                )
    with transaction(factory) as s:
        _bulk(s, OutboxMessage, outbox)
        _bulk(s, ThreadMessage, lines)
    return [task_id for (*_, is_open), task_id in zip(plan, ids, strict=True) if is_open]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(work: Path, port: int, store: Path | None = None) -> Config:
    """A clinic's configuration for a benchmark run in `work` (store and logs there;
    the store itself at `store` instead when given, e.g. one kept from an earlier run)."""
    url = f'database_url = "sqlite:///{store.resolve()}"' if store is not None else ""
    (work / "config.toml").write_text(
        f"""
[clinic]
name = "Бенчмарк"
timezone = "Europe/Moscow"
[storage]
data_dir = "{work / "data"}"
{url}
[mis]
profile = "demo"
dsn = "{work / "clinic.sqlite3"}"
[web]
host = "127.0.0.1"
port = {port}
secret_key = "bench-secret-key-bench-secret-key-0123456789"
"""
    )
    return load(work / "config.toml", environ={})


def with_web(config: Config, workers: int, threads: int) -> WebConfig:
    """The panel's process settings: the configuration's, unless the command line says."""
    web = config.web
    if workers or threads:
        web = dataclasses.replace(
            web, workers=workers or web.workers, threads=threads or web.threads
        )
    return web


def start_panel(work: Path, port: int, web: WebConfig) -> tuple[subprocess.Popen[bytes], str]:
    """The panel as a clinic runs it (gunicorn, gthread); returns once it answers."""
    env = dict(os.environ, KABINET_CONFIG=str(work / "config.toml"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(web.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(web.threads),
            "--log-level",
            "warning",
            "app.wsgi:application",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a loaded machine may take its time to import
    while True:
        try:
            requests.get(base + "/login", timeout=10)
            break
        except requests.RequestException:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)
    return server, base


def login(base: str, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/login", timeout=30).text
    token = _CSRF.search(page)
    assert token, "no CSRF token on the login page"
    answer = session.post(
        base + "/login",
        data={"login": name, "password": PASSWORD, "csrf_token": token[1]},
        timeout=30,
    )
    assert "Выйти" in answer.text, f"login as {name} failed"
    return session


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1)]


def latency(name: str, seconds: list[float], **counts: int) -> dict[str, Any]:
    """One kind of request's figures for the JSON line: how many, the counts given
    (errors, …), p50 / p95 / max in milliseconds."""
    ms = [v * 1000 for v in seconds]
    out: dict[str, Any] = {f"{name}_requests": len(ms)}
    out.update({f"{name}_{key}": value for key, value in counts.items()})
    out[f"{name}_p50_ms"] = round(statistics.median(ms), 1)
    out[f"{name}_p95_ms"] = round(percentile(ms, 95), 1)
    out[f"{name}_max_ms"] = round(max(ms), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=30_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--open", type=int, default=2_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument(
        "--think-seconds",
        type=float,
        default=3.0,
        help="pause between one user's requests (0: as fast as the panel answers)",
    )
    ap.add_argument("--writes-per-second", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=0, help="gunicorn workers (web.workers)")
    ap.add_argument("--threads", type=int, default=0, help="threads each (web.threads)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kabinet-inbox-bench-"))
    port = free_port()
    config = write_config(work, port)
    web = with_web(config, args.workers, args.threads)
    (work / "data").mkdir()
    engine = make_engine(config.storage.url)
    upgrade(engine, work / "data" / "migrate.lock")
    factory = session_factory(engine)
    load_at_start = os.getloadavg()[0]
    began = time.monotonic()
    open_ids = fill(factory, args.patients, args.messages, args.open, args.seed)
    fill_s = time.monotonic() - began
    with transaction(factory) as s:
        for i in range(args.users):
            create_user(s, f"staff{i}", "admin", PASSWORD, f"Сотрудник {i}")
    say(f"store filled in {fill_s:.0f} s: {args.patients} patients, {args.messages} messages")

    server, base = start_panel(work, port, web)
    try:
        sessions = [login(base, f"staff{i}") for i in range(args.users)]
        say(f"panel up (workers={web.workers}, threads={web.threads}); {args.users} logged in")
        timings: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        lock = threading.Lock()
        stop = threading.Event()
        filters = ["", "?who=mine", "?who=unassigned", "?show=all", "?kind=message"]

        def user(session: requests.Session, rng: random.Random) -> None:
            versions: dict[str, str] = {}  # what panel.js sends back: the version it shows
            while not stop.is_set():
                if args.think_seconds:
                    time.sleep(args.think_seconds * rng.uniform(0.5, 1.5))
                roll = rng.random()
                task = rng.choice(open_ids)
                if roll < 0.35:
                    name, url = "inbox_list", "/tasks/" + rng.choice(filters)
                elif roll < 0.7:
                    name, url = "thread_view", f"/tasks/{task}"
                elif roll < 0.85:
                    name, url = "inbox_poll", "/tasks/poll"
                else:
                    name, url = "thread_poll", f"/tasks/{task}/poll"
                polling = name.endswith("_poll")
                params = {"v": versions.get(url, "")} if polling else None
                t0 = time.perf_counter()
                answer = session.get(
                    base + url,
                    params=params,
                    timeout=60,
                    headers={"X-Kabinet-Poll": "1"} if polling else None,
                )
                spent = time.perf_counter() - t0
                if polling and answer.ok:
                    versions[url] = answer.json()["version"]
                with lock:
                    timings[name].append(spent)
                    if answer.status_code != 200:
                        errors[name] += 1

        appear: list[float] = []

        def writer(rng: random.Random) -> None:
            watcher = login(base, "staff0")
            n = 10**9
            while not stop.is_set():
                n += 1
                task_id = rng.choice(open_ids)
                text = f"бенчмарк {n}"
                with transaction(factory) as s:
                    task = s.get(Task, task_id)
                    sub = s.get(Subscriber, task.subscriber_id) if task is not None else None
                    assert sub is not None
                    receive(s, config, sub, Incoming(n, text=text))
                stored = time.perf_counter()
                while not stop.is_set():
                    poll = watcher.get(f"{base}/tasks/{task_id}/poll", timeout=60).json()
                    if text in poll["parts"].get("thread", ""):
                        appear.append(time.perf_counter() - stored)
                        break
                    time.sleep(0.05)
                time.sleep(max(0.0, 1 / args.writes_per_second - (time.perf_counter() - stored)))

        threads = [
            threading.Thread(target=user, args=(s, random.Random(i)), daemon=True)
            for i, s in enumerate(sessions)
        ]
        if args.writes_per_second > 0:
            threads.append(threading.Thread(target=writer, args=(random.Random(99),), daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()

    result: dict[str, Any] = {
        "patients": args.patients,
        "messages": args.messages,
        "open_episodes": args.open,
        "users": args.users,
        "seconds": args.seconds,
        "think_s": args.think_seconds,
        "web_workers": web.workers,
        "web_threads": web.threads,
        "fill_s": round(fill_s, 1),
        "machine_load_avg_1min_at_start": round(load_at_start, 2),
        "machine_load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "machine_cores": os.cpu_count(),
    }
    for name, values in sorted(timings.items()):
        result.update(latency(name, values, errors=errors.get(name, 0)))
    total = sum(len(v) for v in timings.values())
    result["requests_per_s"] = round(total / args.seconds, 1)
    if appear:
        ms = [v * 1000 for v in appear]
        result["message_in_inbox_count"] = len(ms)
        result["message_in_inbox_p50_ms"] = round(statistics.median(ms), 1)
        result["message_in_inbox_p95_ms"] = round(percentile(ms, 95), 1)
        result["message_in_inbox_max_ms"] = round(max(ms), 1)
    say(f"store and logs kept in {work}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
