"""reminder_reach: which visits a reminder reached, kept after the outbox forgets it

Revision ID: 0020_reminder_reach
Revises: 0019_patient_search
Create Date: 2026-12-02 19:00:00

Written by hand. A new table; nothing existing changes. The reminders the outbox still
holds are archived by the next nightly prune; those pruned before this release are gone.
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0020_reminder_reach"
down_revision = "0019_patient_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_reach",
        sa.Column("appointment_mis_id", sa.String(length=64), nullable=False),
        sa.Column("messenger", sa.Boolean(), nullable=False),
        sa.Column("first_sent_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("appointment_mis_id", name=op.f("pk_reminder_reach")),
    )
    op.create_index(
        op.f("ix_reminder_reach_first_sent_at"), "reminder_reach", ["first_sent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reminder_reach_first_sent_at"), table_name="reminder_reach")
    op.drop_table("reminder_reach")
