"""Every change made through the panel goes into the audit log (core.access.audit).

Hooked on the panel's database session: after each flush made while serving a staff
member, the rows inserted, changed and deleted are written as one entry, on the same
connection, so the entry commits or rolls back with the change. Bulk UPDATE/DELETE
statements (conditional updates such as Take) are logged with their condition and values.
The runner, the bot and the CLI use their own sessions and are not "the panel".
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from app.extensions import db
from core.access import audit


def _actor() -> audit.Actor | None:
    if not has_request_context():
        return None
    actor: audit.Actor | None = g.get("audit_actor")
    if actor is not None:
        return actor
    # Only a user Flask-Login already loaded: loading one here would query mid-flush.
    user = g.get("_login_user")
    if user is None or not user.is_authenticated:
        return None
    return audit.Actor(user.staff.id, user.staff.login, request.remote_addr or "")


def _action() -> str:
    return request.endpoint or request.path


def _summary() -> str:
    return f"{request.method} {request.path}"


def _record(connection: Any, actor: audit.Actor, changes: list[dict]) -> None:
    """One entry per request: the first change writes it, later ones extend it."""
    everything = [*g.get("audit_changes", []), *changes]
    entry_id = g.get("audit_entry_id")
    if entry_id is None or not audit.extend(connection, entry_id, everything):
        if entry_id is not None:
            everything = changes  # the earlier changes were rolled back with their entry
        g.audit_entry_id = audit.write(connection, actor, _action(), everything, _summary())
    g.audit_changes = everything


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    actor = _actor()
    if actor is None:
        return
    changes = audit.changes_of(session.new, session.dirty, session.deleted)
    if changes:
        _record(session.connection(), actor, changes)


def _bulk(state: ORMExecuteState) -> Any:
    if not (state.is_update or state.is_delete):
        return None
    actor = _actor()
    statement: Any = state.statement
    if actor is None or statement.table.name in audit.NOT_AUDITED:
        return None
    # Run it here to learn how many rows it changed: one that matched nothing (the second
    # to press Take) changed nothing, and is no entry.
    result = state.invoke_statement()
    rows = int(getattr(result, "rowcount", 0) or 0)
    if rows:
        where = str(statement.whereclause) if statement.whereclause is not None else ""
        params = {**statement.compile().params, **(state.parameters or {})}  # type: ignore[dict-item]
        change = audit.statement_change(
            statement.table.name, "update" if state.is_update else "delete", where, params
        )
        change["rows"] = rows
        _record(state.session.connection(), actor, [change])
    return result


def init_app() -> None:
    # db.session is one scoped session for every app the process makes (tests make many):
    # listen once.
    if not event.contains(db.session, "after_flush", _after_flush):
        event.listen(db.session, "after_flush", _after_flush)
        event.listen(db.session, "do_orm_execute", _bulk)
