"""The audit log: what each staff member changed through the panel, and when.

`changes_of` turns a flush's new, changed and deleted rows into before/after records; the
panel (app/audit.py) calls it from the session's flush events, so every change made while
serving a staff member is logged in the same transaction as the change itself: a change
that is rolled back leaves no entry, and no change is made without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, func, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.access.models import AuditEntry, StaffSession
from core.clock import Clock, utcnow

# Rows that change as a side effect of using the panel, not by a decision of the staff.
NOT_AUDITED = {StaffSession.__tablename__, AuditEntry.__tablename__}
# Columns whose values never go into the log; that they changed is still logged.
MASKED = {"password_hash", "token_hash", "secret"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _value(column: str, value: Any) -> Any:
    return "***" if column in MASKED and value is not None else _plain(value)


def _identity(obj: Any) -> Any:
    # From the columns: a new row's identity key is only assigned after the flush events.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return _plain(key[0]) if len(key) == 1 else [_plain(k) for k in key]


def changes_of(new: Iterable[Any], dirty: Iterable[Any], deleted: Iterable[Any]) -> list[dict]:
    """Before/after of a flush's rows (called after the flush: ids are known then, and the
    attribute history still holds the old values)."""
    out: list[dict] = []
    for op, objects in (("insert", new), ("update", dirty), ("delete", deleted)):
        for obj in objects:
            state = inspect(obj)
            table = state.mapper.local_table.name
            if table in NOT_AUDITED:
                continue
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            for attr in state.mapper.column_attrs:
                key = attr.key
                history = state.attrs[key].history
                if op == "insert":
                    after[key] = _value(key, getattr(obj, key))
                elif op == "delete":
                    old = history.deleted or history.unchanged
                    before[key] = _value(key, old[0] if old else None)
                elif history.has_changes():
                    before[key] = _value(key, history.deleted[0] if history.deleted else None)
                    after[key] = _value(key, history.added[0] if history.added else None)
            if op == "update" and not after:
                continue  # touched, nothing changed
            out.append(
                {"table": table, "id": _identity(obj), "op": op, "before": before, "after": after}
            )
    return out


def statement_change(table: str, op: str, where: str, values: dict[str, Any]) -> dict:
    """A bulk UPDATE/DELETE (one conditional statement, as Take is): the rows it matched
    are not loaded, so the entry holds its condition and the values it set."""
    return {
        "table": table,
        "id": None,
        "op": op,
        "where": where,
        "before": {},
        "after": {k: _value(k, v) for k, v in values.items()},
    }


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    login: str
    address: str = ""


def write(
    connection: Connection | Session,
    actor: Actor,
    action: str,
    changes: list[dict],
    summary: str = "",
    clock: Clock = utcnow,
) -> int:
    """One entry, written on `connection` so it commits or rolls back with the change;
    returns its id."""
    result = connection.execute(
        insert(AuditEntry)
        .values(
            at=clock(),
            user_id=actor.user_id,
            user_login=actor.login,
            address=actor.address[:64],
            action=action[:64],
            summary=summary[:300],
            changes=changes,
        )
        .returning(AuditEntry.id)
    )
    return int(result.scalar_one())


def extend(connection: Connection | Session, entry_id: int, changes: list[dict]) -> bool:
    """Put a later flush's changes into the request's entry; False if it is gone (its
    transaction was rolled back)."""
    result = connection.execute(
        update(AuditEntry).where(AuditEntry.id == entry_id).values(changes=changes)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Filter:
    user_login: str = ""
    action: str = ""
    table: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[Any], f: Filter) -> Select[Any]:
    if f.user_login:
        query = query.where(AuditEntry.user_login == f.user_login)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.table:
        # A JSON list of changes: matched as text, quoted, so "task" does not find "tasks".
        query = query.where(AuditEntry.changes.cast(String()).contains(f'"table": "{f.table}"'))
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query


def search(
    session: Session, f: Filter, limit: int, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """Entries matching `f`, newest first, with the total count."""
    total = session.scalar(_filtered(select(func.count(AuditEntry.id)), f)) or 0
    rows = session.scalars(
        _filtered(select(AuditEntry), f)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def known_actions(session: Session) -> list[str]:
    return sorted(session.scalars(select(AuditEntry.action).distinct()))


def known_logins(session: Session) -> list[str]:
    return sorted(session.scalars(select(AuditEntry.user_login).distinct()))
