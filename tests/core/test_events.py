"""The domain events' one list (core.events.EventKind) against the rules that act on them."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import connectors.sync
import core.visits.no_show_sweep
from core import events
from core.events import PAYLOADS, EventKind
from core.rules import IGNORED, Rules


def test_every_kind_the_sync_can_record_is_handled_or_declared_ignored() -> None:
    unhandled = sorted(set(EventKind) - set(Rules.HANDLERS) - IGNORED)
    assert unhandled == [], f"no rule handles {unhandled} and they are not in core.rules.IGNORED"
    assert set(Rules.HANDLERS) & IGNORED == set(), "a kind both handled and ignored"
    # A handler or an ignore for a kind nobody records is a typo or a leftover.
    assert set(Rules.HANDLERS) | IGNORED <= set(EventKind)


def _literal_kinds(source: str) -> set[str]:
    return set(re.findall(r"[\"']((?:appointment|payment|patient)\.[a-z_]+)[\"':]", source))


def test_the_sync_records_only_kinds_of_the_one_list() -> None:
    """What records events (the sync package, the no-show sweep) names kinds through
    EventKind, never as text of its own that the list and the rules might not know."""
    sync_dir = Path(inspect.getfile(connectors.sync)).parent
    sources = [*sync_dir.glob("*.py"), Path(inspect.getfile(core.visits.no_show_sweep))]
    assert len(sources) > 5
    used = {kind for path in sources for kind in _literal_kinds(path.read_text())}
    # The one text key that is not a kind: a deleted visit's cancellation is keyed apart.
    assert used - set(EventKind) <= {"appointment.deleted"}
    assert used & set(EventKind) == set(), f"kinds written as text: {sorted(used)}"


def test_kinds_are_stored_as_the_same_text_as_before() -> None:
    assert EventKind.APPOINTMENT_NO_SHOW == "appointment.no_show"
    assert f"{EventKind.PAYMENT_REVERSED}:42" == "payment.reversed:42"
    assert {str(k) for k in EventKind} == {
        "appointment.created",
        "appointment.moved",
        "appointment.cancelled",
        "appointment.arrived",
        "appointment.completed",
        "appointment.no_show",
        "payment.received",
        "payment.reversed",
        "patient.created",
        "patient.changed",
    }


STARTS = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
EXAMPLES: list[events.Payload] = [
    events.AppointmentEvent("p1", "d1", STARTS, "scheduled"),
    events.AppointmentMoved("p1", "d2", STARTS, "scheduled", STARTS.replace(hour=3), "d1"),
    events.AppointmentCancelled("p1", STARTS, "scheduled", doctor_mis_id="d1", deleted=True),
    events.PaymentReceived("p1", Decimal("2500.00"), "money", STARTS, "a1"),
    events.PaymentReversed("p1", Decimal("2500.00"), refund_id="r1", refund_amount=Decimal("600")),
    events.PaymentReversed("p1", Decimal("2500.00"), refund_id="deleted"),
    events.PatientEvent(("+79123456789",), True),
]


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_a_payload_reads_back_as_it_was_stored(payload: events.Payload) -> None:
    assert type(payload).from_payload(payload.payload()) == payload


def test_every_kind_has_a_payload_and_a_wrong_one_is_refused() -> None:
    assert set(PAYLOADS) == set(EventKind)
    visit = EXAMPLES[0]
    events.check(EventKind.APPOINTMENT_NO_SHOW, visit)
    with pytest.raises(TypeError, match="carries PaymentReceived"):
        events.check(EventKind.PAYMENT_RECEIVED, visit)


def test_an_event_stored_by_an_earlier_version_still_reads() -> None:
    # payment.reversed as the sync wrote it for a reversed payment row: the received
    # payment's fields, no refund id or amount.
    old = {
        "patient_mis_id": "p1",
        "amount": "700.00",
        "method": "money",
        "paid_at": STARTS.isoformat(),
        "appointment_mis_id": "",
    }
    assert events.read("payment.reversed", old) == events.PaymentReversed("p1", Decimal("700.00"))
    with pytest.raises(ValueError):
        events.read("appointment.teleported", old)
