"""consent texts versioned in the panel; ratings on the clinic's scale with a comment

Revision ID: 0008_consent_ratings
Revises: 0007_staff_group
Create Date: 2026-12-02 02:10:00

Written by hand. Ratings asked before this revision were on the 1-5 scale ("5") and had no
comment step ("").
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0008_consent_ratings"
down_revision = "0007_staff_group"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_texts")),
        sa.UniqueConstraint("version", name=op.f("uq_consent_texts_version")),
    )
    with op.batch_alter_table("visit_ratings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scale", sa.String(length=8), nullable=False, server_default="5")
        )
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("comment_state", sa.String(length=8), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_ratings", schema=None) as batch_op:
        batch_op.drop_column("comment_state")
        batch_op.drop_column("comment")
        batch_op.drop_column("scale")
    op.drop_table("consent_texts")
