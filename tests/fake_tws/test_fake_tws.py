"""The real, unmodified ib_async 2.1.0 against the protocol-level fake TWS: one behaviour per test.

Sources: the TWS API reference (https://interactivebrokers.github.io/tws-api/) and ib_async's
own ``client.py``/``decoder.py``/``wrapper.py``/``ib.py``, whose behaviour each test pins.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, Stock

from . import DEFAULT_ACCOUNT, SERVER_VERSION, FakeTWS, FillPolicy, QuoteTick
from .scenarios import connected, expect, qualify, quoted, streaming, within

pytestmark = pytest.mark.timeout(20)

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York time


# ----------------------------------------------------------------------------- handshake


async def test_handshake_reports_server_version_and_managed_accounts(tws: FakeTWS) -> None:
    """The API handshake answers the server version and the accounts (IB API "Connectivity")."""
    async with connected(tws, client_id=7) as ib:
        assert ib.client.serverVersion() == SERVER_VERSION == 178
        assert ib.managedAccounts() == [DEFAULT_ACCOUNT]
        start = tws.requests_named("startApi")[0]
        assert start.fields[2] == "7"
        assert tws.connected_clients() == [7]


async def test_connect_answers_every_startup_request_without_timeout(
    tws: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    """Each startup request of ``IB.connectAsync`` gets its End message, so no request times out.

    ib_async waits up to ``timeout`` for positions, open/completed orders, account updates
    (single and multi) and executions, and only logs a missing answer (ib.py connectAsync).
    """
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="ib_async"):
        async with connected(tws):
            elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]
    names = {r.name for r in tws.requests}
    assert {
        "reqPositions",
        "reqOpenOrders",
        "reqCompletedOrders",
        "reqAccountUpdates",
        "reqAccountUpdatesMulti",
        "reqExecutions",
    } <= names


async def test_connect_sends_farm_status_notices(tws: FakeTWS) -> None:
    """TWS greets an API client with 2104/2106/2158 "data farm connection is OK" notices."""
    errors: list[tuple[Any, ...]] = []
    async with connected(tws, on_error=errors):
        assert [e[1] for e in errors] == [2104, 2106, 2158]


async def test_duplicate_client_id_gets_error_326_and_no_session(tws: FakeTWS) -> None:
    """A clientId already in use is answered with error 326 and the socket closed.

    ib_async does not fail fast on it: ``connectAsync`` waits out its timeout (client.py
    ``connectAsync`` awaits ``apiStart``, which never comes).
    """
    async with connected(tws, client_id=3):
        second = IB()
        errors: list[tuple[Any, ...]] = []
        second.errorEvent += lambda *args: errors.append(args)
        with pytest.raises(TimeoutError):
            await second.connectAsync(tws.host, tws.port, clientId=3, timeout=1)
        assert [e[1] for e in errors] == [326]
        assert tws.connected_clients() == [3]


# ----------------------------------------------------------------------------- contracts


async def test_qualify_contracts_fills_con_ids(tws: FakeTWS) -> None:
    """``qualifyContractsAsync`` gets a conId and the primary exchange per US stock on SMART."""
    async with connected(tws) as ib:
        contracts = await qualify(ib, "AAPL", "SPY")
    assert [c.conId for c in contracts] == [tws.con_id("AAPL"), tws.con_id("SPY")]
    assert all(c.exchange == "SMART" and c.primaryExchange == "NASDAQ" for c in contracts)


async def test_unknown_symbol_gets_error_200_and_qualifies_to_none(tws: FakeTWS) -> None:
    """An unknown contract is answered with error 200; ib_async 2.x returns ``None`` for it."""
    errors: list[tuple[Any, ...]] = []
    async with connected(tws, on_error=errors) as ib:
        result = await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD"))
    assert result == [None]
    assert 200 in [e[1] for e in errors]


# ----------------------------------------------------------------------------- market data


async def test_quote_arrives_as_ticker_bid_and_ask(tws: FakeTWS) -> None:
    """``reqMktData`` streams tickPrice bid (1) and ask (2) with their sizes into the Ticker."""
    async with connected(tws) as ib:
        ticker = await streaming(ib, tws, "AAPL")
        arrived = expect(ticker.updateEvent, lambda t: t.ask == 190.02)
        await tws.publish_quote("AAPL", 190.01, 190.02, bid_size=300, ask_size=400)
        await within(arrived)
    assert (ticker.bid, ticker.bidSize, ticker.ask, ticker.askSize) == (190.01, 300, 190.02, 400)
    assert ticker.marketDataType == 1


async def test_delayed_market_data_uses_delayed_tick_types(tws: FakeTWS) -> None:
    """After ``reqMarketDataType(3)`` ticks come as delayed bid/ask (66/67), read as bid/ask."""
    async with connected(tws) as ib:
        ib.reqMarketDataType(3)
        ticker = await streaming(ib, tws, "SPY")
        await quoted(ib, tws, ticker, 600.5, 600.6)
    assert ticker.marketDataType == 3
    assert {t.tickType for t in ticker.ticks} <= {66, 67}


async def test_live_data_without_subscription_gets_error_354(tws: FakeTWS) -> None:
    """Live data for an account without a subscription is refused with error 354."""
    tws.set_market_data_entitled(False)
    errors: list[tuple[Any, ...]] = []
    async with connected(tws, on_error=errors) as ib:
        [contract] = await qualify(ib, "AAPL")
        refused = expect(ib.errorEvent, lambda req_id, code, *_: code == 354)
        ib.reqMktData(contract)
        await within(refused)
    assert tws.subscribed_symbols() == set()


async def test_cancel_mkt_data_ends_the_subscription(tws: FakeTWS) -> None:
    """``cancelMktData`` removes the subscription: no more ticks for that reqId."""
    async with connected(tws) as ib:
        ticker = await streaming(ib, tws, "MSFT")
        assert ticker.contract is not None
        ib.cancelMktData(ticker.contract)
        await tws.wait_until(lambda: "MSFT" not in tws.subscribed_symbols())
        assert await tws.publish_quote("MSFT", 400, 401) == 0


async def test_bulk_ticks_reach_every_symbol(tws: FakeTWS) -> None:
    """``publish_ticks`` writes a batch over many symbols; each Ticker ends on its last quote."""
    symbols = [f"S{i:03d}" for i in range(20)]  # ib_async throttles to 45 requests/s
    for symbol in symbols:
        tws.add_contract(symbol)
    async with connected(tws) as ib:
        tickers = [ib.reqMktData(c) for c in await qualify(ib, *symbols)]
        await tws.wait_until(lambda: len(tws.subscribed_symbols()) == len(symbols))
        batch = [QuoteTick(s, 10.0 + n, 10.5 + n) for n in range(50) for s in symbols]
        last = tickers[-1]
        done = expect(last.updateEvent, lambda t: t.ask == 59.5)
        assert await tws.publish_ticks(batch) == 2 * len(batch)
        await within(done)
    assert {(t.bid, t.ask) for t in tickers} == {(59.0, 59.5)}


# ----------------------------------------------------------------------------- orders


async def test_limit_order_fills_with_order_ref_and_exchange_time(tws: FakeTWS) -> None:
    """A filled LimitOrder fires execDetailsEvent and commissionReportEvent carrying orderRef.

    ``Execution.time`` is the exchange time TWS sends (tz-aware), not the receive time;
    the commission report is matched by execId (IB API ``commissionReport``).
    """
    tws.set_time(T0)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        executed = expect(ib.execDetailsEvent)
        reported = expect(ib.commissionReportEvent)
        trade = ib.placeOrder(contract, LimitOrder("SELL", 10, 190.5, orderRef="tlh:intent-1"))
        _, fill = await within(executed)
        _, report_fill, report = await within(reported)
    assert fill.execution.orderRef == "tlh:intent-1"
    assert fill.execution.time == T0
    assert (fill.execution.side, fill.execution.shares, fill.execution.price) == ("SLD", 10, 190.5)
    assert report.execId == fill.execution.execId == report_fill.execution.execId
    assert report.commission == 1.0
    assert trade.orderStatus.status == "Filled"
    assert trade.order.permId == tws.order("tlh:intent-1").perm_id


async def test_order_received_is_recorded(tws: FakeTWS) -> None:
    """The fake records orderRef, limit price, quantity, action and tif of each order."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws, client_id=5) as ib:
        [contract] = await qualify(ib, "VOO")
        ib.placeOrder(contract, LimitOrder("BUY", 3, 550.25, tif="DAY", orderRef="tlh:r"))
        await tws.wait_for_request("placeOrder")
    order = tws.order("tlh:r")
    assert (order.action, order.qty, order.lmt_price, order.tif) == (
        "BUY",
        Decimal(3),
        Decimal("550.25"),
        "DAY",
    )
    assert (order.client_id, order.status, order.account) == (5, "Submitted", DEFAULT_ACCOUNT)


async def test_fill_at_the_quote(tws: FakeTWS) -> None:
    """With price="quote" a marketable buy fills at the ask, not at its limit."""
    tws.set_fill_policy(FillPolicy(price="quote"))
    await tws.publish_quote("IVV", 601.10, 601.20)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "IVV")
        executed = expect(ib.execDetailsEvent)
        ib.placeOrder(contract, LimitOrder("BUY", 1, 605, orderRef="tlh:q"))
        _, fill = await within(executed)
    assert fill.execution.price == 601.20


async def test_partial_fill_then_rest(tws: FakeTWS) -> None:
    """A partial fill leaves the order Submitted; the rest fills it (two executions, cumQty)."""
    tws.set_fill_policy(FillPolicy(mode="partial", partial_qty=Decimal(4)))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        first = expect(ib.execDetailsEvent)
        trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 190, orderRef="tlh:p"))
        await within(first)
        assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Submitted", 4)
        filled = expect(trade.filledEvent)
        await tws.fill("tlh:p")
        await within(filled)
    assert [f.execution.shares for f in trade.fills] == [4, 6]
    assert [f.execution.cumQty for f in trade.fills] == [4, 10]
    assert tws.positions()["AAPL"].qty == 10


async def test_reject_sends_error_201(tws: FakeTWS) -> None:
    """A rejected order gets error 201 with its orderId; ib_async marks the trade Cancelled."""
    tws.set_fill_policy(FillPolicy(mode="reject"))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        rejected = expect(ib.errorEvent, lambda req_id, code, *_: code == 201)
        trade = ib.placeOrder(contract, LimitOrder("BUY", 1, 190, orderRef="tlh:x"))
        req_id, *_ = await within(rejected)
    assert req_id == trade.order.orderId
    assert trade.orderStatus.status == "Cancelled"
    assert tws.order("tlh:x").status == "Inactive"


async def test_cancel_order(tws: FakeTWS) -> None:
    """``cancelOrder`` on a working order answers orderStatus Cancelled (then notice 202)."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "MSFT")
        trade = ib.placeOrder(contract, LimitOrder("SELL", 2, 500, orderRef="tlh:c"))
        await tws.wait_for_request("placeOrder")
        cancelled = expect(trade.cancelledEvent)
        ib.cancelOrder(trade.order)
        await within(cancelled)
    assert tws.order("tlh:c").status == "Cancelled"


async def test_modify_order_updates_the_working_order(tws: FakeTWS) -> None:
    """Placing an order again with its orderId modifies it (IB API ``placeOrder``)."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "MSFT")
        trade = ib.placeOrder(contract, LimitOrder("SELL", 2, 500, orderRef="tlh:m"))
        await tws.wait_for_request("placeOrder")
        trade.order.lmtPrice = 499.5
        ib.placeOrder(contract, trade.order)
        await tws.wait_for_request("placeOrder", 2)
    assert len(tws.orders) == 1
    assert tws.order("tlh:m").lmt_price == Decimal("499.5")


# ----------------------------------------------------------------------------- reports


async def test_req_executions_returns_todays_executions(tws: FakeTWS) -> None:
    """``reqExecutions`` returns today's executions only, filtered like ExecutionFilter asks."""
    tws.set_time(T0)
    tws.add_execution("SPY", "BUY", 5, 590, moment=T0 - timedelta(days=1), order_ref="old")
    async with connected(tws) as ib:
        [aapl, msft] = await qualify(ib, "AAPL", "MSFT")
        for contract, ref in ((aapl, "tlh:a"), (msft, "tlh:b")):
            executed = expect(ib.execDetailsEvent)
            ib.placeOrder(contract, LimitOrder("BUY", 1, 100, orderRef=ref))
            await within(executed)
        every = await ib.reqExecutionsAsync()
        only_msft = await ib.reqExecutionsAsync(ExecutionFilter(symbol="MSFT"))
    assert sorted(f.execution.orderRef for f in every) == ["tlh:a", "tlh:b"]
    assert [f.execution.orderRef for f in only_msft] == ["tlh:b"]


async def test_execution_filter_time_keeps_later_executions(tws: FakeTWS) -> None:
    """ExecutionFilter.time returns only executions after it (``yyyymmdd-hh:mm:ss`` is UTC)."""
    tws.set_time(T0)
    tws.add_execution("SPY", "BUY", 1, 590, moment=T0 - timedelta(hours=2), order_ref="early")
    tws.add_execution("SPY", "SELL", 1, 591, moment=T0 - timedelta(minutes=5), order_ref="late")
    since = f"{T0 - timedelta(hours=1):%Y%m%d-%H:%M:%S}"
    async with connected(tws) as ib:
        fills = await ib.reqExecutionsAsync(ExecutionFilter(time=since))
        local = await ib.reqExecutionsAsync(ExecutionFilter(time="20261124 07:30:00"))
    assert [f.execution.orderRef for f in fills] == ["late"]
    assert [f.execution.orderRef for f in local] == ["early", "late"]  # 07:30 New York


async def test_req_completed_orders_returns_filled_orders_by_perm_id(tws: FakeTWS) -> None:
    """Completed orders carry permId and orderRef but no orderId/clientId (``completedOrder``)."""
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        done = expect(ib.commissionReportEvent)
        ib.placeOrder(contract, LimitOrder("BUY", 2, 190, orderRef="tlh:done"))
        await within(done)
        trades = await ib.reqCompletedOrdersAsync(False)
    [trade] = trades
    assert trade.order.orderRef == "tlh:done"
    assert trade.order.permId == tws.order("tlh:done").perm_id
    assert (trade.order.orderId, trade.orderStatus.status) == (0, "Filled")


async def test_req_positions_returns_positions(tws: FakeTWS) -> None:
    """``reqPositionsAsync`` returns every non-flat position with its average cost."""
    tws.set_position("VOO", 12, "480.5")
    async with connected(tws) as ib:
        positions = await ib.reqPositionsAsync()
    [pos] = positions
    assert (pos.account, pos.contract.symbol, pos.position, pos.avgCost) == (
        DEFAULT_ACCOUNT,
        "VOO",
        12,
        480.5,
    )
    assert pos.contract.conId == tws.con_id("VOO")


async def test_open_orders_come_back_on_reconnect(tws: FakeTWS) -> None:
    """A working order is rebuilt from ``openOrder`` at the next connect, with its orderRef."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws, client_id=2) as ib:
        [contract] = await qualify(ib, "AAPL")
        ib.placeOrder(contract, LimitOrder("SELL", 1, 200, orderRef="tlh:open"))
        await tws.wait_for_request("placeOrder")
    async with connected(tws, client_id=2) as ib:
        [trade] = ib.openTrades()
    assert trade.order.orderRef == "tlh:open"
    assert trade.orderStatus.status == "Submitted"


async def test_current_time_and_account_summary(tws: FakeTWS) -> None:
    """``reqCurrentTime`` answers the fake's clock; the account summary carries NetLiquidation."""
    tws.set_time(T0)
    async with connected(tws) as ib:
        now = await ib.reqCurrentTimeAsync()
        summary = await ib.accountSummaryAsync()
    assert now == T0
    assert "NetLiquidation" in {v.tag for v in summary}


# ----------------------------------------------------------------------------- faults


async def test_connectivity_errors_reach_error_event(tws: FakeTWS) -> None:
    """Codes 1100 (connectivity lost) and 1102 (restored, data kept) reach ``errorEvent``."""
    async with connected(tws) as ib:
        lost = expect(ib.errorEvent, lambda req_id, code, *_: code == 1100)
        restored = expect(ib.errorEvent, lambda req_id, code, *_: code == 1102)
        await tws.lose_connectivity()
        await within(lost)
        await tws.restore_connectivity()
        await within(restored)
        assert ib.isConnected()


async def test_market_data_pauses_on_1100_and_is_lost_on_1101(tws: FakeTWS) -> None:
    """While connectivity is lost (1100) no ticks flow; after 1101 ("data lost") the
    subscriptions are gone until the client requests them again (IB API message codes).
    """
    async with connected(tws) as ib:
        await streaming(ib, tws, "AAPL")
        await tws.lose_connectivity()
        assert await tws.publish_quote("AAPL", 1, 2) == 0
        restored = expect(ib.errorEvent, lambda req_id, code, *_: code == 1101)
        await tws.restore_connectivity(data_lost=True)
        await within(restored)
        assert tws.subscribed_symbols() == set()
        assert await tws.publish_quote("AAPL", 1, 2) == 0


async def test_snapshot_returns_the_current_quote(tws: FakeTWS) -> None:
    """``reqTickersAsync`` (snapshot market data) gets the last quote and tickSnapshotEnd."""
    await tws.publish_quote("SPY", 599.9, 600.1)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "SPY")
        [ticker] = await within(asyncio.ensure_future(ib.reqTickersAsync(contract)))
    assert (ticker.bid, ticker.ask) == (599.9, 600.1)
    assert tws.subscribed_symbols() == set()


async def test_dropped_connection_is_seen_and_reconnect_works(tws: FakeTWS) -> None:
    """A dropped socket fires ``disconnectedEvent``; the same IB() connects again."""
    ib = IB()
    await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
    try:
        gone = expect(ib.disconnectedEvent)
        assert await tws.drop_connections() == 1
        await within(gone)
        await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
        assert ib.isConnected()
    finally:
        ib.disconnect()


async def test_restart_refuses_connections_then_keeps_state(tws: FakeTWS) -> None:
    """The nightly restart: refused while down; afterwards positions, completed orders and
    today's executions are all there, including a fill that happened while disconnected.
    """
    tws.set_fill_policy(FillPolicy(mode="hold"))
    ib = IB()
    await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
    try:
        [contract] = await qualify(ib, "AAPL")
        ib.placeOrder(contract, LimitOrder("BUY", 5, 190, orderRef="tlh:night"))
        await tws.wait_for_request("placeOrder")
        gone = expect(ib.disconnectedEvent)
        await tws.go_down()
        await within(gone)
        await tws.fill("tlh:night")  # nobody connected: no live messages
        with pytest.raises(ConnectionRefusedError):
            await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
        await tws.come_up()
        await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
        fills = ib.fills()
        completed = await ib.reqCompletedOrdersAsync(False)
        positions = await ib.reqPositionsAsync()
    finally:
        ib.disconnect()
    assert [f.execution.orderRef for f in fills] == ["tlh:night"]
    assert fills[0].commissionReport.commission == 1.0
    assert [t.order.orderRef for t in completed] == ["tlh:night"]
    assert [(p.contract.symbol, p.position) for p in positions] == [("AAPL", 5)]


async def test_malformed_messages_are_logged_and_dropped(
    tws: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage numbers, wrong field counts, unknown ids and bytes that are not UTF-8 are logged
    by ib_async's decoder and dropped; the connection stays up and the next good tick is applied.
    """
    async with connected(tws) as ib:
        ticker = await streaming(ib, tws, "AAPL")
        req_id = ib.wrapper.ticker2ReqId["mktData"][ticker]
        with caplog.at_level(logging.ERROR, logger="ib_async"):
            await tws.send_fields(1, 6, req_id, 1, "garbage", 100, 0)
            await tws.send_fields(3, 5)
            await tws.send_fields(9999, 1, 2)
            await tws.send_bytes(struct.pack(">I", 3) + b"\xff\xfe\x00")  # not UTF-8
            await quoted(ib, tws, ticker, 10.0, 10.1)
        assert ib.isConnected()
    logged = [r for r in caplog.records if r.name == "ib_async.Decoder"]
    assert len(logged) == 4


async def test_restart_comes_back_on_the_same_port(tws: FakeTWS) -> None:
    """``restart(down_for)`` refuses connections for that long, then serves the same port."""
    port = tws.port
    restarting = asyncio.create_task(tws.restart(0.3))
    await tws.wait_until(lambda: not tws.is_up)
    ib = IB()
    with pytest.raises(ConnectionRefusedError):
        await ib.connectAsync(tws.host, port, clientId=1, timeout=4)
    await within(restarting)
    try:
        await ib.connectAsync(tws.host, port, clientId=1, timeout=4)
        assert ib.isConnected()
    finally:
        ib.disconnect()


# ----------------------------------------------------------------------------- more behaviour


async def test_open_orders_are_per_client_all_open_orders_are_not(tws: FakeTWS) -> None:
    """``reqOpenOrders`` returns the calling client's orders; ``reqAllOpenOrders`` every client's
    (IB API "Open Orders": orders of other clients need reqAllOpenOrders or the master id).
    """
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws, client_id=1) as first, connected(tws, client_id=2) as second:
        [contract] = await qualify(first, "AAPL")
        first.placeOrder(contract, LimitOrder("BUY", 1, 150, orderRef="tlh:one"))
        await tws.wait_for_request("placeOrder")
        own = await second.reqOpenOrdersAsync()
        every = await second.reqAllOpenOrdersAsync()
    assert own == []
    assert [t.order.orderRef for t in every] == ["tlh:one"]


async def test_server_side_cancel_reaches_the_client(tws: FakeTWS) -> None:
    """A cancel by the server (a DAY order at the close) arrives as orderStatus Cancelled."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "SPY")
        trade = ib.placeOrder(contract, LimitOrder("BUY", 1, 500, orderRef="tlh:day"))
        await tws.wait_for_request("placeOrder")
        cancelled = expect(trade.cancelledEvent)
        await tws.cancel("tlh:day")
        await within(cancelled)
    assert trade.orderStatus.status == "Cancelled"


async def test_fill_pushes_the_new_position(tws: FakeTWS) -> None:
    """After a fill the position subscription opened at connect gets the new position."""
    tws.set_position("MSFT", 10, 400)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "MSFT")
        moved = expect(ib.positionEvent, lambda p: p.position == 4)
        ib.placeOrder(contract, LimitOrder("SELL", 6, 410, orderRef="tlh:sell"))
        [position] = await within(moved)
    assert position.avgCost == 400
    assert tws.positions()["MSFT"].qty == 4


async def test_pre_encoded_ticks_are_sent_as_is(tws: FakeTWS) -> None:
    """``encode_ticks`` + ``send_bytes`` deliver pre-built tickPrice frames (benchmark path)."""
    async with connected(tws, client_id=9) as ib:
        ticker = await streaming(ib, tws, "VOO")
        data = tws.encode_ticks([QuoteTick("VOO", 500.0, 500.1), QuoteTick("AAPL", 1, 2)], 9)
        arrived = expect(ticker.updateEvent, lambda t: t.ask == 500.1)
        assert await tws.send_bytes(data, client_id=9) == 1
        await within(arrived)
    assert ticker.bid == 500.0


async def test_every_request_is_recorded_with_its_client(tws: FakeTWS) -> None:
    """The fake keeps a record of every message received, with the sender's clientId."""
    async with connected(tws, client_id=4) as ib:
        await ib.reqCurrentTimeAsync()
    [record] = tws.requests_named("reqCurrentTime")
    assert (record.client_id, record.msg_id, record.fields) == (4, 49, ("49", "1"))


async def test_on_request_sees_each_message_before_it_is_handled(tws: FakeTWS) -> None:
    """The ``on_request`` hook gets every message as read, before the fake answers it."""
    seen: list[tuple[str, int]] = []
    tws.on_request = lambda record: seen.append((record.name, len(tws.orders)))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        done = expect(ib.execDetailsEvent)
        ib.placeOrder(contract, LimitOrder("BUY", 1, 190, orderRef="tlh:hook"))
        await within(done)
    assert ("placeOrder", 0) in seen  # no order recorded yet when the hook ran
    assert [name for name, _ in seen][:1] == ["startApi"]


async def test_global_cancel_cancels_every_working_order(tws: FakeTWS) -> None:
    """``reqGlobalCancel`` cancels all working orders."""
    tws.set_fill_policy(FillPolicy(mode="hold"))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        trades = [
            ib.placeOrder(contract, LimitOrder("BUY", 1, 100 + n, orderRef=f"tlh:g{n}"))
            for n in range(2)
        ]
        await tws.wait_for_request("placeOrder", 2)
        cancelled = expect(trades[-1].cancelledEvent)
        ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
        await within(cancelled)
    assert {o.status for o in tws.orders} == {"Cancelled"}


async def test_marketable_order_rests_until_the_quote_crosses(tws: FakeTWS) -> None:
    """With mode="marketable" a sell limit above the bid rests; a bid at or over it fills it,
    at the bid (the fake's matching is price-improving, like a marketable limit order).
    """
    tws.set_fill_policy(FillPolicy(mode="marketable"))
    await tws.publish_quote("AAPL", 189.0, 189.1)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        trade = ib.placeOrder(contract, LimitOrder("SELL", 5, 190, orderRef="tlh:rest"))
        await tws.wait_for_request("placeOrder")
        assert tws.order("tlh:rest").status == "Submitted"
        filled = expect(trade.filledEvent)
        await tws.publish_quote("AAPL", 190.2, 190.3)
        await within(filled)
    assert [f.execution.price for f in trade.fills] == [190.2]


async def test_read_only_api_refuses_orders_with_321(tws: FakeTWS) -> None:
    """The Gateway's Read-Only API setting answers placeOrder with error 321; no order exists."""
    tws.set_read_only_api(True)
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "AAPL")
        refused = expect(ib.errorEvent, lambda req_id, code, *_: code == 321)
        ib.placeOrder(contract, LimitOrder("BUY", 1, 100, orderRef="tlh:ro"))
        await within(refused)
    assert tws.orders == []


async def test_every_message_kind_decodes_without_error(
    tws: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    """The fake's field layouts match ib_async's decoder at version 178: a session using every
    message kind (positions, portfolio, orders, fills, reports, ticks) logs no decoding error.
    """
    tws.set_position("VOO", 3, 480)
    with caplog.at_level(logging.ERROR, logger="ib_async"):
        async with connected(tws) as ib:
            ticker = await streaming(ib, tws, "AAPL")
            await quoted(ib, tws, ticker, 190.0, 190.1)
            done = expect(ib.commissionReportEvent)
            assert ticker.contract is not None
            ib.placeOrder(ticker.contract, LimitOrder("BUY", 1, 190.1, orderRef="tlh:all"))
            await within(done)
            await ib.reqCompletedOrdersAsync(False)
            await ib.reqExecutionsAsync()
            await ib.reqAllOpenOrdersAsync()
            await ib.accountSummaryAsync()
            portfolio = ib.portfolio()
    assert [r.getMessage() for r in caplog.records] == []
    assert sorted(p.contract.symbol for p in portfolio) == ["AAPL", "VOO"]  # AAPL: pushed


@pytest.mark.slow
async def test_bulk_path_feeds_ten_thousand_quotes_over_500_symbols() -> None:
    """The benchmark load of issue #9 (10,000 ticks/s over 500 symbols) costs the fake well
    under a second per second of ticks, and ib_async applies every last quote.
    """
    symbols = [f"B{i:03d}" for i in range(500)]
    async with FakeTWS(symbols=symbols) as tws:
        ib = IB()
        ib.client.MaxRequests = 0  # ib_async's own 45 requests/s throttle would take ~20 s
        await ib.connectAsync(tws.host, tws.port, clientId=1, timeout=4)
        try:
            tickers = [ib.reqMktData(c) for c in await qualify(ib, *symbols)]
            await tws.wait_until(lambda: len(tws.subscribed_symbols()) == len(symbols))
            batch = [
                QuoteTick(symbols[n % 500], 10 + n / 100, 10.5 + n / 100) for n in range(10_000)
            ]
            applied = expect(tickers[-1].updateEvent, lambda t: t.ask == batch[-1].ask)
            started = time.perf_counter()
            assert await tws.publish_ticks(batch) == 20_000
            fake_cost = time.perf_counter() - started
            await within(applied, 10)
        finally:
            ib.disconnect()
    assert fake_cost < 0.5
    last = {q.symbol: (q.bid, q.ask) for q in batch}
    assert {t.contract.symbol: (t.bid, t.ask) for t in tickers if t.contract} == last


async def test_positions_are_kept_per_account() -> None:
    """With two managed accounts every position carries its account; ib_async then syncs each
    account through reqAccountUpdatesMulti (ib.py ``connectAsync``) and still connects at once.
    """
    async with FakeTWS(symbols=("AAPL",), accounts=("DU111", "DU222")) as tws:
        tws.set_position("AAPL", 5, 180, account="DU111")
        tws.set_position("AAPL", 7, 185, account="DU222")
        async with connected(tws) as ib:
            positions = await ib.reqPositionsAsync()
            accounts = ib.managedAccounts()
        multi = tws.requests_named("reqAccountUpdatesMulti")
    assert accounts == ["DU111", "DU222"]
    assert sorted((p.account, p.position) for p in positions) == [("DU111", 5), ("DU222", 7)]
    assert sorted(r.fields[3] for r in multi) == ["DU111", "DU222"]
    assert tws.positions("DU222")["AAPL"].avg_cost == 185


async def test_cancel_after_a_partial_fill_keeps_the_filled_part(tws: FakeTWS) -> None:
    """Cancelling a partly filled order ends it Cancelled with its filled quantity kept."""
    tws.set_fill_policy(FillPolicy(mode="partial", partial_qty=Decimal(2)))
    async with connected(tws) as ib:
        [contract] = await qualify(ib, "SPY")
        first = expect(ib.execDetailsEvent)
        trade = ib.placeOrder(contract, LimitOrder("BUY", 5, 600, orderRef="tlh:pc"))
        await within(first)
        cancelled = expect(trade.cancelledEvent)
        ib.cancelOrder(trade.order)
        await within(cancelled)
    assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Cancelled", 2)
    assert tws.positions()["SPY"].qty == 2
