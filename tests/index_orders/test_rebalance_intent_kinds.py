"""The outbox stores a direct index's rebalance orders (issue #12 §4: "the result becomes
intents in the existing outbox"), on SQLite and PostgreSQL (migrations/versions/0005)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.engine import create_engine
from adapters.storage.fast_write import dispose_fast_writer
from adapters.storage.migrate import downgrade_database, upgrade_database
from adapters.storage.records import Intent, IntentKind
from adapters.storage.repository import Repository
from ledger.model import Action


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a fresh database upgraded to the newest revision."""
    engine = create_engine(db_url)
    await upgrade_database(engine)
    try:
        yield engine
    finally:
        dispose_fast_writer(engine)
        await engine.dispose()


def _intent(kind: IntentKind, side: Action) -> Intent:
    return Intent(
        intent_id=f"tlh-{kind.value}",
        kind=kind,
        account="taxable",
        symbol="AAPL",
        side=side,
        quantity=Decimal("3"),
        limit_price=Decimal("187.12"),
        lot_id="AAPL-1" if side is Action.SELL else None,
        payload={"plan": "p1", "lot_ids": ["AAPL-1"]},
    )


@pytest.mark.parametrize(
    ("kind", "side"),
    [(IntentKind.REBALANCE_SELL, Action.SELL), (IntentKind.REBALANCE_BUY, Action.BUY)],
)
async def test_a_rebalance_intent_is_stored_and_read_back(
    engine: AsyncEngine, kind: IntentKind, side: Action
) -> None:
    """Both rebalance kinds pass the intents table's kind check and read back as saved."""
    repo = Repository(engine)

    saved = await repo.save_intent(_intent(kind, side))

    assert await repo.get_intent(saved.intent_id) == saved
    assert [i.intent_id for i in await repo.intents_of_kind(kind)] == [saved.intent_id]


async def test_the_downgrade_refuses_to_drop_stored_rebalance_intents(engine: AsyncEngine) -> None:
    """Downgrading below 0005 with rebalance intents stored fails rather than rewrite them."""
    repo = Repository(engine)
    await repo.save_intent(_intent(IntentKind.REBALANCE_BUY, Action.BUY))
    dispose_fast_writer(engine)

    with pytest.raises(IntegrityError):
        await downgrade_database(engine, "0004")
