"""panel_settings: the owner's changes to config keys made on the «Настройки» screen
(rating scale, reminders, quiet and working hours, arrival offer, review link)

Revision ID: 0014_panel_settings
Revises: 0013_chosen_messenger
Create Date: 2026-12-02 07:00:00

Written by hand. A new table only: nothing to carry over (the bonus rules keep
loyalty_settings).
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0014_panel_settings"
down_revision = "0013_chosen_messenger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "panel_settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_panel_settings")),
    )


def downgrade() -> None:
    op.drop_table("panel_settings")
