"""login_failures: the login lockout's failures, shared by the web workers

Revision ID: 0022_login_failures
Revises: 0021_task_created_index
Create Date: 2026-12-03 10:00:00

Written by hand. A new table; nothing existing changes. The lockout counted in each web
process's memory before: failures made before the upgrade are not carried over (a
temporary lockout starts afresh, as it did at every restart).
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0022_login_failures"
down_revision = "0021_task_created_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_kind_value_at",
        "login_failures",
        ["kind", "value", "at"],
        unique=False,
    )
    op.create_index("ix_login_failures_at", "login_failures", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_index("ix_login_failures_kind_value_at", table_name="login_failures")
    op.drop_table("login_failures")
