"""An MIS that goes away: the sync backs off, the staff hear of it once, and when it comes
back exactly the changes made meanwhile become events, each once.

The network between Kabinet and the real database server is a small TCP relay the test
can cut, as a switch or a VPN would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import from_mapping
from core.db import make_engine, session_factory
from core.health import mis_health
from core.migrate import upgrade
from core.models import DomainEvent, OutboxMessage
from jobs.runner import Appliance
from tests.connectors.contract.conftest import MARKS
from tests.connectors.contract.engines import MisEngine, mis_now

UPSTREAM_PORT = {"ident": "PORT=5432", "opendental": ":3306/", "infodent": ":3050/"}


class Relay:
    """Forwards TCP connections to the database server until cut."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.cut = False
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                if self.cut:
                    client.close()  # the far side is gone
                    continue
                server = socket.create_connection(self.upstream)
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        with self._lock:
            self.cut = True
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def up(self) -> None:
        with self._lock:
            self.cut = False

    def close(self) -> None:
        self.down()
        self.listener.close()


@pytest.fixture(params=[pytest.param(p, marks=MARKS[p]) for p in UPSTREAM_PORT])
def relayed(request: pytest.FixtureRequest) -> Iterator[tuple[MisEngine, Relay]]:
    engine: MisEngine = request.getfixturevalue(f"{request.param}_engine")
    relay = Relay(int(_port(UPSTREAM_PORT[engine.profile])))
    yield engine, relay
    relay.close()


def _port(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _events(factory: sessionmaker[Session], subjects: set[str]) -> list[tuple[str, str]]:
    with factory() as s:
        rows = s.scalars(select(DomainEvent).order_by(DomainEvent.id))
        return [(e.kind, e.subject) for e in rows if e.subject in subjects]


def test_an_outage_backs_off_alerts_once_and_loses_nothing(
    relayed: tuple[MisEngine, Relay], tmp_path: Path
) -> None:
    mis, relay = relayed
    upstream = UPSTREAM_PORT[mis.profile]
    dsn = mis.dsn.replace(upstream, upstream.replace(_port(upstream), str(relay.port)))
    sections = mis.sections(tmp_path, dsn=dsn, poll_seconds=15, retry_max_seconds=120)
    sections["telegram"] = {"mode": "off", "staff_chat_id": -1001234}
    config = from_mapping(sections, environ={})
    Path(config.storage.data_dir).mkdir(parents=True)
    store = make_engine(config.storage.url)
    upgrade(store, Path(config.storage.data_dir, "migrate.lock"))
    factory = session_factory(store)
    # The wall clock stands still but for the polls' 15 s steps (time-machine).
    travel = time_machine.travel(utcnow().replace(microsecond=0), tick=False)
    clock = travel.start()
    appliance = Appliance(config, factory=factory)
    writer = mis.writer_factory()
    try:
        doctor = writer.add_doctor("Сбоева", "Нина", "Петровна")
        patient = writer.add_patient("Сбоев", "Иван", "Ильич", "+7 922 900-00-01", date(1975, 5, 5))
        day = (mis_now() + timedelta(days=5)).replace(hour=8, minute=0, second=0)
        first = writer.book(patient, doctor, day)
        appliance.sync_job()  # the import
        assert mis_health(factory())["ok"] is True

        relay.down()
        attempts: list[int] = []
        for step in range(16):  # every poll, 15 s apart, for four minutes
            clock.shift(timedelta(seconds=15 if step else 0))
            before = mis_health(factory()).get("failures") or 0
            appliance.sync_job()
            if mis_health(factory())["failures"] > before:
                attempts.append(step * 15)
            if step == 1:
                # Meanwhile the clinic works on: the MIS itself is up, only we cannot reach it.
                writer.move(first, start=day + timedelta(hours=1))
                second = writer.book(patient, doctor, day + timedelta(days=1))
                paid = writer.pay(patient, "1800.00", None)
        # Tried at once, then after 15, 30, 60 s, then every 120 s (the cap): not every poll.
        assert attempts == [0, 15, 45, 105, 225], attempts
        health = mis_health(factory())
        assert health["ok"] is False and health["failures"] == 5
        assert datetime.fromisoformat(health["since"]) == utcnow() - timedelta(seconds=225)

        relay.up()
        clock.shift(timedelta(seconds=15))  # t = 240: not due yet
        appliance.sync_job()
        assert mis_health(factory())["ok"] is False
        clock.shift(timedelta(seconds=105))  # t = 345: due
        appliance.sync_job()
        assert mis_health(factory())["ok"] is True
        clock.shift(timedelta(seconds=15))  # and back to every poll: nothing new to tell
        appliance.sync_job()
    finally:
        travel.stop()
        writer.close()
        appliance.connector.close()
        store.dispose()

    assert _events(factory, {first, second, paid}) == [
        ("appointment.moved", first),
        ("appointment.created", second),
        ("payment.received", paid),
    ]
    with factory() as s:
        alerts = [m.key for m in s.scalars(select(OutboxMessage)) if m.kind == "alert"]
    assert sorted(k.split(":")[0] for k in alerts) == ["mis-down", "mis-up"]
