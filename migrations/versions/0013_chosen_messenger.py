"""subscribers.preferred_at: the messenger a patient in two chose in the bot's settings;
thread_messages.subscriber_id: which of a person's chats (Telegram, MAX) a line came by

Revision ID: 0013_chosen_messenger
Revises: 0012_documents
Create Date: 2026-12-02 06:00:00

Written by hand. Existing lines have no chat of their own: they are the thread's first
chat's (a thread was one chat's until now), which is what the panel shows for them.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0013_chosen_messenger"
down_revision = "0012_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preferred_at", core.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("thread_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subscriber_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_thread_messages_subscriber_id_subscribers"),
            "subscribers",
            ["subscriber_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("thread_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_thread_messages_subscriber_id_subscribers"), type_="foreignkey"
        )
        batch_op.drop_column("subscriber_id")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("preferred_at")
