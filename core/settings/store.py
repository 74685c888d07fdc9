"""The overrides made on the «Настройки» screen and the configuration in force with them.

The file stays the source for what IT sets: a panel value equal to the file's is not kept,
so a later change of the file still reaches the clinic. Every reader of these settings
(the reminder and rating jobs, the dispatcher's quiet hours, the arrival welcome) asks
`effective` for the configuration in force instead of using the file's alone.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import HTTPS_ADDRESS, REVIEW_LINKS_MAX, Config, ConfigError, redact
from core.settings import templates
from core.settings.catalogue import (
    BY_KEY,
    REVIEW_PLATFORM_LABELS,
    Setting,
    review_platform_label,
)
from core.settings.models import PanelSetting

log = logging.getLogger(__name__)

# (id of the file's Config, the overrides as JSON) -> the Config in force. The dispatcher
# asks on every pass; rebuilding (and re-checking) the whole config each time is waste.
_CACHE: dict[tuple[int, str], tuple[Config, Config]] = {}
_CACHE_SIZE = 32


class SettingRefused(ValueError):
    """A value the screen does not take; the message is for the owner, in Russian."""


def overrides(session: Session) -> dict[str, Any]:
    rows = session.execute(select(PanelSetting.key, PanelSetting.value))
    return {key: value for key, value in rows if key in BY_KEY}


def file_value(config: Config, key: str) -> Any:
    setting = BY_KEY[key]
    return _plain(getattr(getattr(config, setting.section), setting.name))


def _plain(value: Any) -> Any:
    """As stored in JSON: tuples are lists."""
    return list(value) if isinstance(value, tuple) else value


def _apply(config: Config, changes: dict[str, Any]) -> Config:
    sections: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, value in changes.items():
        setting = BY_KEY[key]
        sections[setting.section][setting.name] = value
    return config.replace(**sections)


def effective(session: Session, config: Config) -> Config:
    """The configuration in force now. An override that no longer validates (a release
    made a rule stricter) is ignored with a warning rather than stopping the jobs. The
    owner's message texts are handed to render() on the way (core.settings.templates)."""
    templates.publish(session)
    changes = overrides(session)
    if not changes:
        return config
    cache_key = (id(config), json.dumps(changes, sort_keys=True, ensure_ascii=False))
    found = _CACHE.get(cache_key)
    if found is not None and found[0] is config:  # not another config at a reused id
        return found[1]
    try:
        result = _apply(config, changes)
    except ConfigError:
        good: dict[str, Any] = {}
        for key, value in changes.items():
            try:
                _apply(config, {**good, key: value})
            except ConfigError as exc:
                log.warning("ignoring the panel's setting %s: %s", key, exc)
            else:
                good[key] = value
        result = _apply(config, good)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[cache_key] = (config, result)
    return result


def _refusal(setting: Setting, typed: str) -> str:
    """«Начало тихих часов»: «25:00» не подходит — время в виде ЧЧ:ММ, например 21:00."""
    return f"«{setting.label}»: «{typed}» не подходит — {setting.hint}."


def parse(setting: Setting, text: str | None) -> Any:
    """The form's text as the config file would hold it; the checks are the file's."""
    if setting.kind == "bool":
        return text == "on"
    raw = (text or "").strip()
    if setting.kind == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if setting.kind == "int":
        if not (raw.isascii() and raw.lstrip("-").isdigit()):
            raise SettingRefused(_refusal(setting, raw))
        return int(raw)
    if setting.kind == "choice" and raw not in {value for value, _ in setting.choices}:
        raise SettingRefused(_refusal(setting, raw))
    return raw


def parse_links(setting: Setting, rows: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    """The rows of «Площадки для отзывов» (platform, name, address) as the config file
    holds them, in the owner's order; a row without an address is an empty row. The name
    is kept for «другая» only (the known platforms have theirs)."""
    links: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for number, (platform, name, url) in enumerate(rows, 1):
        platform, name, url = platform.strip(), name.strip(), url.strip()
        if not url:
            continue
        where = f"«{setting.label}», строка {number}"
        if platform not in REVIEW_PLATFORM_LABELS:
            raise SettingRefused(f"{where}: площадка «{platform}» не из списка.")
        if not HTTPS_ADDRESS.match(url) or len(url) > 1000:
            raise SettingRefused(f"{where}: «{url}» не подходит — {setting.hint}.")
        if platform != "other":
            name = ""
        elif len(name) > 40:
            raise SettingRefused(f"{where}: название «{name}» длиннее 40 знаков.")
        if (platform, name) in seen:
            label = review_platform_label(platform, name)
            raise SettingRefused(
                f"{where}: «{label}» уже есть в строке {seen[platform, name]} — каждая "
                "площадка один раз."
            )
        seen[platform, name] = number
        links.append({"platform": platform, "url": url, **({"name": name} if name else {})})
    if len(links) > REVIEW_LINKS_MAX:
        raise SettingRefused(f"«{setting.label}»: не больше {REVIEW_LINKS_MAX} площадок.")
    return links


def _typed(value: Any) -> str:
    """A refused value as the owner typed it, for the message."""
    if isinstance(value, list):
        return ", ".join(str(v.get("url", v)) if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def save(session: Session, config: Config, values: dict[str, Any], user: str) -> list[str]:
    """Check and keep the owner's values (parsed, keyed "section.name"); returns the keys
    whose value changed. A refused value raises SettingRefused and nothing is kept."""
    for key, value in values.items():
        try:
            _apply(config, {key: value})
        except ConfigError as exc:
            raise SettingRefused(_refusal(BY_KEY[key], _typed(value))) from exc
    merged = {**overrides(session), **values}
    in_force = _apply(config, merged)  # the values together (each one passed alone)
    was = effective(session, config)
    changed = []
    now = utcnow()
    for key in values:
        value = file_value(in_force, key)
        before = file_value(was, key)
        row = session.get(PanelSetting, key)
        if value == file_value(config, key):
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(PanelSetting(key=key, value=value, updated_by=user, updated_at=now))
        elif row.value != value:
            row.value, row.updated_by, row.updated_at = value, user, now
        if value != before:
            changed.append(key)
    session.flush()
    return changed


def reset(session: Session, key: str) -> bool:
    """Back to the file's value; False if the panel had not changed it."""
    row = session.get(PanelSetting, key)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def changed_at(session: Session) -> dict[str, PanelSetting]:
    return {row.key: row for row in session.scalars(select(PanelSetting)) if row.key in BY_KEY}


def in_force(factory: sessionmaker[Session], config: Config) -> Config:
    """`effective` for a job that has no session open yet."""
    with factory() as session:
        return effective(session, config)


def mis_in_force(factory: sessionmaker[Session], config: Config) -> Config:
    """The file's configuration with the MIS connection checked and kept on «Подключение
    к МИС» (the runner opens its connector with it, once, at start). A store not yet
    migrated, or a kept value that no longer validates, leaves the file's."""
    try:
        with factory() as session:
            changes = {k: v for k, v in overrides(session).items() if k.startswith("mis.")}
    except SQLAlchemyError:
        return config
    if not changes:
        return config
    try:
        return _apply(config, changes)
    except ConfigError as exc:
        log.warning("ignoring the panel's MIS connection: %s", redact(str(exc), config))
        return config
