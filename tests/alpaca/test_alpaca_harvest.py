"""The daemon harvests through the real Alpaca adapter: one behaviour per test."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpacakit import ACCOUNT, Daemons, hold, position
from fake_alpaca import FakeAlpaca, FillPolicy

from adapters.storage.records import IntentKind, IntentStatus

pytestmark = pytest.mark.timeout(60)


async def test_falling_price_harvests_then_buys_the_substitute_both_filled(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §5: a falling price crosses a lot's threshold -> harvest sell and replacement buy,
    both filled; the starting lot comes from the broker's FILL activity (reconciliation)."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 40
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")

    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(
        lambda: len(fake.orders) == 2 and not any(o.is_open for o in fake.orders),
        what="sell and buy filled",
    )
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "SCHB") > 0,
        what="the replacement journaled",
    )

    sell, buy = fake.orders
    assert (sell.symbol, sell.side, sell.body["qty"]) == ("VTI", "sell", "40")
    assert isinstance(sell.body["limit_price"], str)  # exact decimal strings on the wire
    assert (buy.symbol, buy.side, buy.status) == ("SCHB", "buy", "filled")
    assert sell.client_order_id.startswith("tlh-hs-")
    assert buy.client_order_id.startswith("tlh-rb-")
    assert position(fake, "VTI") == 0
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 0
    assert running.engine.halted == set()
    assert running.engine.ledger.position(ACCOUNT, "SCHB") == position(fake, "SCHB")
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.status is IntentStatus.FILLED
    assert sale.filled_quantity == 40
    assert running.engine.halted == set()
    assert running.alive()


async def test_partial_fills_are_journaled_once_each_and_sum_to_the_sale(
    fake: FakeAlpaca, db_url: str, daemons: Daemons
) -> None:
    """Issue §3: partial fills accumulate into the journal exactly once (execution dedupe),
    on SQLite and PostgreSQL; the replacement is sized from the sum of both fills."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    running = await daemons.start(db_url)
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) == 1, what="the harvest order")
    cid = fake.orders[0].client_order_id

    await fake.fill(cid, 15, "179.70")
    await fake.fill(cid, 25, "179.60")
    await fake.wait_until(lambda: len(fake.orders) == 2, what="the replacement order")
    await running.daemon.reconciler.run("test")  # re-reads every FILL activity

    fills = [
        r
        for r in await running.journal()
        if r.symbol == "VTI" and r.action is not None and r.action.value == "SELL"
    ]
    assert sorted(r.quantity for r in fills) == [15, 25]
    assert len({r.external_id for r in fills}) == 2
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.filled_quantity == 40
    assert sale.filled_notional == Decimal(15) * Decimal("179.70") + 25 * Decimal("179.60")
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 0
    assert running.engine.halted == set()
