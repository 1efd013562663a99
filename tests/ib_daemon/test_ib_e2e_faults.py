"""Faults between the daemon and TWS: fills missed while disconnected, mismatches, the nightly
Gateway restart, lost links, bad messages.

Issue #9 §2/§3, as tests/alpaca/test_alpaca_faults.py and test_alpaca_fill_journal.py prove
them for Alpaca: the real daemon, the real IB adapter and ib_async, the fake TWS.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fake_tws import FakeTWS, wire
from ibdaemonkit import (
    ACCOUNT,
    Daemons,
    Running,
    crossing_quotes,
    make_settings,
    placed,
    sale_resting_at_ib,
    seed_journal,
    until,
)

from adapters.storage.records import IntentKind, IntentStatus, JournalRecord
from daemon.events import Quote

pytestmark = pytest.mark.timeout(60)


def _sales(records: list[JournalRecord]) -> list[JournalRecord]:
    return [r for r in records if r.action is not None and r.action.value == "SELL"]


async def _harvest_completes(tws: FakeTWS, running: Running) -> None:
    """Quote the substitute and let VTI cross; wait until the sale and its replacement filled
    and the replacement is journaled."""
    await crossing_quotes(tws)
    await tws.wait_until(
        lambda: len(tws.orders) == 2 and all(o.is_done for o in tws.orders), within=15
    )
    await until(
        lambda: running.position("SCHB") == tws.positions()["SCHB"].qty,
        what="the replacement journaled",
    )


async def test_a_fill_while_disconnected_is_journaled_exactly_once_after_reconnecting(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §3: the sale's first partial fill arrives live; TWS goes away and the rest
    fills meanwhile. After the reconnect the daemon reconciles (today's executions): the
    missed fill is journaled exactly once, also after another pass, and the replacement goes
    out, once."""
    running, ref = await sale_resting_at_ib(daemons, tws)
    await tws.fill(ref, 15, "179.70")
    await until(lambda: running.position("VTI") == 25, what="the first fill journaled")

    await tws.go_down()
    await tws.fill(ref, 25, "179.60")  # nobody is connected: no live message
    await tws.come_up()
    await tws.wait_until(lambda: len(tws.orders) == 2, within=15)
    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("test: a second pass")

    sales = _sales(await running.trades("VTI"))
    assert sorted(r.quantity for r in sales) == [15, 25]
    assert running.position("VTI") == 0
    assert tws.orders[1].action == "BUY"
    assert placed(tws) == {ref: 1, tws.orders[1].order_ref: 1}
    assert running.broker.stats.resyncs >= 1
    assert running.broker.connection.stats.drops == 1
    assert running.engine.halted == set()


async def test_a_position_the_ledger_does_not_explain_halts_the_symbol(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §1: IB holds 50 VTI, the journal explains 40. Trading in VTI halts (engine and
    database; the error ``reconcile_mismatch`` it logs is read in test_ib_e2e_run), and a
    quote far below the threshold sends no order: the mismatch is never "fixed" by trading."""
    await seed_journal(daemons.url, tws, {"VTI": "40"}, held={"VTI": "50"})
    running = await daemons.start()
    await tws.wait_for_subscription("SCHB")
    await tws.publish_quote("SCHB", 50.0, 50.04)
    await tws.publish_quote("VTI", 150.0, 150.04)
    # A halted symbol triggers nothing, so the adapter's gate holds its quotes back.
    await until(lambda: running.engine.quote_of("VTI") is not None, what="the VTI quote")
    await until(lambda: not running.engine.queue, what="the quotes handled")

    assert running.daemon.reconciler is not None
    assert running.daemon.reconciler.mismatches == {"VTI": (Decimal(40), Decimal(50))}
    assert "VTI" in running.engine.halted
    assert [(h.symbol, h.account) for h in await running.daemon.repo.active_halts()] == [
        ("VTI", ACCOUNT)
    ]
    assert tws.requests_named("placeOrder") == []
    assert running.alive()


async def test_a_holding_appearing_mid_session_halts_at_the_scheduled_reconciliation(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §1: while an order is in flight the daemon reconciles every ``[orders]
    reconcile_seconds`` with no reconnect: shares that appear at IB (a transfer in) halt
    their symbol."""
    settings = make_settings(tws, orders={"poll_seconds": 0.1, "reconcile_seconds": 0.2})
    running, _ref = await sale_resting_at_ib(daemons, tws, settings)  # an order in flight
    tws.set_position("ITOT", "7", "100")

    await until(lambda: "ITOT" in running.engine.halted, what="the scheduled pass")
    assert running.broker.stats.resyncs == 0
    assert [h.symbol for h in await running.daemon.repo.active_halts()] == ["ITOT"]


async def test_the_nightly_gateway_restart_is_survived(tws: FakeTWS, daemons: Daemons) -> None:
    """Issue #9 §2: the Gateway restarts (connections refused for a while, then back with its
    state). The adapter retries with backoff, reconnects, requests its market data again,
    the daemon reconciles, and trading resumes on the new connection."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start()
    connection = running.broker.connection
    await tws.wait_for_subscription("SCHB")
    subscriptions = len(tws.requests_named("reqMktData"))
    reconciler = running.daemon.reconciler
    assert reconciler is not None
    passes = reconciler.passes
    loop = asyncio.get_running_loop()

    down = loop.time()
    await tws.go_down()
    await until(lambda: connection.stats.failed_attempts >= 2, what="refused attempts")
    # Backing off: at least two waits of [ib] reconnect_max_seconds (0.5 s), less jitter.
    assert loop.time() - down >= 2 * 0.5 * 0.8
    assert not connection.can_trade
    await tws.come_up()
    await until(lambda: connection.stats.connects == 2, what="the reconnect")
    await tws.wait_until(lambda: {"VTI", "SCHB", "ITOT"} <= tws.subscribed_symbols())
    await until(lambda: reconciler.passes > passes, what="the reconciliation")
    await _harvest_completes(tws, running)

    assert len(tws.requests_named("reqMktData")) == 2 * subscriptions
    assert reconciler.mismatches == {}
    assert [(o.symbol, o.action) for o in tws.orders] == [("VTI", "SELL"), ("SCHB", "BUY")]
    assert set(placed(tws).values()) == {1}
    assert running.engine.halted == set()


async def test_a_link_restored_with_its_data_lost_resubscribes_and_trades_again(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §2: error 1100 (TWS lost IB) stops trading while the socket stays up; 1101
    (restored, market data lost) makes the adapter request its market data again and the
    daemon reconcile; then trading resumes."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start()
    connection = running.broker.connection
    await tws.wait_for_subscription("SCHB")

    await tws.lose_connectivity()
    await until(lambda: not connection.can_trade, what="the link lost")
    await tws.restore_connectivity(data_lost=True)
    await tws.wait_until(lambda: {"VTI", "SCHB", "ITOT"} <= tws.subscribed_symbols())
    await until(lambda: running.broker.stats.resyncs >= 1, what="the resync asked for")
    await _harvest_completes(tws, running)

    assert connection.stats.connects == 1
    assert connection.stats.link_losses == 1
    assert set(placed(tws).values()) == {1}
    assert running.engine.halted == set()


async def test_bad_messages_are_logged_counted_and_dropped_and_the_daemon_trades_on(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §3: a tick whose price is not a number, a NaN bid far below the threshold, a
    truncated order status, an execution with a quantity that is not a number and an unknown
    message id: each is logged and counted, none is traded on or journaled, the connection
    stays up, and the daemon then harvests on good data."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start()
    broker = running.broker
    await tws.wait_for_subscription("VTI")
    vti = next(r.fields[2] for r in tws.requests_named("reqMktData") if r.fields[4] == "VTI")
    seed = tws.add_execution("VTI", "SELL", 40, "150", moment=datetime.now(UTC), order_ref="x")
    tws.state.executions.remove(seed)  # only its garbled report goes out
    garbled = dataclasses.replace(seed, shares="forty")

    await tws.send_fields(1, 6, vti, 1, "cheap", 100, 0)
    await tws.send_fields(1, 6, vti, 1, "nan", 100, 0)
    await tws.send_fields(1, 6, vti, 2, "150.04", 100, 0)
    await tws.send_fields(3, 5)
    await tws.send_bytes(wire.exec_details(-1, garbled, tws.exec_zone))
    await tws.send_fields(9999, 1, 2)
    await until(lambda: broker.connection.decoder_errors.count >= 4, what="decoder errors")
    await until(lambda: broker.market_data.stats.bad_ticks >= 1, what="the NaN tick")
    await _harvest_completes(tws, running)

    # Counted from ib_async's own log records of the messages it dropped.
    assert broker.connection.decoder_errors.count == 4
    assert broker.connection.decoder_errors.last.startswith("Error handling fields: ['9999'")
    assert broker.market_data.stats.bad_ticks == 1
    assert [(o.symbol, o.action) for o in tws.orders] == [("VTI", "SELL"), ("SCHB", "BUY")]
    assert [r.quantity for r in _sales(await running.trades("VTI"))] == [40]
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.status is IntentStatus.FILLED
    assert broker.connection.stats.connects == 1
    assert broker.connection.stats.drops == 0
    assert running.engine.halted == set()
    assert running.alive()


async def test_a_crossing_quote_while_disconnected_decides_nothing_until_reconnected(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """Issue #9 §2 ("never trades while disconnected"): a crossing quote handled after the
    connection dropped (it was queued before) sells nothing: with TWS away no quote is fresh
    (`MarketDataHealth`), so no replacement can be priced and the harvest is skipped. The
    skip waits for the replacement's next quote, which must reach the engine past the
    adapter's quote gate (`adapters.base.QuoteGating`) although nothing of SCHB is held: after
    the reconnect that quote comes, and the next crossing quote harvests, once."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    running = await daemons.start()
    await tws.wait_for_subscription("SCHB")
    await tws.publish_quote("SCHB", 50.0, 50.04)
    await until(lambda: running.engine.quote_of("SCHB") is not None, what="the SCHB quote")

    await tws.go_down()
    await until(lambda: not running.broker.connection.up, what="the drop noticed")
    running.engine.queue.put(Quote("VTI", 180.0, 180.04, datetime.now(UTC)))
    skips = running.engine.stats.distinct_skips
    await until(lambda: bool(skips), what="the decision")
    [(_, symbol, reason)] = skips
    assert symbol == "VTI"
    assert "SCHB: no fresh quote" in reason
    assert running.daemon.orders.open_intents == []
    assert await running.intents(IntentKind.HARVEST_SELL) == []
    await tws.come_up()
    await _harvest_completes(tws, running)

    assert set(placed(tws).values()) == {1}
    assert [r.quantity for r in _sales(await running.trades("VTI"))] == [40]
