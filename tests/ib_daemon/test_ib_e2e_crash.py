"""A crash at each step of a harvest resumes on restart with no duplicate order at IB.

Issue #9 §2/§3 ("a retry or restart never places a second order for an intent"; "a crash at
each step of a harvest resumes with no duplicate order"), as tests/alpaca/test_alpaca_faults.py
proves it for Alpaca. Each test kills the daemon at one step, starts a new one on the same
database against the same fake TWS (which keeps its orders and executions, as IB does), and
counts the ``placeOrder`` messages the fake received per ``orderRef``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fake_tws import FakeTWS
from ibdaemonkit import (
    CrashBeforePlacing,
    Daemons,
    Running,
    crossing_quotes,
    make_settings,
    placed,
    sale_resting_at_ib,
    seed_journal,
    until,
)

from adapters.storage.records import IntentKind, IntentStatus
from daemon.events import OrderSide

pytestmark = pytest.mark.timeout(60)


async def _replacement_filled(tws: FakeTWS, running: Running) -> None:
    await tws.wait_until(
        lambda: len(tws.orders) == 2 and all(o.is_done for o in tws.orders), within=15
    )
    await until(
        lambda: running.position("SCHB") == tws.positions()["SCHB"].qty,
        what="the replacement journaled",
    )


async def _assert_harvested_once(tws: FakeTWS, running: Running) -> None:
    """One sale and one replacement, each placed once and journaled once; nothing halted."""
    sell, buy = tws.orders
    assert [(o.symbol, o.action) for o in tws.orders] == [("VTI", "SELL"), ("SCHB", "BUY")]
    assert placed(tws) == {sell.order_ref: 1, buy.order_ref: 1}
    sales = [r for r in await running.trades("VTI") if r.action and r.action.value == "SELL"]
    assert [r.quantity for r in sales] == [40]
    assert len(await running.trades("SCHB")) == len(tws.executions) - 1 == 1
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert (sale.intent_id, sale.status, sale.filled_quantity) == (
        sell.order_ref,
        IntentStatus.FILLED,
        Decimal(40),
    )
    (replacement,) = await running.intents(IntentKind.REPLACEMENT_BUY)
    assert (replacement.intent_id, replacement.parent_intent_id) == (buy.order_ref, sale.intent_id)
    assert replacement.status is IntentStatus.FILLED
    assert running.position("VTI") == 0
    assert running.engine.halted == set()
    assert await running.daemon.repo.active_halts() == []


async def test_a_crash_after_the_intent_is_stored_and_before_place_order_places_it_once(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """The sale's intent is committed (SUBMITTED, "a crash before the send is resolved by
    resume()'s lookup", daemon/orders.py) and the daemon dies before ``placeOrder``. The next
    daemon asks IB for the intent id among open and completed orders and today's
    executions, finds none, places the sale once, and harvests as usual."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    first = await daemons.start()
    crash = CrashBeforePlacing(first.broker, lambda order: order.side is OrderSide.SELL)
    await crossing_quotes(tws)
    await until(crash.reached.is_set, what="the sale about to be placed")
    (stored,) = await first.intents(IntentKind.HARVEST_SELL)
    assert stored.status is IntentStatus.SUBMITTED
    await first.kill()
    assert tws.requests_named("placeOrder") == []

    second = await daemons.start()
    await _replacement_filled(tws, second)

    assert tws.orders[0].order_ref == stored.intent_id == crash.requests[0].client_order_id
    await _assert_harvested_once(tws, second)


@pytest.mark.parametrize("filled_while_down", [True, False], ids=["filled-while-down", "working"])
async def test_a_crash_after_place_order_before_the_fill_finds_the_order_and_never_resends_it(
    tws: FakeTWS, daemons: Daemons, filled_while_down: bool
) -> None:
    """The sale reached IB (``placeOrder``) and the daemon dies before its fill. The next
    daemon finds the order by its ``orderRef`` and sends no second sale: a fill that happened
    while it was down is read from today's executions, one that comes later arrives live;
    either way it is journaled once and the replacement bought."""
    first, ref = await sale_resting_at_ib(daemons, tws)
    await first.kill()
    if filled_while_down:
        await tws.fill(ref, price="179.65")

    second = await daemons.start()
    if not filled_while_down:
        assert [i.intent_id for i in second.daemon.orders.open_intents] == [ref]  # resumed
        await tws.fill(ref, price="179.65")
    await _replacement_filled(tws, second)

    await _assert_harvested_once(tws, second)


async def test_a_crash_after_the_sale_fills_before_the_replacement_is_placed_buys_it_once(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """The sale fills and is journaled, the replacement's intent is stored, and the daemon
    dies before its ``placeOrder``. The next daemon neither sells again nor journals the sale
    twice, and places the replacement once."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    first = await daemons.start()
    crash = CrashBeforePlacing(first.broker, lambda order: order.side is OrderSide.BUY)
    await crossing_quotes(tws)
    await until(crash.reached.is_set, what="the replacement about to be placed")
    assert first.position("VTI") == 0
    await first.kill()
    assert [o.action for o in tws.orders] == ["SELL"]

    second = await daemons.start()
    await _replacement_filled(tws, second)

    assert tws.orders[1].order_ref == crash.requests[0].client_order_id
    await _assert_harvested_once(tws, second)


async def test_a_daemon_restarted_under_another_client_id_still_follows_the_order(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """TWS sends an order's live messages only to the client id that placed it (TWS API,
    "Executions and Commissions"). Restarted under another ``[ib] client_id`` while the sale
    still works, the daemon finds it among all clients' open orders, sends no second sale,
    and learns of its fill by looking the order up while it is in flight (``[orders]
    poll_seconds``)."""
    first, ref = await sale_resting_at_ib(daemons, tws)
    await first.kill()

    settings = make_settings(tws, ib={"client_id": 18}, orders={"poll_seconds": 0.2})
    second = await daemons.start(settings)
    assert [i.intent_id for i in second.daemon.orders.open_intents] == [ref]
    await tws.fill(ref, price="179.65")
    await _replacement_filled(tws, second)

    assert tws.orders[1].client_id == 18
    await _assert_harvested_once(tws, second)
