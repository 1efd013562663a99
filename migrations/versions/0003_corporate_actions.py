"""The journal records corporate actions: conversions (symbol changes, stock mergers) and spin-offs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Hand-written: two nullable columns on the journal (`new_symbol`, `basis_fraction`), the kinds
`conversion` and `spin_off`, and the shape check saying which columns each kind fills, as
`adapters/storage/schema.py` declares them. The constraints are spelled out so this revision
never changes when the application's do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('trade', 'split', 'import')"
NEW_KINDS = "kind IN ('trade', 'split', 'import', 'conversion', 'spin_off')"
OLD_SHAPE = (
    "(kind = 'split' AND ratio IS NOT NULL AND account IS NULL AND action IS NULL"
    " AND quantity IS NULL AND price IS NULL AND fees IS NULL)"
    " OR (kind <> 'split' AND ratio IS NULL AND account IS NOT NULL"
    " AND action IS NOT NULL AND quantity IS NOT NULL AND price IS NOT NULL"
    " AND fees IS NOT NULL)"
)
NEW_SHAPE = (
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


def _journal(*, corporate_actions: bool) -> sa.Table:
    """Return the journal table as it stands before the change (0001's, or this revision's)."""
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    extra = (
        [sa.Column("new_symbol", sa.String(32), nullable=True)]
        + [sa.Column("basis_fraction", sa.String(64), nullable=True)]
        if corporate_actions
        else []
    )
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
        *extra,
        sa.CheckConstraint(
            NEW_KINDS if corporate_actions else OLD_KINDS, name=op.f("ck_journal_kind")
        ),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('BUY', 'SELL')", name=op.f("ck_journal_action")
        ),
        sa.CheckConstraint(
            NEW_SHAPE if corporate_actions else OLD_SHAPE, name=op.f("ck_journal_shape")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal")),
        sa.UniqueConstraint("external_id", name=op.f("uq_journal_external_id")),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    """Accept conversion and spin-off entries."""
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied; the table
    # is given rather than reflected, so that `alembic upgrade --sql` renders it offline.
    with op.batch_alter_table(
        "journal", copy_from=_journal(corporate_actions=False), recreate="auto"
    ) as batch:
        batch.add_column(sa.Column("new_symbol", sa.String(32), nullable=True))
        batch.add_column(sa.Column("basis_fraction", sa.String(64), nullable=True))
        batch.drop_constraint(op.f("ck_journal_kind"), type_="check")
        batch.drop_constraint(op.f("ck_journal_shape"), type_="check")
        batch.create_check_constraint(op.f("ck_journal_kind"), NEW_KINDS)
        batch.create_check_constraint(op.f("ck_journal_shape"), NEW_SHAPE)


def downgrade() -> None:
    """Drop the corporate-action columns and kinds (a journal holding such entries makes the
    copy fail: nothing is rewritten silently)."""
    with op.batch_alter_table(
        "journal", copy_from=_journal(corporate_actions=True), recreate="auto"
    ) as batch:
        batch.drop_constraint(op.f("ck_journal_shape"), type_="check")
        batch.drop_constraint(op.f("ck_journal_kind"), type_="check")
        batch.drop_column("basis_fraction")
        batch.drop_column("new_symbol")
        batch.create_check_constraint(op.f("ck_journal_kind"), OLD_KINDS)
        batch.create_check_constraint(op.f("ck_journal_shape"), OLD_SHAPE)
