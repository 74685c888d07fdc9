"""merge the loyalty and delivery branches into one line

Revision ID: 0003
Revises: 0002_loyalty, 0002_delivery
Create Date: 2026-11-25 15:00:00

The two 0002 branches were written side by side and touch different tables; a store at
either or both comes here. From now on migrations form one line again.
"""

revision = "0003"
down_revision = ("0002_delivery", "0002_loyalty")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
