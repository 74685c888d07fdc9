"""conversations: a thread per patient chat; tasks become its episodes

Revision ID: 0005_conversations
Revises: 0004_care
Create Date: 2026-12-09 12:00:00

Written by hand. Tasks from before keep no conversation (conversation_id NULL): the panel
shows them as they were. New columns get a server default while SQLite's batch mode copies
the old rows, dropped afterwards so the schema matches the models.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0005_conversations"
down_revision = "0004_care"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("last_message_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_conversations_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("subscriber_id", name=op.f("uq_conversations_subscriber_id")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_last_message_at"), ["last_message_at"], unique=False
        )

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("message_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("waiting_since", core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_message_at", core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_response_at", core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("first_response_by", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("acknowledged_at", core.db.UTCDateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_tasks_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_conversation_id_conversations"),
            "conversations",
            ["conversation_id"],
            ["id"],
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for column in ("message_count", "first_response_by"):
            batch_op.alter_column(column, server_default=None)

    op.create_table(
        "thread_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_state", sa.String(length=16), nullable=False),
        sa.Column("file_error", sa.String(length=300), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("edited_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["staff_users.id"],
            name=op.f("fk_thread_messages_author_user_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_thread_messages_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_thread_messages_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_messages")),
    )
    with op.batch_alter_table("thread_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_thread_messages_conversation", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_thread_messages_task_id"), ["task_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_thread_messages_file_state"), ["file_state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("thread_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_messages_file_state"))
        batch_op.drop_index(batch_op.f("ix_thread_messages_task_id"))
        batch_op.drop_index("ix_thread_messages_conversation")
    op.drop_table("thread_messages")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tasks_conversation_id_conversations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_tasks_conversation_id"))
        for column in (
            "acknowledged_at",
            "first_response_by",
            "first_response_at",
            "last_message_at",
            "waiting_since",
            "message_count",
            "conversation_id",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_last_message_at"))
    op.drop_table("conversations")
