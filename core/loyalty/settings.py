"""The programme's effective settings: [loyalty] from the config, overlaid by the owner's
changes made in the panel (stored in loyalty_settings, validated like the config file)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Config, ConfigError, LoyaltyConfig
from core.models import LoyaltySetting

log = logging.getLogger(__name__)

KEYS = tuple(f.name for f in dataclasses.fields(LoyaltyConfig))


def overrides(session: Session) -> dict[str, Any]:
    return {
        key: value
        for key, value in session.execute(select(LoyaltySetting.key, LoyaltySetting.value))
        if key in KEYS
    }


def effective(session: Session, config: Config) -> LoyaltyConfig:
    """The settings in force now. An override that no longer validates (a release made a
    rule stricter) is ignored with a warning rather than stopping accruals."""
    changes = overrides(session)
    if not changes:
        return config.loyalty
    try:
        return config.replace(loyalty=changes).loyalty
    except ConfigError:
        good: dict[str, Any] = {}
        for key, value in changes.items():
            try:
                config.replace(loyalty={**good, key: value})
            except ConfigError as exc:
                log.warning("ignoring the panel's loyalty setting %s: %s", key, exc)
            else:
                good[key] = value
        return config.replace(loyalty=good).loyalty


def save(session: Session, config: Config, values: dict[str, Any], user: str) -> LoyaltyConfig:
    """Validate and store the owner's settings; a value equal to the config's is not an
    override, so a later change of the config file still reaches it. Raises ConfigError."""
    unknown = set(values) - set(KEYS)
    if unknown:
        raise ConfigError(f"unknown loyalty settings: {', '.join(sorted(unknown))}")
    merged = {**overrides(session), **values}
    result = config.replace(loyalty=merged).loyalty  # raises with the key and the rule
    defaults = dataclasses.asdict(config.loyalty)
    now = utcnow()
    for key in KEYS:
        value = getattr(result, key)
        row = session.get(LoyaltySetting, key)
        if value == defaults[key]:
            if row is not None:
                session.execute(delete(LoyaltySetting).where(LoyaltySetting.key == key))
        elif row is None:
            session.add(LoyaltySetting(key=key, value=value, updated_by=user, updated_at=now))
        elif row.value != value:
            row.value, row.updated_by, row.updated_at = value, user, now
    session.flush()
    return result
