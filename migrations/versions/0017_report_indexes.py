"""report indexes: Экономика's month sums and «Подключение»'s first links read indexes only

Revision ID: 0017_report_indexes
Revises: 0016_mis_writebacks
Create Date: 2026-12-02 14:40:00

Written by hand. No data changes. ledger_entries' (created_at, kind) index becomes
(created_at, kind, amount, account_id): the same prefix for every query that used it, and a
month's sums no longer fetch each of its rows. patient_links get (linked_at) and
(patient_mis_id, linked_at): the links made in a period are a range read and whether a
patient had an earlier one is a probe, instead of grouping every link.
"""

from alembic import op

revision = "0017_report_indexes"
down_revision = "0016_mis_writebacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entries_created_kind_amount",
        "ledger_entries",
        ["created_at", "kind", "amount", "account_id"],
        unique=False,
    )
    op.drop_index("ix_ledger_entries_created_kind", table_name="ledger_entries")
    op.create_index("ix_patient_links_linked_at", "patient_links", ["linked_at"], unique=False)
    op.create_index(
        "ix_patient_links_patient_linked",
        "patient_links",
        ["patient_mis_id", "linked_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_patient_links_patient_linked", table_name="patient_links")
    op.drop_index("ix_patient_links_linked_at", table_name="patient_links")
    op.create_index(
        "ix_ledger_entries_created_kind", "ledger_entries", ["created_at", "kind"], unique=False
    )
    op.drop_index("ix_ledger_entries_created_kind_amount", table_name="ledger_entries")
