"""The runner's backups: nightly, and at start when the nightly one was missed.

What happened is kept in the store's kv table (`backup.last`) for /healthz and
`kabinet status`: when, where, and the error if it failed or the second copy did not land.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.backup import BACKUP_KEY, BackupError, backup, newest_backup, stamp_of
from core.config import redact
from core.db import transaction
from core.models import KeyValue

if TYPE_CHECKING:
    from jobs.runner import Appliance

log = logging.getLogger(__name__)

# The catch-up run backs up when the newest backup is older than this: a server that was
# off at 03:30, or a fresh installation, gets one within the hour.
CATCH_UP_AFTER = timedelta(hours=25)


def _record(appliance: Appliance, value: dict[str, Any]) -> None:
    with transaction(appliance.factory) as session:
        row = session.get(KeyValue, BACKUP_KEY)
        if row is None:
            session.add(KeyValue(key=BACKUP_KEY, value=value))
        else:
            row.value = value


def nightly(appliance: Appliance) -> str:
    config = appliance.config
    now = appliance.clock()
    try:
        result = backup(config)
    except (BackupError, OSError) as exc:
        message = redact(str(exc), config)
        log.error("nightly backup failed: %s", message)
        _record(appliance, {"at": now.isoformat(), "ok": False, "error": message})
        return ""
    if result.copy_error:
        log.error("nightly backup: %s", result.copy_error)
    _record(
        appliance,
        {
            "at": now.isoformat(),
            "ok": True,
            "path": str(result.path),
            "size": result.path.stat().st_size,
            "copied_to": str(result.copied_to or ""),
            "copy_error": result.copy_error,
            "error": "",
        },
    )
    log.info("backup written: %s (%d old ones pruned)", result.path, result.pruned)
    return str(result.path)


def catch_up(appliance: Appliance) -> str:
    """Back up now if the newest backup is too old (or there is none yet)."""
    newest = newest_backup(appliance.config)
    taken = stamp_of(newest) if newest is not None else None
    if taken is not None and appliance.clock() - taken < CATCH_UP_AFTER:
        return ""
    return nightly(appliance)
