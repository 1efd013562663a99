"""Initial schema: journal, accounts, intents, order_events, halts, daemon_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Hand-written to mirror adapters/storage/schema.py; the column types are spelled out as they are
stored (decimals as VARCHAR(64) text, instants as timezone-aware DATETIME, JSON as TEXT) so this
revision never changes when the application's types do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _seq() -> sa.types.TypeEngine:
    # BIGSERIAL on PostgreSQL; SQLite autoincrements only an "INTEGER PRIMARY KEY".
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _decimal() -> sa.String:
    return sa.String(64)


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("seq", _seq(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("action", sa.String(4), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("quantity", _decimal(), nullable=True),
        sa.Column("price", _decimal(), nullable=True),
        sa.Column("fees", _decimal(), nullable=True),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("occurred_at", _instant(), nullable=True),
        sa.Column("ratio", _decimal(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.CheckConstraint("kind IN ('trade', 'split', 'import')", name=op.f("ck_journal_kind")),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('BUY', 'SELL')", name=op.f("ck_journal_action")
        ),
        sa.CheckConstraint(
            "(kind = 'split' AND ratio IS NOT NULL AND account IS NULL AND action IS NULL"
            " AND quantity IS NULL AND price IS NULL AND fees IS NULL)"
            " OR (kind <> 'split' AND ratio IS NULL AND account IS NOT NULL"
            " AND action IS NOT NULL AND quantity IS NOT NULL AND price IS NOT NULL"
            " AND fees IS NOT NULL)",
            name=op.f("ck_journal_shape"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal")),
        sa.UniqueConstraint("external_id", name=op.f("uq_journal_external_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("lot_method", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "type IN ('taxable', 'ira', 'roth_ira', '401k', 'hsa')", name=op.f("ck_accounts_type")
        ),
        sa.CheckConstraint(
            "lot_method IN ('fifo', 'hifo', 'lifo', 'specific')",
            name=op.f("ck_accounts_lot_method"),
        ),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_accounts")),
    )
    op.create_table(
        "intents",
        sa.Column("intent_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", _decimal(), nullable=False),
        sa.Column("limit_price", _decimal(), nullable=True),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("parent_intent_id", sa.String(128), nullable=True),
        sa.Column("broker_order_id", sa.String(128), nullable=True),
        sa.Column("filled_quantity", _decimal(), nullable=False),
        sa.Column("filled_notional", _decimal(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('harvest_sell', 'replacement_buy', 'swap_back_sell', 'swap_back_buy')",
            name=op.f("ck_intents_kind"),
        ),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_intents_side")),
        sa.ForeignKeyConstraint(
            ["parent_intent_id"],
            ["intents.intent_id"],
            name=op.f("fk_intents_parent_intent_id_intents"),
        ),
        sa.PrimaryKeyConstraint("intent_id", name=op.f("pk_intents")),
    )
    op.create_index(op.f("ix_intents_status"), "intents", ["status"])
    op.create_index(op.f("ix_intents_parent_intent_id"), "intents", ["parent_intent_id"])
    op.create_table(
        "order_events",
        sa.Column("event_id", _seq(), autoincrement=True, nullable=False),
        sa.Column("intent_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("filled_quantity", _decimal(), nullable=True),
        sa.Column("price", _decimal(), nullable=True),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["intent_id"], ["intents.intent_id"], name=op.f("fk_order_events_intent_id_intents")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_order_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_order_events_intent_id_event_id"), "order_events", ["intent_id", "event_id"]
    )
    op.create_table(
        "halts",
        sa.Column("halt_id", _seq(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("cleared_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("halt_id", name=op.f("pk_halts")),
    )
    op.create_table(
        "daemon_state",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_daemon_state")),
    )


def downgrade() -> None:
    op.drop_table("daemon_state")
    op.drop_table("halts")
    op.drop_index(op.f("ix_order_events_intent_id_event_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_index(op.f("ix_intents_parent_intent_id"), table_name="intents")
    op.drop_index(op.f("ix_intents_status"), table_name="intents")
    op.drop_table("intents")
    op.drop_table("accounts")
    op.drop_table("journal")
