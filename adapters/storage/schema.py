"""The database schema: SQLAlchemy 2.x declarative models.

`migrations/versions` must create exactly this schema; `tests/storage/test_migrations.py` checks
it with Alembic's autogenerate comparison on SQLite and PostgreSQL. Every constraint is named
(`NAMING_CONVENTION`) so that Alembic's batch mode can alter it on SQLite.

Money, quantities and ratios use `ExactDecimal` (text, see `adapters.storage.types`), instants use
`UTCDateTime`. Enumerated text columns carry CHECK constraints; `intents.status` does not, so the
order state table (`records.TRANSITIONS`) can grow without a migration.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from adapters.storage.records import LOT_METHODS, IntentKind, JournalKind
from adapters.storage.types import ExactDecimal, JSONText, UTCDateTime
from ledger.model import AccountType

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key on PostgreSQL; SQLite autoincrements only an "INTEGER PRIMARY KEY".
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base with the project's naming convention and exact column types."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        Decimal: ExactDecimal(),
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSONText(),
    }


JOURNAL_SHAPE = (
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
"""Which columns each kind of journal entry fills (`records.JournalEntry`)."""


class JournalRow(Base):
    """The append-only journal of trades, splits and imports; `seq` is the replay order."""

    __tablename__ = "journal"
    __table_args__ = (
        CheckConstraint(_one_of("kind", [k.value for k in JournalKind]), name="kind"),
        CheckConstraint("action IS NULL OR action IN ('BUY', 'SELL')", name="action"),
        CheckConstraint(JOURNAL_SHAPE, name="shape"),
        # AUTOINCREMENT: a seq is never reused on SQLite, even after the newest row is lost.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(4))
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal | None]
    price: Mapped[Decimal | None]
    fees: Mapped[Decimal | None]
    lot_id: Mapped[str | None] = mapped_column(String(128))
    trade_date: Mapped[date]
    occurred_at: Mapped[datetime | None]
    ratio: Mapped[Decimal | None]
    source: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    recorded_at: Mapped[datetime]
    new_symbol: Mapped[str | None] = mapped_column(String(32))
    basis_fraction: Mapped[Decimal | None]
    to_account: Mapped[str | None] = mapped_column(String(64))


class AccountRow(Base):
    """A brokerage account and how its lots are relieved."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_one_of("type", [t.value for t in AccountType]), name="type"),
        CheckConstraint(_one_of("lot_method", sorted(LOT_METHODS)), name="lot_method"),
    )

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    broker: Mapped[str] = mapped_column(String(32))
    lot_method: Mapped[str] = mapped_column(String(16))


class IntentRow(Base):
    """The order outbox: one row per order the daemon means to place, keyed by client order id."""

    __tablename__ = "intents"
    __table_args__ = (
        CheckConstraint(
            _one_of("kind", [k.value for k in IntentKind]),
            name="kind",
        ),
        CheckConstraint(_one_of("side", ["BUY", "SELL"]), name="side"),
        Index(None, "status"),
        Index(None, "parent_intent_id"),
        Index(None, "kind", "created_at"),
    )

    intent_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    lot_id: Mapped[str | None] = mapped_column(String(128))
    parent_intent_id: Mapped[str | None] = mapped_column(ForeignKey("intents.intent_id"))
    broker_order_id: Mapped[str | None] = mapped_column(String(128))
    filled_quantity: Mapped[Decimal]
    filled_notional: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]


class OrderEventRow(Base):
    """Append-only log of every broker order update received for an intent."""

    __tablename__ = "order_events"
    __table_args__ = (Index(None, "intent_id", "event_id"), {"sqlite_autoincrement": True})

    event_id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("intents.intent_id"))
    status: Mapped[str] = mapped_column(String(32))
    filled_quantity: Mapped[Decimal | None]
    price: Mapped[Decimal | None]
    at: Mapped[datetime]
    raw: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class HaltRow(Base):
    """A symbol-level trading halt; `account` NULL halts the symbol in every account."""

    __tablename__ = "halts"

    halt_id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    account: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]


class DaemonStateRow(Base):
    """Small key/value store for daemon bookkeeping (e.g. the last reconcile time)."""

    __tablename__ = "daemon_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


metadata = Base.metadata
journal = metadata.tables["journal"]
accounts = metadata.tables["accounts"]
intents = metadata.tables["intents"]
order_events = metadata.tables["order_events"]
halts = metadata.tables["halts"]
daemon_state = metadata.tables["daemon_state"]
