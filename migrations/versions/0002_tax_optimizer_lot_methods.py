"""Accounts may declare IB's Tax Optimizer lot methods (max_lt_gain ... max_st_loss).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Hand-written: the accounts table's check constraint on `lot_method` widened to every method the
ledger models (`ledger.conventions.LotMethod`), as `adapters/storage/schema.py` declares it. The
values are spelled out so this revision never changes when the application's list does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("fifo", "hifo", "lifo", "specific")
NEW = (
    "fifo",
    "hifo",
    "lifo",
    "max_lt_gain",
    "max_lt_loss",
    "max_st_gain",
    "max_st_loss",
    "specific",
)


def _check(methods: Sequence[str]) -> str:
    return "lot_method IN (" + ", ".join(f"'{m}'" for m in methods) + ")"


def _accounts(methods: Sequence[str]) -> sa.Table:
    """Return the accounts table as it stands before the change (0001's definition)."""
    return sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("lot_method", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "type IN ('taxable', 'ira', 'roth_ira', '401k', 'hsa')", name=op.f("ck_accounts_type")
        ),
        sa.CheckConstraint(_check(methods), name=op.f("ck_accounts_lot_method")),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_accounts")),
    )


def _replace(old: Sequence[str], new: Sequence[str]) -> None:
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied; the table
    # is given rather than reflected, so that `alembic upgrade --sql` renders it offline.
    with op.batch_alter_table("accounts", copy_from=_accounts(old)) as batch:
        batch.drop_constraint(op.f("ck_accounts_lot_method"), type_="check")
        batch.create_check_constraint(op.f("ck_accounts_lot_method"), _check(new))


def upgrade() -> None:
    """Accept every lot method the ledger models."""
    _replace(OLD, NEW)


def downgrade() -> None:
    """Accept only fifo, hifo, lifo and specific again (an account declaring another method
    makes the copy fail: change it first, nothing is rewritten silently)."""
    _replace(NEW, OLD)
