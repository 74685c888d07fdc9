"""`kabinet demo`: the appliance on the embedded demo clinic, with the Telegram and MAX emulators.

Everything runs on this machine: the demo clinic (an IDENT-shaped SQLite file changing as
a simulated day goes by), the Telegram and MAX Bot API emulators, each with a page that
shows a patient's phone (each page links to the other: a visitor tries either messenger),
an SMS.ru stand-in whose messages (MAX's one-time code: a MAX contact card does not prove
the number) appear on the MAX phone page, and Kabinet itself, configured exactly as a real
install would be. The demo starts fresh
each time: its personas have visits "tomorrow", which only holds on the day it is built.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from filelock import Timeout

from app.serve import serve
from app.storage import ensure_owner, prepare_storage
from core.config import load
from core.db import make_engine, session_factory, transaction
from core.staff import create_user
from jobs.lock import RunnerLock
from sandbox.demo_clinic import DemoClinic, build_demo_clinic
from sandbox.demo_clinic.personas import persona
from sandbox.demo_clinic.simulator import ClinicSimulator, SimulatorRates
from sandbox.demo_clinic.timeline import DEMO_TIMELINE, StagedVisit, stage_demo_visit
from sandbox.demo_clinic.wallclock import clinic_now
from sandbox.max import MaxEmulator
from sandbox.sms import SmsRuEmulator
from sandbox.telegram import TelegramEmulator

DEMO_TOKEN = "100000001:DEMO-kabinet-sandbox-token-000000"
DEMO_BOT = "kabinet_demo_bot"
DEMO_TIMEZONE = "Europe/Moscow"
DEFAULT_EMULATOR_PORT = 8081
# MAX's emulator: the next port (a free one when the Telegram emulator's is 0).
DEMO_MAX_TOKEN = "demo-kabinet-max-sandbox-token"
DEMO_MAX_BOT = "kabinet_demo_max_bot"
DEMO_SMS_API_ID = "DEMO-SMS-API-ID"
# Marks a directory the demo made, so that only such a directory is ever emptied.
MARKER = ".kabinet-demo"


@dataclass
class DemoSetup:
    config_path: Path
    emulator: TelegramEmulator
    clinic: DemoClinic
    staff_chat_id: int
    patient_user_id: int
    owner_password: str
    panel_url: str
    max_emulator: MaxEmulator
    max_chat_id: int  # the same patient's dialog in MAX
    sms: SmsRuEmulator
    simulator: ClinicSimulator  # follows the clinic's real time (run_demo starts it)
    visit: StagedVisit  # Anna's visit today, a few minutes after the start

    @property
    def telegram_phone(self) -> str:
        # The page's START button sends the deep link's /start payload.
        return f"{self.emulator.phone_url(self.patient_user_id)}&start=demo"

    @property
    def max_phone(self) -> str:
        return f"{self.max_emulator.phone_url(self.max_chat_id)}&start=demo"

    def stop(self) -> None:
        self.emulator.stop()
        self.max_emulator.stop()
        self.sms.stop()


def show_sms_on_max_phones(sms: SmsRuEmulator, max_emu: MaxEmulator, stop: threading.Event) -> None:
    """The demo's "SMS app": each SMS the appliance sends (the one-time code that links a
    MAX account) appears on the MAX phone page of the person with that number."""
    shown = 0
    while not stop.wait(0.5):
        for message in sms.sent[shown:]:
            for chat_id in max_emu.chats_with_phone(message.to):
                max_emu.note(chat_id, f"SMS на {message.to}: {message.msg}")
            shown += 1


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> None:
    lines = ["# Written by `kabinet demo`; regenerated at every start.", ""]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def reset_data_dir(data_dir: Path) -> None:
    """Empty the demo's directory for a fresh start.

    Refuses a directory the demo did not make (``--data-dir /var/lib/kabinet`` must not
    wipe a real installation) and one whose demo is still running.
    """
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise click.ClickException(
                f"{data_dir} is not empty and was not made by `kabinet demo`; "
                "refusing to empty it (pick another --data-dir)"
            )
        lock = RunnerLock(data_dir)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise click.ClickException(
                f"another Kabinet demo is running on {data_dir} ({lock.holder()}); "
                "stop it first or pick another --data-dir"
            ) from None
        lock.release()
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by `kabinet demo`; emptied at every demo start\n")


def free_port(host: str = "127.0.0.1", port: int = 0) -> int:
    """`port` if it can be listened on (any free one for 0); a clear error otherwise."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror}); is another demo running? "
                "Pick another port (0 picks a free one)"
            ) from None
        return int(probe.getsockname()[1])


def prepare_demo(
    data_dir: Path,
    *,
    port: int,
    emulator_port: int = DEFAULT_EMULATOR_PORT,
    patients: int = 400,
    seed: int = 42,
    poll_seconds: int = 5,
) -> DemoSetup:
    """Build the demo clinic, start the emulator and write the configuration.

    ``emulator_port`` 0 picks a free port.
    """
    if emulator_port:
        free_port(port=emulator_port)  # fail before building anything
    reset_data_dir(data_dir)
    # The clinic lives on its own wall clock, whatever the machine's time zone (often UTC
    # on servers): its "tomorrow at 10:00" must be Moscow's, as Kabinet reads it. The
    # simulator follows that clock: Kabinet believes no arrival before the visit is near.
    clinic = build_demo_clinic(
        data_dir / "clinic.sqlite3", seed=seed, patients=patients, now=clinic_now()
    )
    simulator = ClinicSimulator(clinic, seed=seed, wallclock=clinic_now)
    visit = stage_demo_visit(clinic, simulator)

    max_port = emulator_port + 1 if emulator_port else 0
    if max_port:
        free_port(port=max_port)
    # The emulators listen where the panel does: KABINET_HOST=0.0.0.0 (the Docker image's)
    # lets a browser outside the container open the patient's phone pages too.
    host = os.environ.get("KABINET_HOST") or "127.0.0.1"
    emulator = TelegramEmulator(host=host, port=emulator_port)
    emulator.start()
    max_emu = MaxEmulator(DEMO_MAX_TOKEN, host=host, port=max_port).start()
    max_emu.bot.update(first_name="Клиника «Улыбка»", username=DEMO_MAX_BOT)
    sms = SmsRuEmulator([DEMO_SMS_API_ID]).start()
    emulator.register_bot(token=DEMO_TOKEN, username=DEMO_BOT, first_name="Клиника «Улыбка»")
    anna = persona("anna")
    # Her Telegram account knows her number, as a real one does: "Share my number" sends
    # it without asking.
    patient = emulator.create_user(
        first_name=anna.name,
        last_name=anna.surname,
        language_code="ru",
        phone_number=anna.phone_e164,
    )
    # The same Anna in MAX: her number is what MAX's "share contact" sends; linking there
    # takes the code the clinic sends by SMS to the number in the MIS.
    max_chat_id = max_emu.create_user(anna.name, anna.surname, phone=anna.phone_e164)
    staff = emulator.create_user(first_name="Ольга", last_name="Администратор", language_code="ru")
    staff_chat_id = emulator.create_group(title="Администраторы клиники", member_ids=[staff["id"]])

    owner_password = secrets.token_urlsafe(9)
    panel_url = f"http://127.0.0.1:{port}/"
    write_config(
        data_dir / "kabinet.toml",
        {
            # The bot says "бот клиники «{name}»": a name without quotes of its own.
            "clinic": {"name": "Улыбка", "timezone": DEMO_TIMEZONE},
            "web": {"host": "127.0.0.1", "port": port},
            "storage": {"data_dir": str(data_dir.resolve())},
            "telegram": {
                "token": DEMO_TOKEN,
                "bot_username": DEMO_BOT,
                "api_url": emulator.url,
                "staff_chat_id": staff_chat_id,
            },
            "max": {
                "enabled": True,
                "token": DEMO_MAX_TOKEN,
                "bot_name": DEMO_MAX_BOT,
                "api_url": max_emu.url,
            },
            "mis": {
                "profile": "demo",
                "dsn": str((data_dir / "clinic.sqlite3").resolve()),
                "poll_seconds": poll_seconds,
            },
            # The demo shows everything at once, whatever the hour: no quiet hours, and
            # tomorrow's reminders go as soon as the visit is known (not at 12:00).
            "messaging": {
                "quiet_hours_start": "00:00",
                "quiet_hours_end": "00:00",
                "reminder_send_at": "00:00",
                "rating_delay_minutes": DEMO_TIMELINE.rating_delay_minutes,
                "sms_enabled": True,
                "sms_api_url": sms.url,
                "sms_api_id": DEMO_SMS_API_ID,
            },
        },
    )
    setup = DemoSetup(
        config_path=data_dir / "kabinet.toml",
        emulator=emulator,
        clinic=clinic,
        staff_chat_id=staff_chat_id,
        patient_user_id=patient["id"],
        owner_password=owner_password,
        panel_url=panel_url,
        max_emulator=max_emu,
        max_chat_id=max_chat_id,
        sms=sms,
        simulator=simulator,
        visit=visit,
    )
    setup.emulator.elsewhere = {"MAX": setup.max_phone}
    max_emu.elsewhere = {"Telegram": setup.telegram_phone}
    return setup


def run_demo(
    data_dir: Path,
    *,
    port: int | None = None,
    emulator_port: int | None = None,
) -> None:
    """Run the demo until Ctrl+C. Port 0 (panel or emulator) picks a free one."""
    if port is None:
        port = int(os.environ.get("KABINET_PORT") or 8080)
    port = free_port(port=port)
    if emulator_port is None:
        emulator_port = DEFAULT_EMULATOR_PORT
    setup = prepare_demo(data_dir, port=port, emulator_port=emulator_port)
    try:
        os.environ["KABINET_CONFIG"] = str(setup.config_path.resolve())
        config = load(setup.config_path)
        prepare_storage(config)
        engine = make_engine(config.storage.url)
        with transaction(session_factory(engine)) as session:
            create_user(session, "owner", "owner", setup.owner_password, "Главный врач")
        engine.dispose()
        ensure_owner(config)  # no-op now; kept so the demo takes the same path as a real start

        # demo.speed compresses the day by a busier desk; the clock stays the clinic's.
        simulator = setup.simulator
        simulator.rates = SimulatorRates().busier(config.demo.speed)
        emulator = setup.emulator
        bot_link = f"https://t.me/{DEMO_BOT}?start=demo"
        click.echo(
            "\n".join(
                [
                    "",
                    "Kabinet demo is starting.",
                    f"  Panel:          {setup.panel_url}   login: owner   "
                    f"password: {setup.owner_password}",
                    f"  Patient phone:  {setup.telegram_phone}",
                    f"  Same in MAX:    {setup.max_phone}",
                    f"  Staff group:    {emulator.url}/_emulator/chats/{setup.staff_chat_id}"
                    "/transcript (JSON)",
                    f"  Bot API:        {emulator.url} (emulator; deep link {bot_link})",
                    f"  MAX Bot API:    {setup.max_emulator.url} (emulator; deep link "
                    f"https://max.ru/{DEMO_MAX_BOT}?start=demo)",
                    f"  Health:         {setup.panel_url}healthz",
                    f"  Anna's visit:   {setup.visit.starts_at:%H:%M} "
                    f"({DEMO_TIMEZONE}; README: Try it)",
                    "Press Ctrl+C to stop.",
                    "",
                ]
            )
        )

        def simulate(stop: threading.Event) -> None:
            simulator.run_in_thread(stop)

        def sms_to_phones(stop: threading.Event) -> None:
            show_sms_on_max_phones(setup.sms, setup.max_emulator, stop)

        serve(config, extra_threads=(simulate, sms_to_phones))
    except KeyboardInterrupt:  # before serve() took over Ctrl+C: still a clean stop
        click.echo("Kabinet demo stopped.", err=True)
    finally:
        setup.stop()
