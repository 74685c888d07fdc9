"""Inbox under a campaign: a patient's message into the staff group and the inbox while a
30,000-message campaign is being sent.

    .venv/bin/python bench/inbox_campaign.py [--patients 30000] [--messages 200000]
                                             [--open 2000] [--campaign 30000]
                                             [--seconds 300] [--probe-every 6]

What runs, all on this machine:
- the Bot API emulator in this process (Telegram's limits: 30/s overall, 1/s per chat,
  20/min per group; `--latency-ms` before it handles each sendMessage, as the round
  trip), with `--patients` users who pressed Start long ago and a staff group;
- bench/inbox.py's store (30,000 linked patients, 200,000 messages, 2,000 open episodes),
  the patients' chats being the emulator's users;
- a campaign of `--campaign` messages queued in the outbox as the campaign job queues
  them (kind "campaign", campaign priority, one a patient, all due now);
- `kabinet run` as a clinic runs it: the runner (its Telegram poller, the dispatcher,
  the staff_posts job) and gunicorn with the panel.

Once the campaign is going out, every `--probe-every` seconds a patient writes to the bot
in the emulator, alternately a patient with no open episode (a new episode: the group
gets a new post) and, at least `conversations.group_edit_seconds` + 2 s later, the same
patient again (the post is edited in place). The message takes the runner's real way
(getUpdates → the handlers → core.conversations → the outbox → the dispatcher). Measured
from the emulator accepting the patient's message:
- group: until the emulator has accepted the staff group's sendMessage / editMessageText
  with that text;
- inbox: until the task's poll in the panel (/tasks/<id>/poll, what panel.js asks every
  3 s) has the line (the bench finds the task in the store, then polls every 50 ms);
- ack: for a new episode, until the patient's acknowledgement reaches the emulator.
The probes are spaced so the group's 20 messages a minute are not the limit: 6 s apart is
10 a minute. The campaign's throughput over the same window is reported too.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from broadcast import toml  # noqa: E402  (sibling benchmarks)
from inbox import PASSWORD, fill, free_port, latency, login, say  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from core.clock import utcnow  # noqa: E402
from core.config import load  # noqa: E402
from core.conversations.models import Conversation, ThreadMessage  # noqa: E402
from core.db import make_engine, session_factory, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import OutboxMessage, Patient, PatientLink, Subscriber, Task  # noqa: E402
from core.outbox import PRIORITY_CAMPAIGN, enqueue_many  # noqa: E402
from core.staff import create_user  # noqa: E402
from sandbox.demo_clinic import build_demo_clinic  # noqa: E402
from sandbox.telegram import TelegramEmulator  # noqa: E402

TOKEN = "100000010:BENCH-kabinet-inbox-campaign-token-0000"
KABINET = str(ROOT / ".venv" / "bin" / "kabinet")
CAMPAIGN_MARK = "Акция бенчмарка"
PROBE_MARK = "Вопрос бенчмарка"


class WatchedEmulator(TelegramEmulator):
    """The emulator, noting when the campaign's messages, the staff group's posts and
    edits carrying a probe, and a probe patient's acknowledgement were accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = 0
        self.campaign_times: list[float] = []
        self.in_group: dict[str, float] = {}  # probe text → first group post/edit with it
        self.probes: dict[str, float] = {}  # probe text → when the patient sent it
        self.acks: dict[int, float] = {}  # chat → when we wait for its acknowledgement
        self.acked: dict[int, float] = {}
        self._watch = threading.Lock()

    def handle_api(self, token: str, method: str, params: Any = None, files: Any = None) -> Any:
        response = super().handle_api(token, method, params, files)
        name = method.lower()
        if response.status != 200 or name not in ("sendmessage", "editmessagetext"):
            return response
        now = time.perf_counter()
        params = params or {}
        text = str(params.get("text", ""))
        try:
            chat = int(params.get("chat_id", 0))
        except (TypeError, ValueError):
            chat = 0
        with self._watch:
            if CAMPAIGN_MARK in text:
                self.campaign_times.append(now)
            elif chat == self.group:
                for probe in self.probes:
                    if probe not in self.in_group and probe in text:
                        self.in_group[probe] = now
            elif chat in self.acks and chat not in self.acked and name == "sendmessage":
                self.acked[chat] = now
        return response


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=30_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--open", type=int, default=2_000)
    ap.add_argument("--campaign", type=int, default=30_000)
    ap.add_argument("--seconds", type=float, default=300, help="how long patients write")
    ap.add_argument("--probe-every", type=float, default=6.0)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.campaign > args.patients:
        ap.error("--campaign: at most one message a patient")

    work = Path(tempfile.mkdtemp(prefix="kabinet-inbox-campaign-"))
    data_dir = work / "data"
    data_dir.mkdir()
    began = time.monotonic()

    emulator = WatchedEmulator(host="127.0.0.1", port=0)
    emulator.start()
    emulator.register_bot(token=TOKEN, username="kabinet_bench_bot", first_name="Клиника")
    users = []
    for i in range(args.patients):
        user = emulator.create_user(first_name=f"Анна{i}")
        emulator.send_text(user["id"], "/start")
        users.append(int(user["id"]))
    assert users == list(range(users[0], users[0] + len(users))), "emulator ids not in a row"
    staff = emulator.create_user(first_name="Ольга")
    group = emulator.create_group("Персонал клиники", [staff["id"]])
    emulator.group = group
    emulator.handle_api(TOKEN, "getUpdates", {"offset": 10**9})  # handed out long ago
    assert emulator.stats()["pending_updates"] == 0

    clinic_path = work / "clinic.sqlite3"
    build_demo_clinic(clinic_path, patients=10, doctors=2, seed=args.seed)
    port = free_port()
    config_path = work / "kabinet.toml"
    config_path.write_text(
        toml(
            {
                "clinic": {"name": "Бенчмарк", "timezone": "Europe/Moscow"},
                "web": {
                    "host": "127.0.0.1",
                    "port": port,
                    "secret_key": "bench-secret-key-bench-secret-key-0123456789",
                },
                "storage": {"data_dir": str(data_dir)},
                "telegram": {"token": TOKEN, "api_url": emulator.url, "staff_chat_id": group},
                "mis": {"profile": "demo", "dsn": str(clinic_path)},
                # Quiet hours off: the figures must not depend on the hour the bench runs.
                "messaging": {
                    "quiet_hours_start": "00:00",
                    "quiet_hours_end": "00:00",
                    "rating_enabled": False,
                    "birthday_enabled": False,
                },
            }
        )
    )
    config = load(config_path, environ={})
    engine = make_engine(config.storage.url)
    upgrade(engine, data_dir / "migrate.lock")
    factory = session_factory(engine)
    open_ids = fill(factory, args.patients, args.messages, args.open, args.seed, users[0])
    with transaction(factory) as s:
        # The store's open episodes have waited for months: the managers were alerted
        # about each long ago (else the runner's first escalation pass queues ~1,000
        # alerts at once, 50 minutes of the group's 20 a minute, ahead of new posts).
        s.execute(
            update(Task)
            .where(Task.id.in_(open_ids), Task.state == "open")
            .values(escalated_at=Task.created_at)
        )
        create_user(s, "staff0", "admin", PASSWORD, "Сотрудник 0")
        busy = set(s.scalars(select(Task.subscriber_id).where(Task.id.in_(open_ids))))
        chats = s.execute(
            select(Subscriber.id, Subscriber.chat_id, PatientLink.patient_mis_id, Conversation.id)
            .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
            .join(Conversation, Conversation.subscriber_id == Subscriber.id)
            .order_by(Subscriber.id)
        ).all()
        now = utcnow()
        queued = enqueue_many(
            s,
            [
                {
                    "key": f"campaign:bench:{sub}",
                    "chat_id": chat,
                    "channel": "telegram",
                    "patient_mis_id": mis_id,
                    "text": f"{CAMPAIGN_MARK}: скидка 10 % на гигиену до конца месяца",
                    "kind": "campaign",
                    "priority": PRIORITY_CAMPAIGN,
                    "due_at": now,
                }
                for sub, chat, mis_id, _ in chats[: args.campaign]
            ],
        )
        names = dict(s.execute(select(Patient.mis_id, Patient.last_name)).all())
    # Probe patients: none with an open episode, none the campaign skips (all get it).
    idle = [(chat, conv) for sub, chat, _, conv in chats if sub not in busy]
    assert names, "the store has no patients"
    say(
        f"setup in {time.monotonic() - began:.0f} s: {args.patients} patients, "
        f"{args.messages} messages, {queued} campaign messages queued"
    )

    if args.latency_ms > 0:
        emulator.inject_fault(
            "slow", method="sendMessage", count=None, delay=args.latency_ms / 1000
        )
    env = {**os.environ, "KABINET_CONFIG": str(config_path)}
    load_at_start = os.getloadavg()[0]
    log = open(work / "kabinet.log", "w")  # noqa: SIM115
    runner = subprocess.Popen([KABINET, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, list[float]] = {"group_new": [], "group_edit": [], "inbox": [], "ack": []}
    missed: dict[str, int] = {"group": 0, "inbox": 0}
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                requests.get(base + "/login", timeout=10)
                break
            except requests.RequestException:
                if runner.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        while len(emulator.campaign_times) < 100:
            if runner.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the campaign did not start; see {work / 'kabinet.log'}")
            time.sleep(0.5)
        session = login(base, "staff0")
        say("kabinet run up, the campaign going out; patients start writing")

        def probe(chat: int, conv: int, text: str, kind: str) -> None:
            with emulator._watch:
                emulator.probes[text] = 0.0
                if kind == "new":
                    emulator.acks[chat] = 0.0
            sent = time.perf_counter()
            emulator.send_text(chat, text)
            give_up = sent + 60
            task_id = None
            while task_id is None and time.perf_counter() < give_up:
                with factory() as s:
                    task_id = s.scalar(
                        select(ThreadMessage.task_id).where(
                            ThreadMessage.conversation_id == conv, ThreadMessage.text == text
                        )
                    )
                if task_id is None:
                    time.sleep(0.05)
            in_inbox = None
            while task_id is not None and time.perf_counter() < give_up:
                poll = session.get(f"{base}/tasks/{task_id}/poll", timeout=60).json()
                if text in poll["parts"].get("thread", ""):
                    in_inbox = time.perf_counter()
                    break
                time.sleep(0.05)
            while time.perf_counter() < give_up and (
                text not in emulator.in_group or (kind == "new" and chat not in emulator.acked)
            ):
                time.sleep(0.05)
            with lock:
                if in_inbox is None:
                    missed["inbox"] += 1
                else:
                    results["inbox"].append(in_inbox - sent)
                if text in emulator.in_group:
                    results[f"group_{kind}"].append(emulator.in_group[text] - sent)
                else:
                    missed["group"] += 1
                if kind == "new" and chat in emulator.acked:
                    results["ack"].append(emulator.acked[chat] - sent)

        edit_after = config.conversations.group_edit_seconds + 2
        pending: list[tuple[float, int, int]] = []  # (first message at, chat, conversation)
        workers: list[threading.Thread] = []
        window_start = time.perf_counter()
        sent_before = len(emulator.campaign_times)
        n = 0
        next_at = time.monotonic()
        end = next_at + args.seconds
        while next_at < end:
            n += 1
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += args.probe_every
            if pending and n % 2 == 0 and time.monotonic() - pending[0][0] >= edit_after:
                _, chat, conv = pending.pop(0)
                kind = "edit"
            else:
                chat, conv = idle.pop()
                pending.append((time.monotonic(), chat, conv))
                kind = "new"
            text = f"{PROBE_MARK} {n}: можно перенести визит на пятницу?"
            worker = threading.Thread(target=probe, args=(chat, conv, text, kind), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(timeout=90)
        window_s = time.perf_counter() - window_start
        campaign_in_window = len(emulator.campaign_times) - sent_before
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
        log.close()
    with factory() as s:
        left = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "campaign", OutboxMessage.state == "pending")
        )
    engine.dispose()
    emulator.stop()

    result: dict[str, Any] = {
        "patients": args.patients,
        "messages": args.messages,
        "open_episodes": args.open,
        "campaign_queued": queued,
        "seconds": args.seconds,
        "probe_every_s": args.probe_every,
        "emulated_latency_ms": args.latency_ms,
        "group_edit_seconds": config.conversations.group_edit_seconds,
        "campaign_sent_in_window": campaign_in_window,
        "campaign_msg_per_s_in_window": round(campaign_in_window / window_s, 2),
        "campaign_pending_at_end": left,
        "probes_missed_group": missed["group"],
        "probes_missed_inbox": missed["inbox"],
    }
    everything = results["group_new"] + results["group_edit"]
    for name, values in (
        ("message_in_group", everything),
        ("message_in_group_new_post", results["group_new"]),
        ("message_in_group_edit", results["group_edit"]),
        ("message_in_inbox", results["inbox"]),
        ("ack_to_patient", results["ack"]),
    ):
        if values:
            figures = latency(name, values)
            figures[f"{name}_count"] = figures.pop(f"{name}_requests")  # probes, not requests
            result.update(figures)
    result.update(
        {
            "machine_load_avg_1min_at_start": round(load_at_start, 2),
            "machine_load_avg_1min_at_end": round(os.getloadavg()[0], 2),
            "machine_cores": os.cpu_count(),
            "bench_duration_s": round(time.monotonic() - began, 1),
        }
    )
    say(f"store and logs kept in {work}")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
