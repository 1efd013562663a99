"""Orders at IB: tagged with the intent id, never placed twice, fills joined with commissions.

Issue #9 §2: marketable limit orders; the intent id travels as ``orderRef``; a retry or restart
never places a second order for an intent (open and completed orders and today's executions
are looked up first); fills from ``execDetails`` joined with ``commissionReport`` by
``execId``; partial fills; rejects (error 201) and cancellations end the intent. The fill's
time is the execution's (shared/reference/libraries.md §2), not the client's receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fake_tws import FakeTWS, FillPolicy
from ibkit import ACCOUNT, Events, make_broker

from adapters.base import OrderRequest
from adapters.ib.broker import IBBroker
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate

pytestmark = pytest.mark.timeout(30)

T0 = datetime(2026, 11, 24, 15, 0, 7, tzinfo=UTC)  # a Tuesday, 10:00:07 in New York
HOLD = FillPolicy(mode="hold")


def order(
    cid: str = "tlh-2026-11-24-h-VTI-1",
    *,
    side: OrderSide = OrderSide.SELL,
    quantity: str = "10",
    price: str = "100.25",
    symbol: str = "VTI",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        account=ACCOUNT,
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
    )


def final(events: Events, cid: str) -> OrderUpdate | None:
    done = [u for u in events.updates if u.client_order_id == cid and u.status.terminal]
    return done[-1] if done else None


async def test_an_order_is_a_day_limit_order_tagged_with_its_intent(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """placeOrder carries orderRef = intent id, LMT at the limit, DAY, the account."""
    broker, events = connected
    tws.set_fill_policy(HOLD)
    snapshot = await broker.submit(order())
    assert snapshot.client_order_id == "tlh-2026-11-24-h-VTI-1"
    assert snapshot.status is OrderStatus.NEW
    await tws.wait_until(lambda: len(tws.orders) == 1)
    placed = tws.orders[0]
    assert (placed.order_ref, placed.order_type, placed.tif) == (
        "tlh-2026-11-24-h-VTI-1",
        "LMT",
        "DAY",
    )
    assert (placed.action, placed.qty, placed.lmt_price) == ("SELL", 10, Decimal("100.25"))
    assert placed.account == ACCOUNT
    await events.wait_until(lambda: any(u.status is OrderStatus.ACCEPTED for u in events.updates))


async def test_a_fill_is_emitted_once_with_its_commission_and_exchange_time(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """execDetails + commissionReport by execId: one Fill, fees = commission, time = the
    execution's; the order's "filled" comes after its fill."""
    broker, events = connected
    tws.set_time(T0)
    await broker.submit(order())
    await events.wait_until(lambda: final(events, "tlh-2026-11-24-h-VTI-1") is not None)
    [fill] = events.fills
    [execution] = tws.executions
    assert fill.execution_id == execution.exec_id
    assert fill.at == T0
    assert fill.fees == execution.commission == Decimal("1.0000")
    assert (fill.quantity, fill.price, fill.side) == (
        Decimal(10),
        Decimal("100.25"),
        OrderSide.SELL,
    )
    assert fill.cumulative_quantity == Decimal(10)
    assert fill.broker_order_id == str(execution.perm_id)
    done = final(events, "tlh-2026-11-24-h-VTI-1")
    assert done is not None
    assert done.status is OrderStatus.FILLED
    assert events.all.index(fill) < events.all.index(done)


async def test_partial_fills_then_the_rest(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """A partial fill is one Fill with its cumulative quantity; the rest is another."""
    broker, events = connected
    tws.set_fill_policy(FillPolicy(mode="partial", partial_qty=Decimal(3)))
    await broker.submit(order())
    await events.wait_until(lambda: len(events.fills) == 1)
    await events.wait_until(
        lambda: any(u.status is OrderStatus.PARTIALLY_FILLED for u in events.updates)
    )
    await tws.fill("tlh-2026-11-24-h-VTI-1")
    await events.wait_until(lambda: final(events, "tlh-2026-11-24-h-VTI-1") is not None)
    first, rest = events.fills
    assert (first.quantity, first.cumulative_quantity) == (Decimal(3), Decimal(3))
    assert (rest.quantity, rest.cumulative_quantity) == (Decimal(7), Decimal(10))
    assert first.execution_id != rest.execution_id


async def test_a_reject_201_ends_the_intent(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Error 201 (order rejected) is a REJECTED update carrying IB's reason."""
    broker, events = connected
    tws.set_fill_policy(FillPolicy(mode="reject"))
    await broker.submit(order())
    await events.wait_until(lambda: final(events, "tlh-2026-11-24-h-VTI-1") is not None)
    done = final(events, "tlh-2026-11-24-h-VTI-1")
    assert done is not None
    assert done.status is OrderStatus.REJECTED
    assert "201" in done.reason
    assert events.fills == []


async def test_a_cancellation_ends_the_intent(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """`cancel` asks IB; its Cancelled status is a CANCELED update."""
    broker, events = connected
    tws.set_fill_policy(HOLD)
    await broker.submit(order())
    await events.wait_until(lambda: any(u.status is OrderStatus.ACCEPTED for u in events.updates))
    await broker.cancel("tlh-2026-11-24-h-VTI-1")
    await events.wait_until(lambda: final(events, "tlh-2026-11-24-h-VTI-1") is not None)
    done = final(events, "tlh-2026-11-24-h-VTI-1")
    assert done is not None
    assert done.status is OrderStatus.CANCELED
    assert tws.orders[0].status == "Cancelled"


async def test_a_retried_submit_returns_the_working_order(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Submitting the same intent again places nothing: the working order is returned."""
    broker, _ = connected
    tws.set_fill_policy(HOLD)
    await broker.submit(order())
    await tws.wait_until(lambda: len(tws.orders) == 1)
    again = await broker.submit(order())
    assert again.status is OrderStatus.ACCEPTED
    assert again.broker_order_id == str(tws.orders[0].perm_id)
    assert len(tws.requests_named("placeOrder")) == 1


async def test_after_a_restart_a_filled_intent_is_found_not_placed_again(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """A restart (new connection, nothing in memory): the completed order and its executions
    are found by orderRef; no second placeOrder reaches TWS."""
    first = brokers()
    await first.connect(Events())
    await first.submit(order())
    await tws.wait_until(lambda: len(tws.executions) == 1)
    await first.close()
    second = brokers()
    await second.connect(Events())
    snapshot = await second.submit(order())
    assert snapshot.status is OrderStatus.FILLED
    assert snapshot.filled_quantity == Decimal(10)
    assert snapshot.average_price == Decimal("100.25")
    assert len(tws.requests_named("placeOrder")) == 1
    assert tws.requests_named("reqCompletedOrders")


async def test_a_working_order_of_another_client_id_is_found(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """An order placed under another client id (``[ib] client_id`` changed) is still found
    among all open orders."""
    first = brokers(settings={"client_id": 5})
    await first.connect(Events())
    tws.set_fill_policy(HOLD)
    await first.submit(order())
    await tws.wait_until(lambda: len(tws.orders) == 1)
    await first.close()
    second = brokers()
    await second.connect(Events())
    found = await second.get_order("tlh-2026-11-24-h-VTI-1")
    assert found is not None
    assert found.status is OrderStatus.ACCEPTED
    await second.submit(order())
    assert len(tws.requests_named("placeOrder")) == 1


async def test_get_order_of_an_unknown_intent_is_none(connected: tuple[IBBroker, Events]) -> None:
    """An intent IB has no order for: None (the order manager then sends it)."""
    broker, _ = connected
    assert await broker.get_order("tlh-never-sent") is None


async def test_fills_since_reads_todays_executions_with_commissions(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """fills_since: today's executions after `since`, oldest first, each with its commission
    and exchange time; yesterday's are not returned, even when TWS's Trade Log shows more
    days to reqExecutions (TWS API, "Executions and Commissions"): they come from Flex."""
    broker, _ = connected
    tws.set_time(T0)
    tws.trade_log_days = 2
    tws.add_execution("VTI", "BUY", 5, 98, moment=T0 - timedelta(days=1), order_ref="old")
    tws.add_execution(
        "VTI", "BUY", 4, 99, moment=T0 - timedelta(hours=1), order_ref="a", commission="1.10"
    )
    tws.add_execution("SCHB", "SELL", 3, 25, moment=T0 - timedelta(minutes=5), order_ref="b")
    fills = await broker.fills_since(None)
    assert [(f.client_order_id, f.at) for f in fills] == [
        ("a", T0 - timedelta(hours=1)),
        ("b", T0 - timedelta(minutes=5)),
    ]
    assert fills[0].fees == Decimal("1.10")
    assert fills[1].side is OrderSide.SELL
    later = await broker.fills_since(T0 - timedelta(minutes=30))
    assert [f.client_order_id for f in later] == ["b"]


async def test_fills_since_and_the_stream_agree_on_an_execution(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """The stream's Fill and reconciliation's are the same execution: id, fees, time."""
    broker, events = connected
    tws.set_time(T0)
    await broker.submit(order())
    await events.wait_until(lambda: len(events.fills) == 1)
    [read] = await broker.fills_since(None)
    assert isinstance(read, Fill)
    assert read == events.fills[0]


async def test_positions_of_the_account_by_tlh_symbol(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """positions: the account's stock positions, exact decimals, BRK B named BRK.B."""
    broker, _ = connected
    tws.set_position("VTI", 12, "210.5")
    tws.set_position("BRK B", 3, "400")
    tws.set_position("SCHB", 0, "25")
    assert await broker.positions() == {
        (ACCOUNT, "VTI"): Decimal(12),
        (ACCOUNT, "BRK.B"): Decimal(3),
    }


async def test_open_orders_lists_the_working_ones(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """open_orders: every working order of the account, filled ones left out."""
    broker, events = connected
    await broker.submit(order("tlh-filled"))
    await events.wait_until(lambda: final(events, "tlh-filled") is not None)
    tws.set_fill_policy(HOLD)
    await broker.submit(order("tlh-working", side=OrderSide.BUY, symbol="SCHB", price="25.01"))
    await tws.wait_until(lambda: len(tws.orders) == 2)
    working = await broker.open_orders()
    assert [(o.client_order_id, o.symbol, o.side) for o in working] == [
        ("tlh-working", "SCHB", OrderSide.BUY)
    ]


async def test_a_read_only_api_refuses_the_order_and_ends_the_intent(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """TWS's "Read-Only API" setting answers placeOrder with error 321, which ib_async keeps
    as a warning (ValidationError): the order never existed, so the intent is rejected."""
    broker, events = connected
    tws.set_read_only_api(True)
    await broker.submit(order())
    await events.wait_until(lambda: final(events, "tlh-2026-11-24-h-VTI-1") is not None)
    done = final(events, "tlh-2026-11-24-h-VTI-1")
    assert done is not None
    assert done.status is OrderStatus.REJECTED
    assert "321" in done.reason
    assert "Read-Only" in done.reason


async def test_the_look_up_before_placing_reads_the_connects_sync(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Synchronised at connect (open orders of all clients, completed orders, executions),
    the look-up before placing sends no request: nothing between a quote and its order
    (the contract was qualified when the symbol was subscribed)."""
    broker, _ = connected
    assert broker.connection.orders_synced
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    asked = len(tws.requests)
    await broker.submit(order())
    await tws.wait_for_request("placeOrder")
    assert [r.name for r in tws.requests[asked:]] == ["placeOrder"]


async def test_without_a_complete_sync_the_look_up_asks_tws(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """When the connect's synchronisation did not complete, the look-up asks TWS (open and
    completed orders, executions) and still finds the order: no second placeOrder."""
    broker, _ = connected
    await broker.submit(order())
    await tws.wait_until(lambda: len(tws.executions) == 1)
    broker.connection.orders_synced = False
    broker.ib.wrapper.trades.clear()  # as if the sync had brought nothing in
    broker.ib.wrapper.fills.clear()
    again = await broker.submit(order())
    assert again.status is OrderStatus.FILLED
    assert len(tws.requests_named("placeOrder")) == 1
    assert tws.requests_named("reqCompletedOrders")


async def test_positions_of_another_managed_account_are_left_out() -> None:
    """A login managing two accounts: only `[ib] account`'s positions are reported."""
    async with FakeTWS(symbols=("VTI",), accounts=(ACCOUNT, "DU7654321")) as tws:
        broker = make_broker(tws)
        try:
            await broker.connect(Events())
            tws.set_position("VTI", 12, "210.5")
            tws.set_position("VTI", 5, "200", account="DU7654321")
            assert await broker.positions() == {(ACCOUNT, "VTI"): Decimal(12)}
        finally:
            await broker.close()


async def test_an_intent_known_only_by_its_executions_is_found(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """An execution tagged with the intent but no order record (e.g. placed from another
    login's session): found, partially filled by what executed, so it is never sent again
    and the order manager recovers its fills."""
    broker, _ = connected
    tws.set_time(T0)
    tws.add_execution(
        "VTI", "SELL", 4, "100.5", moment=T0 - timedelta(minutes=1), order_ref="tlh-orphan"
    )
    found = await broker.get_order("tlh-orphan")
    assert found is not None
    assert (found.status, found.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal(4))
    assert found.average_price == Decimal("100.5")
