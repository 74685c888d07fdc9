"""loyalty engine: lots, allocations, debts, families, referrals, panel settings

Revision ID: 0002_loyalty
Revises: 0001
Create Date: 2026-11-25 12:00:00

Written by hand. Besides the new tables, it turns the entries written by 0001's simple
cashback into lots: each positive entry becomes a lot with its own expiry, each negative
entry consumes lots oldest first (a refund's reversal first from its own payment's lot),
and the shortfall 0001 only wrote into a reversal's note ("...; 300 points already spent")
becomes the account's debt, repaid from later accruals. `kabinet ledger verify` passes on
the result.
"""

import re
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0002_loyalty"
down_revision = "0001"
branch_labels = None
depends_on = None

_SPENT = re.compile(r"; (\d+) points already spent")


def upgrade() -> None:
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("debt", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("tier", sa.String(length=40), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("tier_since", core.db.UTCDateTime(), nullable=True))

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shortfall", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("patient_mis_id", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.create_index(
            "ix_ledger_entries_created_kind", ["created_at", "kind"], unique=False
        )

    op.create_table(
        "loyalty_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("earned_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_lots_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_loyalty_lots_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_lots")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_loyalty_lots_entry_id")),
    )
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_lots_fifo", ["account_id", "is_open", "earned_at"], unique=False
        )
        batch_op.create_index("ix_loyalty_lots_expiry", ["is_open", "expires_at"], unique=False)

    op.create_table(
        "ledger_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_allocations_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["loyalty_lots.id"], name=op.f("fk_ledger_allocations_lot_id_loyalty_lots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_allocations")),
    )
    with op.batch_alter_table("ledger_allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_allocations_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_allocations_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "loyalty_families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_families")),
        sa.UniqueConstraint("key", name=op.f("uq_loyalty_families_key")),
    )

    op.create_table(
        "loyalty_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=True),
        sa.Column("family_source", sa.String(length=16), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["loyalty_families.id"],
            name=op.f("fk_loyalty_members_family_id_loyalty_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_members")),
        sa.UniqueConstraint("patient_mis_id", name=op.f("uq_loyalty_members_patient_mis_id")),
    )
    with op.batch_alter_table("loyalty_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_members_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "loyalty_referral_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_loyalty_referral_codes")),
        sa.UniqueConstraint(
            "owner_kind", "owner_id", name=op.f("uq_loyalty_referral_codes_owner_kind")
        ),
    )

    op.create_table(
        "loyalty_referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referred_patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("referrer_kind", sa.String(length=16), nullable=False),
        sa.Column("referrer_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("payment_mis_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("rewarded_at", core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_referrals")),
        sa.UniqueConstraint(
            "referred_patient_mis_id", name=op.f("uq_loyalty_referrals_referred_patient_mis_id")
        ),
    )
    with op.batch_alter_table("loyalty_referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_referrals_referrer", ["referrer_kind", "referrer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loyalty_referrals_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "loyalty_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_loyalty_settings")),
    )

    _lots_from_existing_entries(op.get_bind())


def _lots_from_existing_entries(bind: sa.engine.Connection) -> None:
    """Replay 0001's entries into lots and allocations (see the module docstring)."""
    bind.execute(
        sa.text(
            "INSERT INTO loyalty_lots (account_id, entry_id, amount, remaining, is_open,"
            " earned_at, expires_at)"
            # TRUE, not 1: PostgreSQL has a real boolean (SQLite reads TRUE as 1).
            " SELECT account_id, id, amount, amount, TRUE, created_at, expires_at"
            " FROM ledger_entries WHERE amount > 0 ORDER BY id"
        )
    )
    lots: dict[int, list[list[int]]] = defaultdict(list)  # account -> [[lot id, remaining]]
    lot_of_cause: dict[str, int] = {}
    for lot_id, account_id, remaining, cause in bind.execute(
        sa.text(
            "SELECT l.id, l.account_id, l.remaining, e.cause FROM loyalty_lots l"
            " JOIN ledger_entries e ON e.id = l.entry_id ORDER BY l.id"
        )
    ):
        lots[account_id].append([lot_id, remaining])
        lot_of_cause[cause] = lot_id
    debits = bind.execute(
        sa.text(
            "SELECT id, account_id, amount, cause, note FROM ledger_entries"
            " WHERE amount <= 0 ORDER BY id"
        )
    ).all()
    allocations = []
    for entry_id, account_id, amount, cause, note in debits:
        own = lot_of_cause.get(cause.removeprefix("reversal:"))
        order = sorted(lots[account_id], key=lambda lot: lot[0] != own)
        left = -amount
        for lot in order:
            part = min(lot[1], left)
            if part > 0:
                allocations.append({"entry_id": entry_id, "lot_id": lot[0], "points": part})
                lot[1] -= part
                left -= part
        spent = _SPENT.search(note or "")
        if spent:
            bind.execute(
                sa.text("UPDATE ledger_entries SET shortfall = :s WHERE id = :id"),
                {"s": int(spent.group(1)), "id": entry_id},
            )
    if allocations:
        bind.execute(
            sa.text(
                "INSERT INTO ledger_allocations (entry_id, lot_id, points)"
                " VALUES (:entry_id, :lot_id, :points)"
            ),
            allocations,
        )
    remainders = [
        {"id": lot_id, "r": remaining, "o": remaining > 0}
        for account_lots in lots.values()
        for lot_id, remaining in account_lots
    ]
    if remainders:
        bind.execute(
            sa.text("UPDATE loyalty_lots SET remaining = :r, is_open = :o WHERE id = :id"),
            remainders,
        )
    bind.execute(
        sa.text(
            "UPDATE loyalty_accounts SET debt = (SELECT COALESCE(SUM(e.shortfall), 0)"
            " FROM ledger_entries e WHERE e.account_id = loyalty_accounts.id)"
        )
    )


def downgrade() -> None:
    op.drop_table("loyalty_settings")
    with op.batch_alter_table("loyalty_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_referrals_created_at"))
        batch_op.drop_index("ix_loyalty_referrals_referrer")
    op.drop_table("loyalty_referrals")
    op.drop_table("loyalty_referral_codes")
    with op.batch_alter_table("loyalty_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_members_family_id"))
    op.drop_table("loyalty_members")
    op.drop_table("loyalty_families")
    with op.batch_alter_table("ledger_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_lot_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_allocations_entry_id"))
    op.drop_table("ledger_allocations")
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_lots_expiry")
        batch_op.drop_index("ix_loyalty_lots_fifo")
    op.drop_table("loyalty_lots")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_created_kind")
        batch_op.drop_column("patient_mis_id")
        batch_op.drop_column("shortfall")
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_column("tier_since")
        batch_op.drop_column("tier")
        batch_op.drop_column("debt")
