"""delivery: campaigns, update inbox, visit ratings, SMS channel, claims, escalation

Revision ID: 0002_delivery
Revises: 0001
Create Date: 2026-12-02 12:00:00

Written by hand. New columns on existing tables get a server default while the table is
rebuilt (SQLite batch mode copies the old rows into the new table, and they need a value),
and the default is dropped afterwards so the schema matches the models, which set their
defaults in Python.

Rows left 'sending' by the previous release are not touched here: the dispatcher's start-up
recovery decides what to do with them (see README, "Delivery").
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0002_delivery"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("send_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("key", name=op.f("uq_campaigns_key")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_state"), ["state"], unique=False)

    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("processed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_telegram_updates")),
    )
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telegram_updates_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "visit_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_mis_id", sa.String(length=64), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("doctor_mis_id", sa.String(length=64), nullable=False),
        sa.Column("asked_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("review_link_offered", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_visit_ratings_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_visit_ratings_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_ratings")),
        sa.UniqueConstraint(
            "appointment_mis_id",
            "subscriber_id",
            name=op.f("uq_visit_ratings_appointment_mis_id"),
        ),
    )
    with op.batch_alter_table("visit_ratings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_ratings_patient_mis_id"), ["patient_mis_id"], unique=False
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), server_default="telegram", nullable=False)
        )
        batch_op.add_column(
            sa.Column("phone", sa.String(length=20), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("patient_mis_id", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("claim_token", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_outbox_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_campaign_id_campaigns"), "campaigns", ["campaign_id"], ["id"]
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ("channel", "phone", "patient_mis_id", "claim_token"):
            batch_op.alter_column(column, server_default=None)

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("marketing_opt_out_at", core.db.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("escalated_at")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("marketing_opt_out_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_campaign_id_campaigns"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_campaign_id"))
        for column in ("claim_token", "campaign_id", "patient_mis_id", "phone", "channel"):
            batch_op.drop_column(column)
    with op.batch_alter_table("visit_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_ratings_patient_mis_id"))
    op.drop_table("visit_ratings")
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_updates_processed_at"))
    op.drop_table("telegram_updates")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_state"))
    op.drop_table("campaigns")
