"""documents signed in the bot: templates, the ПЭП agreement's versions, requests to sign
and the append-only evidence chain of signatures

Revision ID: 0012_documents
Revises: 0011_account_menu
Create Date: 2026-12-02 06:00:00

Written by hand.
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0012_documents"
down_revision = "0011_account_menu"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("pep_allowed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_templates")),
    )
    op.create_table(
        "pep_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pep_agreements")),
        sa.UniqueConstraint("version", name=op.f("uq_pep_agreements_version")),
    )
    op.create_table(
        "document_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("pdf_path", sa.String(length=300), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_note", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("code_method", sa.String(length=8), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("wrong_codes", sa.Integer(), nullable=False),
        sa.Column("locked_until", core.db.UTCDateTime(), nullable=True),
        sa.Column("closed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("signed_pdf_path", sa.String(length=300), nullable=False),
        sa.Column("signed_pdf_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_document_requests_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["document_templates.id"],
            name=op.f("fk_document_requests_template_id_document_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_requests")),
    )
    for column in ("patient_mis_id", "subscriber_id", "state", "signed_pdf_sha256"):
        op.create_index(
            op.f(f"ix_document_requests_{column}"), "document_requests", [column], unique=False
        )
    op.create_table(
        "document_signatures",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.String(length=40), nullable=False),
        sa.Column("linked_how", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("signed_at_utc", sa.String(length=40), nullable=False),
        sa.Column("signed_at_clinic", sa.String(length=60), nullable=False),
        sa.Column("code_method", sa.String(length=8), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("agreement_version", sa.String(length=20), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_signatures")),
        sa.UniqueConstraint("record_hash", name=op.f("uq_document_signatures_record_hash")),
    )
    for column in ("request_id", "patient_mis_id"):
        op.create_index(
            op.f(f"ix_document_signatures_{column}"), "document_signatures", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("document_signatures")
    op.drop_table("document_requests")
    op.drop_table("pep_agreements")
    op.drop_table("document_templates")
