"""The demo clinic: an IDENT-shaped MIS database in SQLite that lives like a real clinic.

    from sandbox.demo_clinic import build_demo_clinic, ClinicSimulator, persona

    clinic = build_demo_clinic("demo.sqlite3", patients=400)
    anna = persona("anna")            # a fixed patient with a visit tomorrow at 10:00
    sim = ClinicSimulator(clinic)
    sim.step(until=clinic.now() + timedelta(hours=8))

Used by `kabinet demo`, end-to-end tests and benchmarks. Schema: schema.sql.
"""

from .clinic import BookingConflict, DemoClinic, reception_status, to_decimal
from .generator import build_demo_clinic
from .personas import PERSONAS, Persona, PersonaVisit, persona
from .simulator import ClinicSimulator, SimulatorRates

__all__ = [
    "PERSONAS",
    "BookingConflict",
    "ClinicSimulator",
    "DemoClinic",
    "Persona",
    "PersonaVisit",
    "SimulatorRates",
    "build_demo_clinic",
    "persona",
    "reception_status",
    "to_decimal",
]
