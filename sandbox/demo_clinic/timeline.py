"""The demo's own visit: Anna comes in today, a few minutes after `kabinet demo` starts.

A real appliance watches the demo clinic, so the clinic lives in real time (the simulator
follows the clinic's wall clock). For a visitor to see an arrival and a rating within
minutes, the demo books Anna a short visit that starts `starts_in` from the demo's start:
the desk marks her arrived `arrives_after_start` after its start and closes the visit at
its planned end (she pays by card a minute or so later). With the day-before reminder of
her visit tomorrow at 10:00 that makes, on her phone page:

- the reminder with Confirm / Reschedule: at the appliance's reminder run (at start, then
  every 5 minutes) after she has linked her number;
- the arrival welcome, `starts_in` + `arrives_after_start` after the start (if she has
  linked by then: the welcome goes to the chats linked at arrival);
- the rating request at the next rating run (every 5 minutes) once the visit has ended
  `rating_delay_minutes` ago.

These are the demo's values only (written into the demo's kabinet.toml where they are
settings); the product's defaults stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import catalog as C
from .clinic import BookingConflict, DemoClinic
from .personas import persona
from .simulator import ClinicSimulator


@dataclass(frozen=True)
class DemoTimeline:
    starts_in: timedelta = timedelta(minutes=6)  # long enough to link the number first
    minutes: int = 3
    arrives_after_start: timedelta = timedelta(seconds=30)
    # messaging.rating_delay_minutes in the demo's config (the product's default is 120).
    rating_delay_minutes: int = 0


DEMO_TIMELINE = DemoTimeline()
THERAPIST = next(s for s in C.SPECIALTIES if s.key == "therapist")
CONSULTATION = THERAPIST.services[0].name  # a short check-up


@dataclass(frozen=True)
class StagedVisit:
    reception_id: int
    starts_at: datetime  # the clinic's naive local time
    arrives_at: datetime
    ends_at: datetime


def stage_demo_visit(
    clinic: DemoClinic,
    simulator: ClinicSimulator,
    timeline: DemoTimeline = DEMO_TIMELINE,
    persona_key: str = "anna",
) -> StagedVisit:
    """Book the persona's short visit `timeline.starts_in` from the clinic's now (whole
    minute, with a therapist if one is free, else any doctor) and stage its arrival and
    end in the simulator."""
    now = clinic.now()
    start = (now + timeline.starts_in).replace(second=0) + timedelta(minutes=1)
    who = persona(persona_key)
    doctors = sorted(clinic.doctors(), key=lambda d: (d[2] != THERAPIST.item_name, d[0]))
    for staff_id, _name, _item in doctors:
        try:
            rid = clinic.book(
                who.person_id,
                staff_id,
                start,
                timeline.minutes,
                services=CONSULTATION,
            )
        except BookingConflict:
            continue
        arrives_at = start + timeline.arrives_after_start
        ends_at = start + timedelta(minutes=timeline.minutes)
        simulator.stage(rid, arrives_at, ends_at)
        return StagedVisit(rid, start, arrives_at, ends_at)
    raise BookingConflict(f"no doctor is free at {start:%H:%M} for the demo's visit")
