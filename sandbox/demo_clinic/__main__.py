"""Command line: build a demo clinic, watch it live, or summarise it.

python -m sandbox.demo_clinic build PATH [--patients N] [--seed S] [--doctors D] ...
python -m sandbox.demo_clinic simulate PATH [--speed 60] [--seed 1] [--duration SECONDS]
python -m sandbox.demo_clinic info PATH
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

from sandbox.demo_clinic.wallclock import clinic_now

from .clinic import DemoClinic
from .generator import build_demo_clinic
from .personas import PERSONAS
from .simulator import ClinicSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.demo_clinic", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="create (or replace) a demo clinic database")
    build.add_argument("path", type=Path)
    build.add_argument("--patients", type=int, default=400)
    build.add_argument("--seed", type=int, default=42)
    build.add_argument("--doctors", type=int, default=10)
    build.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    build.add_argument("--history-days", type=int, default=365)
    build.add_argument("--future-days", type=int, default=21)
    build.add_argument("--receptions-per-patient", type=float, default=None)
    build.add_argument("--payments-per-reception", type=float, default=None)

    simulate = sub.add_parser("simulate", help="let the clinic live; prints what happens")
    simulate.add_argument("path", type=Path)
    simulate.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--duration", type=float, default=None, help="stop after N real seconds")

    info = sub.add_parser("info", help="print build parameters, row counts and personas")
    info.add_argument("path", type=Path)

    args = parser.parse_args(argv)
    if args.command == "build":
        started = time.monotonic()
        clinic = build_demo_clinic(
            args.path,
            seed=args.seed,
            today=args.today,
            patients=args.patients,
            doctors=args.doctors,
            history_days=args.history_days,
            future_days=args.future_days,
            receptions_per_patient=args.receptions_per_patient,
            payments_per_reception=args.payments_per_reception,
        )
        print(f"built {clinic.path} in {time.monotonic() - started:.1f} s")
        _print_counts(clinic)
        return 0
    clinic = DemoClinic(args.path)
    if args.command == "info":
        for key, value in clinic.info().items():
            print(f"{key}: {value}")
        _print_counts(clinic)
        for p in PERSONAS:
            print(f"persona {p.key}: patient {p.person_id}, {p.full_name}, {p.phone_as_typed!r}")
        return 0

    start = None
    built = clinic.info()
    if built.get("today") != clinic_now().date().isoformat() and built.get("now"):
        # A clinic built for another day lives from the moment it was built for.
        start = datetime.fromisoformat(built["now"])
    sim = ClinicSimulator(clinic, seed=args.seed, speed=args.speed, start=start)
    stop = threading.Event()
    print(
        f"simulating from {sim.now:%Y-%m-%d %H:%M} at x{args.speed:g}; Ctrl-C to stop", flush=True
    )

    def show(actions: list[str]) -> None:
        for action in actions:
            print(action, flush=True)

    thread = sim.run_in_thread(stop, on_actions=show)
    try:
        if args.duration is None:
            while thread.is_alive():
                thread.join(0.5)
        else:
            thread.join(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join()
    return 0


def _print_counts(clinic: DemoClinic) -> None:
    con = clinic.connect()
    try:
        for table in (
            "Patients",
            "Staffs",
            "Receptions",
            "PaymentsIn",
            "PaymentsOut",
            "DeletedRows",
        ):
            print(f"{table}: {con.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]}")
        print(f"RowVersion: {clinic.row_version()}")
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
