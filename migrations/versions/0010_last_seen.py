"""subscribers.last_seen_at: when the person last wrote or pressed, so a patient in two
messengers gets each message once, by the one used last

Revision ID: 0010_last_seen
Revises: 0009_max
Create Date: 2026-12-02 02:40:00

Written by hand. Existing subscribers have none: until they write again, the one linked
first counts.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0010_last_seen"
down_revision = "0009_max"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
