"""mis_writebacks: the durable queue of confirmations written back to the MIS

Revision ID: 0016_mis_writebacks
Revises: 0015_care_files
Create Date: 2026-12-02 14:30:00

Written by hand. A new table; nothing existing changes.
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0016_mis_writebacks"
down_revision = "0015_care_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mis_writebacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("appointment_mis_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("column", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mis_writebacks")),
        sa.UniqueConstraint("key", name=op.f("uq_mis_writebacks_key")),
    )
    for column in ("appointment_mis_id", "state"):
        op.create_index(
            op.f(f"ix_mis_writebacks_{column}"), "mis_writebacks", [column], unique=False
        )


def downgrade() -> None:
    for column in ("state", "appointment_mis_id"):
        op.drop_index(op.f(f"ix_mis_writebacks_{column}"), table_name="mis_writebacks")
    op.drop_table("mis_writebacks")
