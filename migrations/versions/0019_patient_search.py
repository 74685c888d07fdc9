"""patient search and kept reports: a trigram index of the surnames (SQLite FTS5) and the
reports' data token, both kept by triggers

Revision ID: 0019_patient_search
Revises: 0018_review_offers
Create Date: 2026-12-02 18:30:00

Written by hand. SQLite only (on PostgreSQL the search reads the table and the reports are
computed on each request, as before). No data changes.

- The FTS5 table `patient_search` (trigram tokenizer, which folds the case of every
  alphabet) holds each patient's surname with ё as е under the patient's id, filled here
  from the existing rows; triggers keep it in step with every insert, surname change and
  delete, whoever writes (the MIS sync writes through the driver, not the ORM).
  core/patients/search.py reads it.
- `report_version`, one row: a random token that triggers on the tables the kept reports
  read set anew on every write to them (core/reports/cache.py).
"""

from alembic import op

revision = "0019_patient_search"
down_revision = "0018_review_offers"
branch_labels = None
depends_on = None

# Spelled out rather than imported from core/patients/search.py: a migration must keep
# doing what it did when the code it came with changes.
_NAME = "replace(replace({}, 'ё', 'е'), 'Ё', 'Е')"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE patient_search USING fts5(name, tokenize = 'trigram')")
    op.execute(
        "INSERT INTO patient_search (rowid, name) "
        f"SELECT id, {_NAME.format('last_name')} FROM patients"
    )
    op.execute(
        "CREATE TRIGGER patient_search_insert AFTER INSERT ON patients BEGIN "
        f"INSERT INTO patient_search (rowid, name) VALUES (new.id, {_NAME.format('new.last_name')});"
        " END"
    )
    # The sync rewrites every column it owns on each changed patient: only a new surname
    # costs an index update.
    op.execute(
        "CREATE TRIGGER patient_search_update AFTER UPDATE OF id, last_name ON patients "
        "WHEN new.last_name IS NOT old.last_name OR new.id IS NOT old.id BEGIN "
        "DELETE FROM patient_search WHERE rowid = old.id; "
        f"INSERT INTO patient_search (rowid, name) VALUES (new.id, {_NAME.format('new.last_name')});"
        " END"
    )
    op.execute(
        "CREATE TRIGGER patient_search_delete AFTER DELETE ON patients BEGIN "
        "DELETE FROM patient_search WHERE rowid = old.id; END"
    )

    # Spelled out, not imported from core/reports/cache.py, for the same reason as _NAME.
    op.execute(
        "CREATE TABLE report_version (id INTEGER PRIMARY KEY CHECK (id = 1), token INTEGER NOT NULL)"
    )
    op.execute("INSERT INTO report_version (id, token) VALUES (1, random())")
    for table, columns, when in _WATCHED:
        for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
            of = f" OF {columns}" if event == "UPDATE" and columns else ""
            condition = ""
            if when:
                rows = ("new", "old") if event == "UPDATE" else (row,)
                condition = " WHEN " + " OR ".join(when.format(r) for r in rows)
            op.execute(
                f"CREATE TRIGGER report_version_{table}_{event.lower()} AFTER {event}{of} "
                f"ON {table}{condition} BEGIN UPDATE report_version SET token = random(); END"
            )


# (table, the columns whose update counts (all when empty), a row condition on {} = new/old)
_WATCHED = (
    ("ledger_entries", "", ""),
    ("loyalty_accounts", "", ""),
    ("loyalty_referrals", "", ""),
    ("loyalty_settings", "", ""),
    ("payments", "", ""),
    ("domain_events", "", "{}.kind = 'payment.reversed'"),
    ("patient_links", "", ""),
    # A chat's last visit and language are written all day; the reports read its payload.
    ("subscribers", "id, start_payload", ""),
    ("staff_users", "id, login, full_name, active", ""),
)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, _, _ in _WATCHED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS report_version_{table}_{event}")
    op.execute("DROP TABLE IF EXISTS report_version")
    for trigger in ("patient_search_delete", "patient_search_update", "patient_search_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS patient_search")
