"""staff group: one post per episode, edited in place; staff accounts linked to Telegram

Revision ID: 0007_staff_group
Revises: 0006_access
Create Date: 2026-12-11 12:00:00

Written by hand. Tasks announced before this revision have no staff_posts row: the first
change to one creates it from the outbox's announcement, if the outbox still has it.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0007_staff_group"
down_revision = "0006_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_posts",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("edits", sa.Integer(), nullable=False),
        sa.Column("last_edit_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("shown", sa.String(length=64), nullable=False),
        sa.Column("told_upto", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_staff_posts_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_staff_posts")),
    )
    with op.batch_alter_table("staff_posts", schema=None) as batch_op:
        batch_op.create_index("ix_staff_posts_message", ["chat_id", "message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_posts_dirty"), ["dirty"], unique=False)

    op.create_table(
        "staff_telegram",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_name", sa.String(length=200), nullable=False),
        sa.Column("linked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_telegram_staff_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("staff_user_id", name=op.f("pk_staff_telegram")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_staff_telegram_telegram_user_id")),
    )
    with op.batch_alter_table("staff_telegram", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_telegram_code_hash"), ["code_hash"], unique=False
        )


def downgrade() -> None:
    op.drop_table("staff_telegram")
    op.drop_table("staff_posts")
