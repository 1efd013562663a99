"""The journal records transfers of shares out of an account (no sale): kind `transfer`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Hand-written: a nullable column `to_account` on the journal (the household account a transfer
delivers to; empty when the shares leave the ledger), the kind `transfer`, and the shape check
saying which columns each kind fills, as `adapters/storage/schema.py` declares them. The
constraints are spelled out so this revision never changes when the application's do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('trade', 'split', 'import', 'conversion', 'spin_off')"
NEW_KINDS = "kind IN ('trade', 'split', 'import', 'conversion', 'spin_off', 'transfer')"
OLD_SHAPE = (
    "(kind = 'split' AND ratio IS NOT NULL AND account IS NULL AND action IS NULL"
    " AND quantity IS NULL AND price IS NULL AND fees IS NULL"
    " AND new_symbol IS NULL AND basis_fraction IS NULL)"
    " OR (kind IN ('trade', 'import') AND ratio IS NULL AND account IS NOT NULL"
    " AND action IS NOT NULL AND quantity IS NOT NULL AND price IS NOT NULL"
    " AND fees IS NOT NULL AND new_symbol IS NULL AND basis_fraction IS NULL)"
    " OR (kind = 'conversion' AND account IS NOT NULL AND ratio IS NOT NULL"
    " AND new_symbol IS NOT NULL AND action IS NULL AND quantity IS NULL AND price IS NULL"
    " AND fees IS NULL AND basis_fraction IS NULL)"
    " OR (kind = 'spin_off' AND account IS NOT NULL AND quantity IS NOT NULL"
    " AND new_symbol IS NOT NULL AND basis_fraction IS NOT NULL AND action IS NULL"
    " AND price IS NULL AND fees IS NULL AND ratio IS NULL)"
)
NEW_SHAPE = (
    "(kind = 'split' AND ratio IS NOT NULL AND account IS NULL AND action IS NULL"
    " AND quantity IS NULL AND price IS NULL AND fees IS NULL"
    " AND new_symbol IS NULL AND basis_fraction IS NULL AND to_account IS NULL)"
    " OR (kind IN ('trade', 'import') AND ratio IS NULL AND account IS NOT NULL"
    " AND action IS NOT NULL AND quantity IS NOT NULL AND price IS NOT NULL"
    " AND fees IS NOT NULL AND new_symbol IS NULL AND basis_fraction IS NULL"
    " AND to_account IS NULL)"
    " OR (kind = 'conversion' AND account IS NOT NULL AND ratio IS NOT NULL"
    " AND new_symbol IS NOT NULL AND action IS NULL AND quantity IS NULL AND price IS NULL"
    " AND fees IS NULL AND basis_fraction IS NULL AND to_account IS NULL)"
    " OR (kind = 'spin_off' AND account IS NOT NULL AND quantity IS NOT NULL"
    " AND new_symbol IS NOT NULL AND basis_fraction IS NOT NULL AND action IS NULL"
    " AND price IS NULL AND fees IS NULL AND ratio IS NULL AND to_account IS NULL)"
    " OR (kind = 'transfer' AND account IS NOT NULL AND quantity IS NOT NULL"
    " AND action IS NULL AND price IS NULL AND fees IS NULL AND ratio IS NULL"
    " AND new_symbol IS NULL AND basis_fraction IS NULL)"
)


def _journal(*, transfers: bool) -> sa.Table:
    """Return the journal table as it stands before the change (0003's, or this revision's)."""
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    extra = [sa.Column("to_account", sa.String(64), nullable=True)] if transfers else []
    return sa.Table(
        "journal",
        sa.MetaData(),
        sa.Column("seq", seq, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("action", sa.String(4), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("quantity", sa.String(64), nullable=True),
        sa.Column("price", sa.String(64), nullable=True),
        sa.Column("fees", sa.String(64), nullable=True),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ratio", sa.String(64), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_symbol", sa.String(32), nullable=True),
        sa.Column("basis_fraction", sa.String(64), nullable=True),
        *extra,
        sa.CheckConstraint(NEW_KINDS if transfers else OLD_KINDS, name=op.f("ck_journal_kind")),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('BUY', 'SELL')", name=op.f("ck_journal_action")
        ),
        sa.CheckConstraint(NEW_SHAPE if transfers else OLD_SHAPE, name=op.f("ck_journal_shape")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal")),
        sa.UniqueConstraint("external_id", name=op.f("uq_journal_external_id")),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    """Accept transfer entries."""
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied; the table
    # is given rather than reflected, so that `alembic upgrade --sql` renders it offline.
    with op.batch_alter_table(
        "journal", copy_from=_journal(transfers=False), recreate="auto"
    ) as batch:
        batch.add_column(sa.Column("to_account", sa.String(64), nullable=True))
        batch.drop_constraint(op.f("ck_journal_kind"), type_="check")
        batch.drop_constraint(op.f("ck_journal_shape"), type_="check")
        batch.create_check_constraint(op.f("ck_journal_kind"), NEW_KINDS)
        batch.create_check_constraint(op.f("ck_journal_shape"), NEW_SHAPE)


def downgrade() -> None:
    """Drop the transfer column and kind (a journal holding transfers makes the copy fail:
    nothing is rewritten silently)."""
    with op.batch_alter_table(
        "journal", copy_from=_journal(transfers=True), recreate="auto"
    ) as batch:
        batch.drop_constraint(op.f("ck_journal_shape"), type_="check")
        batch.drop_constraint(op.f("ck_journal_kind"), type_="check")
        batch.drop_column("to_account")
        batch.create_check_constraint(op.f("ck_journal_kind"), OLD_KINDS)
        batch.create_check_constraint(op.f("ck_journal_shape"), OLD_SHAPE)
