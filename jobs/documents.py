"""The documents' job: the clinic's chosen template to each patient before a first visit
(core.documents.rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.clock import utcnow
from core.db import transaction
from core.documents.rules import send_before_first_visit

if TYPE_CHECKING:
    from jobs.runner import Appliance


def first_visit(appliance: Appliance) -> int:
    with transaction(appliance.factory) as session:
        sent = send_before_first_visit(session, appliance.config, utcnow())
    if sent:
        appliance.dispatcher.wake()
    return sent
