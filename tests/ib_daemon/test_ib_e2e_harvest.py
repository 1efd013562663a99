"""The daemon harvests through the real IB adapter and ib_async against the fake TWS.

Issue #9 §3 ("a crossing quote harvests and buys the replacement"), as
tests/alpaca/test_alpaca_harvest.py proves it for Alpaca: one behaviour per test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fake_tws import FakeTWS
from ibdaemonkit import (
    Daemons,
    crossing_quotes,
    make_settings,
    placed,
    sale_resting_at_ib,
    seed_journal,
    until,
)

from adapters.storage.records import IntentKind, IntentStatus

pytestmark = pytest.mark.timeout(60)


async def test_a_crossing_quote_sells_the_lot_and_buys_the_replacement_each_journaled_with_fees(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §2/§3: a falling VTI quote sells the losing lot with a marketable limit order
    tagged with its intent id as ``orderRef``; once it fills, the replacement SCHB buy goes out
    with its own ``orderRef`` and fills; each order was placed once, and the journal holds both
    fills with IB's commission report as their fees."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start()
    assert running.position("VTI") == 40

    await crossing_quotes(tws)
    await tws.wait_until(lambda: len(tws.orders) == 2 and all(o.is_done for o in tws.orders))
    await until(lambda: running.position("SCHB") > 0, what="the replacement journaled")

    sell, buy = tws.orders
    assert (sell.symbol, sell.action, sell.qty, sell.order_type, sell.tif) == (
        "VTI",
        "SELL",
        40,
        "LMT",
        "DAY",
    )
    assert sell.lmt_price is not None
    assert sell.lmt_price <= Decimal("180.00")  # marketable: at or below the bid
    assert (buy.symbol, buy.action, buy.status) == ("SCHB", "BUY", "Filled")
    assert sell.order_ref.startswith("tlh-hs-")
    assert buy.order_ref.startswith("tlh-rb-")
    assert placed(tws) == {sell.order_ref: 1, buy.order_ref: 1}
    sold, bought = tws.executions
    [vti] = [r for r in await running.trades("VTI") if r.kind.value == "trade"]
    [schb] = await running.trades("SCHB")
    assert (vti.quantity, vti.fees, vti.external_id) == (40, sold.commission, f"ib:{sold.exec_id}")
    assert (schb.quantity, schb.fees, schb.external_id) == (
        buy.qty,
        bought.commission,
        f"ib:{bought.exec_id}",
    )
    assert running.position("VTI") == 0
    assert running.position("SCHB") == tws.positions()["SCHB"].qty
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert (sale.intent_id, sale.status, sale.filled_quantity) == (
        sell.order_ref,
        IntentStatus.FILLED,
        40,
    )
    (replacement,) = await running.intents(IntentKind.REPLACEMENT_BUY)
    assert (replacement.intent_id, replacement.parent_intent_id) == (buy.order_ref, sell.order_ref)
    assert running.engine.halted == set()
    assert running.alive()


async def test_partial_fills_are_journaled_once_each_and_sum_to_the_sale(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §2 ("partial fills"): the sale fills in two executions; each is journaled
    once, with its own commission, even after a second reconciliation reads today's
    executions again; the replacement is sized from their sum."""
    running, ref = await sale_resting_at_ib(daemons, tws)

    await tws.fill(ref, 15, "179.70")
    await tws.fill(ref, 25, "179.60")
    await tws.wait_until(lambda: len(tws.orders) == 2)
    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("test: read today's executions again")

    sales = [r for r in await running.trades("VTI") if r.action and r.action.value == "SELL"]
    assert sorted(r.quantity for r in sales) == [15, 25]
    assert {r.external_id for r in sales} == {f"ib:{e.exec_id}" for e in tws.executions[:2]}
    assert all(r.fees == Decimal("1.0000") for r in sales)  # IB's $1 minimum per execution
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.filled_quantity == 40
    # The proceeds net of both commissions: what the replacement may spend.
    assert sale.filled_notional == 15 * Decimal("179.70") + 25 * Decimal("179.60") - 2
    assert running.position("VTI") == 0
    assert placed(tws)[ref] == 1
    assert running.engine.halted == set()


async def test_read_only_ib_places_nothing_and_the_daemon_denies_the_harvest(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """`[ib] readonly = true` (adapters/ib/settings.py) in mode paper: the adapter connects
    read-only, and the daemon, knowing orders may not leave, stores the harvest DENIED instead
    of sending it; IB receives no order."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start(make_settings(tws, ib={"readonly": True}))
    assert running.broker.config.readonly
    await crossing_quotes(tws)

    await until(lambda: bool(running.daemon.orders.denials), what="the harvest decided")
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.status is IntentStatus.DENIED
    assert "trading is not enabled" in sale.reason
    assert tws.requests_named("placeOrder") == []
    assert running.position("VTI") == 40


async def test_a_gateway_whose_api_is_read_only_rejects_the_sale_and_nothing_follows(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """TWS/Gateway's "Read-Only API" setting refuses every order with error 321 (IB API
    message codes): the sale's intent ends REJECTED with IB's message, nothing is journaled,
    no replacement is bought, and the daemon keeps running."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    tws.set_read_only_api(True)
    running = await daemons.start()
    await crossing_quotes(tws)

    await until(
        lambda: not running.daemon.orders.open_intents and bool(tws.requests_named("placeOrder")),
        what="the sale refused",
    )
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.status is IntentStatus.REJECTED
    assert "IB error 321" in sale.reason
    assert await running.intents(IntentKind.REPLACEMENT_BUY) == []
    assert len(tws.requests_named("placeOrder")) == 1
    assert running.position("VTI") == 40
    assert running.alive()
