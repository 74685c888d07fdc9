"""patient search: a trigram index of the surnames (SQLite FTS5), kept by triggers

Revision ID: 0019_patient_search
Revises: 0018_review_offers
Create Date: 2026-12-02 18:30:00

Written by hand. SQLite only (PostgreSQL's search reads the table as before): the FTS5
table `patient_search` (trigram tokenizer, which folds the case of every alphabet) holds
each patient's surname with ё as е under the patient's id, filled here from the existing
rows; triggers keep it in step with every insert, surname change and delete, whoever
writes (the MIS sync writes through the driver, not the ORM). No data changes.
core/patients/search.py reads it.
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


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("patient_search_delete", "patient_search_update", "patient_search_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS patient_search")
