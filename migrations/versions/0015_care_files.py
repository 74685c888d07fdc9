"""care_instructions and care_sent: an English version beside the Russian text, and an
attachment (a PDF or an image) sent with the instruction

Revision ID: 0015_care_files
Revises: 0014_panel_settings
Create Date: 2026-12-02 14:00:00

Written by hand. Existing instructions have no English version (the Russian one is sent
to everybody, as before) and no attachment: every new column defaults to empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_care_files"
down_revision = "0014_panel_settings"
branch_labels = None
depends_on = None

ENGLISH = (("title_en", sa.String(length=200)), ("text_en", sa.Text()))
FILE = (
    ("file_path", sa.String(length=300)),
    ("file_name", sa.String(length=255)),
    ("file_type", sa.String(length=100)),
)


def upgrade() -> None:
    with op.batch_alter_table("care_instructions", schema=None) as batch_op:
        for name, kind in (*ENGLISH, *FILE):
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("file_size", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("care_sent", schema=None) as batch_op:
        for name, kind in (*ENGLISH, *FILE):
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("care_sent", schema=None) as batch_op:
        for name, _ in reversed((*ENGLISH, *FILE)):
            batch_op.drop_column(name)
    with op.batch_alter_table("care_instructions", schema=None) as batch_op:
        batch_op.drop_column("file_size")
        for name, _ in reversed((*ENGLISH, *FILE)):
            batch_op.drop_column(name)
