"""tasks: an index on created_at and the report token's triggers, for «Время ответа»

Revision ID: 0021_task_created_index
Revises: 0020_reminder_reach
Create Date: 2026-12-02 19:00:00

Written by hand. No data changes. «Отчёты → Время ответа» reads a period's episodes (16,000
in 12 weeks of bench/panel.py's busy clinic): the index makes that a range read, and on
SQLite the report is kept until the tasks change (core/reports/cache.py), so the triggers
of migration 0019's report_version watch the columns it reads.
"""

from alembic import op

revision = "0021_task_created_index"
down_revision = "0020_reminder_reach"
branch_labels = None
depends_on = None

# Spelled out, not imported from core/reports/cache.py: a migration stays as it was written.
_COLUMNS = "id, kind, state, taken_by, created_at, first_response_at, first_response_by, closed_at"


def upgrade() -> None:
    op.create_index(op.f("ix_tasks_created_at"), "tasks", ["created_at"], unique=False)
    if op.get_bind().dialect.name != "sqlite":
        return
    for event in ("INSERT", "UPDATE", "DELETE"):
        of = f" OF {_COLUMNS}" if event == "UPDATE" else ""
        op.execute(
            f"CREATE TRIGGER report_version_tasks_{event.lower()} AFTER {event}{of} ON tasks "
            "BEGIN UPDATE report_version SET token = random(); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS report_version_tasks_{event}")
    op.drop_index(op.f("ix_tasks_created_at"), table_name="tasks")
