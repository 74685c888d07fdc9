"""MAX as a second messenger: subscribers keyed by (channel, user id), MAX's durable inbox,
its string message ids, and one-time codes that prove a phone by SMS

Revision ID: 0009_max
Revises: 0008_consent_ratings
Create Date: 2026-12-02 02:30:00

Written by hand. Every existing subscriber is a Telegram one (channel "telegram").
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0009_max"
down_revision = "0008_consent_ratings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="telegram")
        )
        batch_op.drop_constraint("uq_subscribers_telegram_user_id", type_="unique")
        batch_op.create_unique_constraint("uq_subscribers_channel", ["channel", "telegram_user_id"])

    op.create_table(
        "max_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("processed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_max_updates")),
    )
    with op.batch_alter_table("max_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_max_updates_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "max_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mid", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_max_messages")),
        sa.UniqueConstraint("mid", name=op.f("uq_max_messages_mid")),
    )

    op.create_table(
        "phone_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_phone_codes_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_codes")),
    )
    with op.batch_alter_table("phone_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_phone_codes_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("phone_codes")
    op.drop_table("max_messages")
    op.drop_table("max_updates")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscribers_channel", type_="unique")
        batch_op.create_unique_constraint("uq_subscribers_telegram_user_id", ["telegram_user_id"])
        batch_op.drop_column("channel")
