"""The runner's staff_posts job: staff-group posts that could not be edited at once.

A post changed while its first message was still on the wire has no Telegram id to edit
yet, and a staff reply's failed delivery is known only after the dispatcher tried it; this
catches both up (core.conversations.staff_group.refresh_due) every few seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.conversations.staff_group import refresh_due
from core.db import transaction

if TYPE_CHECKING:
    from jobs.runner import Appliance


def refresh(appliance: Appliance) -> int:
    with transaction(appliance.factory) as session:
        count = refresh_due(session, appliance.config, appliance.clock())
    if count:
        appliance.dispatcher.wake()
    return count
