"""The outbox holds a direct index's rebalance orders: intent kinds `rebalance_sell`, `rebalance_buy`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Hand-written: the intents table's check constraint on `kind` widened to the kinds of
`adapters.storage.records.IntentKind`, as `adapters/storage/schema.py` declares it. The values
are spelled out so this revision never changes when the application's list does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("harvest_sell", "replacement_buy", "swap_back_sell", "swap_back_buy")
NEW = (*OLD, "rebalance_sell", "rebalance_buy")


def _check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _intents(kinds: Sequence[str]) -> sa.Table:
    """Return the intents table as it stands before the change (0001's definition)."""
    decimal = sa.String(64)
    instant = sa.DateTime(timezone=True)
    table = sa.Table(
        "intents",
        sa.MetaData(),
        sa.Column("intent_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", decimal, nullable=False),
        sa.Column("limit_price", decimal, nullable=True),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("parent_intent_id", sa.String(128), nullable=True),
        sa.Column("broker_order_id", sa.String(128), nullable=True),
        sa.Column("filled_quantity", decimal, nullable=False),
        sa.Column("filled_notional", decimal, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", instant, nullable=False),
        sa.Column("updated_at", instant, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.CheckConstraint(_check(kinds), name=op.f("ck_intents_kind")),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_intents_side")),
        sa.ForeignKeyConstraint(
            ["parent_intent_id"],
            ["intents.intent_id"],
            name=op.f("fk_intents_parent_intent_id_intents"),
        ),
        sa.PrimaryKeyConstraint("intent_id", name=op.f("pk_intents")),
    )
    # Given with the table, so that SQLite's copy recreates them.
    sa.Index(op.f("ix_intents_status"), table.c.status)
    sa.Index(op.f("ix_intents_parent_intent_id"), table.c.parent_intent_id)
    return table


def _replace(old: Sequence[str], new: Sequence[str]) -> None:
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied; the table
    # is given rather than reflected, so that `alembic upgrade --sql` renders it offline.
    with op.batch_alter_table("intents", copy_from=_intents(old)) as batch:
        batch.drop_constraint(op.f("ck_intents_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_intents_kind"), _check(new))


def upgrade() -> None:
    """Accept the rebalance intents of a direct index."""
    _replace(OLD, NEW)


def downgrade() -> None:
    """Accept the harvest and swap-back kinds only again (an outbox holding rebalance intents
    makes the copy fail: nothing is rewritten silently)."""
    _replace(NEW, OLD)
