"""Connecting to TWS / IB Gateway: probe, accounts, reconnection across drops and restarts.

Issue #9 §2: reconnection with backoff across the Gateway's nightly restart (connections
refused for a while) and error codes 1100/1101/1102; never trade while disconnected; after each
reconnect the daemon reconciles (`adapters.base.ResyncRequests`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from fake_tws import FakeTWS
from ibkit import ACCOUNT, Events, Resyncs, until

from adapters.base import BrokerError, OrderRequest
from adapters.ib.broker import IBBroker
from daemon.events import OrderSide

pytestmark = pytest.mark.timeout(30)


def sale(cid: str = "tlh-test-1", quantity: str = "10", price: str = "100.00") -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        account=ACCOUNT,
        symbol="VTI",
        side=OrderSide.SELL,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
    )


async def test_probe_connects_and_connect_keeps_that_connection(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """`probe` connects once (the daemon's wait for the broker); `connect` reuses it."""
    broker = brokers()
    await broker.probe()
    assert tws.connected_clients() == [17]
    await broker.connect(Events())
    assert tws.connected_clients() == [17]
    assert broker.connection.stats.connects == 1


async def test_probe_while_gateway_is_down_is_a_transient_error(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """Connection refused (Gateway not running yet): transient, so the daemon waits."""
    await tws.go_down()
    with pytest.raises(BrokerError) as caught:
        await brokers().probe()
    assert caught.value.transient


async def test_an_account_the_login_does_not_manage_is_refused_for_good(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """`[ib] account` must be one of the login's managed accounts: not a transient error."""
    broker = brokers(settings={"account": "U0000000"})
    with pytest.raises(BrokerError, match="not managed") as caught:
        await broker.probe()
    assert not caught.value.transient


async def test_a_dropped_connection_reconnects_resubscribes_and_asks_for_a_resync(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """After a drop: reconnect, request the market data again, ask the daemon to reconcile."""
    broker, _ = connected
    resyncs = Resyncs()
    broker.on_resync(resyncs)
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    requested = len(tws.requests_named("reqMktData"))
    await tws.drop_connections()
    await until(lambda: bool(resyncs.reasons))
    assert "reconnected" in resyncs.reasons[0]
    await tws.wait_for_subscription("VTI")
    assert len(tws.requests_named("reqMktData")) == requested + 1
    assert broker.connection.stats.drops == 1


async def test_the_nightly_restart_is_survived(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Gateway down (refusing connections) for a while, then up: the adapter is back."""
    broker, events = connected
    resyncs = Resyncs()
    broker.on_resync(resyncs)
    await broker.subscribe({"VTI"})
    await tws.go_down()
    await until(lambda: broker.connection.stats.failed_attempts >= 2)
    assert not broker.connection.up
    await tws.come_up()
    await until(lambda: bool(resyncs.reasons))
    await tws.wait_for_subscription("VTI")
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: bool(events.quotes))
    assert events.quotes[-1].bid == 100.0


async def test_no_order_leaves_while_disconnected(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Never trade while disconnected: `submit` raises a transient error, nothing is placed."""
    broker, _ = connected
    await tws.go_down()
    await until(lambda: not broker.connection.up)
    with pytest.raises(BrokerError) as caught:
        await broker.submit(sale())
    assert caught.value.transient
    await tws.come_up()
    await until(lambda: broker.connection.up)
    assert tws.orders == []


async def test_no_order_leaves_while_tws_has_lost_ib_1100(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """1100 (TWS lost its link to IB): no order; 1102 (restored): orders again, and a resync."""
    broker, _ = connected
    resyncs = Resyncs()
    broker.on_resync(resyncs)
    await tws.lose_connectivity()
    await until(lambda: not broker.connection.linked)
    with pytest.raises(BrokerError) as caught:
        await broker.submit(sale())
    assert caught.value.transient
    await tws.restore_connectivity()
    await until(lambda: bool(resyncs.reasons))
    assert "1102" in resyncs.reasons[0]
    snapshot = await broker.submit(sale())
    assert snapshot.client_order_id == "tlh-test-1"
    await tws.wait_until(lambda: len(tws.orders) == 1)


async def test_orders_are_refused_when_read_only(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """`[ib] readonly = true`: the adapter refuses orders for good (not transient)."""
    broker = brokers(settings={"readonly": True})
    await broker.connect(Events())
    with pytest.raises(BrokerError, match="read-only") as caught:
        await broker.submit(sale())
    assert not caught.value.transient
    assert tws.orders == []


async def test_informational_codes_change_nothing(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """2104/2106/2158 (farm connection OK) are notices: still connected, linked, no resync."""
    broker, _ = connected
    resyncs = Resyncs()
    broker.on_resync(resyncs)
    for code in (2104, 2106, 2158):
        await tws.send_error(code)
    await until(lambda: broker.connection.stats.errors[2158] >= 1)
    assert broker.connection.can_trade
    assert resyncs.reasons == []
