"""review_offers: each review link offered under a rating request, and its opens

Revision ID: 0018_review_offers
Revises: 0017_report_indexes
Create Date: 2026-12-02 18:30:00

Written by hand. A new table; nothing existing changes. The requests sent before it keep
only visit_ratings.review_link_offered (no platform, no opens): the report counts them as
offered with no platform known.
"""

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0018_review_offers"
down_revision = "0017_report_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("first_opened_at", UTCDateTime(), nullable=True),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rating_id"],
            ["visit_ratings.id"],
            name=op.f("fk_review_offers_rating_id_visit_ratings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_offers")),
        sa.UniqueConstraint("token", name=op.f("uq_review_offers_token")),
    )
    for column in ("rating_id", "patient_mis_id", "offered_at"):
        op.create_index(op.f(f"ix_review_offers_{column}"), "review_offers", [column], unique=False)


def downgrade() -> None:
    for column in ("offered_at", "patient_mis_id", "rating_id"):
        op.drop_index(op.f(f"ix_review_offers_{column}"), table_name="review_offers")
    op.drop_table("review_offers")
