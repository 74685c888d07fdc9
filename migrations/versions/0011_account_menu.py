"""The patient's menu (issue 11 part 2): which notices a chat gets, family members shown and
muted per chat, and one-time family invites

Revision ID: 0011_account_menu
Revises: 0010_last_seen
Create Date: 2026-12-02 06:00:00

Written by hand. Existing chats get every notice, show every linked patient and mute none:
what they had before.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0011_account_menu"
down_revision = "0010_last_seen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notices_off", sa.String(length=100), nullable=False, server_default="")
        )
    with op.batch_alter_table("patient_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("shown", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "family_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False, server_default="open"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["claimed_by"], ["subscribers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_family_invites_claimed_by", "family_invites", ["claimed_by"])


def downgrade() -> None:
    op.drop_index("ix_family_invites_claimed_by", table_name="family_invites")
    op.drop_table("family_invites")
    with op.batch_alter_table("patient_links", schema=None) as batch_op:
        batch_op.drop_column("shown")
        batch_op.drop_column("muted")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("notices_off")
