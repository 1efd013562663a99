"""The real alpaca-py SDK against the protocol-level fake: one behaviour per test."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgpack
import pytest
import websockets
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import (
    Asset,
    Calendar,
    Clock,
    Order,
    Position,
    TradeAccount,
    TradeActivity,
    TradeUpdate,
)
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

from .scenarios import (
    Collector,
    crypto_stream,
    running,
    sdk,
    sdk_list,
    stock_stream,
    trading_client,
    trading_stream,
)
from .server import FakeAlpaca
from .state import FillPolicy

pytestmark = pytest.mark.timeout(10)

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York time


def market(symbol: str, qty: float, side: OrderSide, cid: str) -> MarketOrderRequest:
    """Build a DAY market order request the way the SDK's users do."""
    return MarketOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, client_order_id=cid
    )


async def submit(tc: TradingClient, request: Any) -> Order:
    """Submit an order from a worker thread (the fake runs in this loop)."""
    return await sdk(Order, tc.submit_order, request)


# ------------------------------------------------------------------------- REST


async def test_account_clock_calendar_and_asset_parse(fake: FakeAlpaca) -> None:
    fake.set_time(T0)
    fake.add_asset("BRK.A", fractionable=False)
    tc = trading_client(fake)

    account = await sdk(TradeAccount, tc.get_account)
    clock = await sdk(Clock, tc.get_clock)
    days = await sdk_list(
        Calendar,
        tc.get_calendar,
        GetCalendarRequest(start=date(2026, 11, 23), end=date(2026, 11, 29)),
    )
    asset = await sdk(Asset, tc.get_asset, "BRK.A")

    assert account.cash == "100000"
    assert account.status == "ACTIVE"
    assert clock.is_open
    assert clock.timestamp == T0
    assert clock.next_close == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert [d.date.weekday() for d in days] == [0, 1, 2, 3, 4]
    assert days[0].open == datetime(2026, 11, 23, 9, 30)
    assert asset.fractionable is False
    assert asset.tradable is True


async def test_bad_or_missing_keys_raise_api_error_with_code(fake: FakeAlpaca) -> None:
    wrong = TradingClient("nope", "nope", url_override=fake.rest_url)

    with pytest.raises(APIError) as caught:
        await asyncio.to_thread(wrong.get_account)

    assert caught.value.status_code == 403
    assert caught.value.code == 40310000


async def test_market_order_by_client_id_fills_at_ask_and_is_found_by_client_id(
    fake: FakeAlpaca,
) -> None:
    fake.set_quote("VTI", "250.10", "250.20")
    tc = trading_client(fake)

    placed = await submit(tc, market("VTI", 10.5, OrderSide.BUY, "tlh-1"))
    found = await sdk(Order, tc.get_order_by_client_id, "tlh-1")

    assert placed.status == "accepted"
    assert found.id == placed.id
    assert found.status == "filled"
    assert found.filled_qty == "10.5"
    assert found.filled_avg_price == "250.2"
    assert fake.orders[0].body["qty"] == 10.5  # the SDK sends a float
    assert fake.order("tlh-1").event_names == ["new", "fill"]
    assert fake.cash == Decimal(100_000) - Decimal("10.5") * Decimal("250.20")


async def test_raw_post_with_decimal_strings_keeps_exact_quantities(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    tc = trading_client(fake, raw_data=True)
    body = {
        "symbol": "VTI",
        "qty": "0.123456789",
        "side": "buy",
        "type": "limit",
        "limit_price": "250.01",
        "time_in_force": "day",
        "client_order_id": "tlh-raw",
    }

    order = await sdk(dict, tc.post, "/orders", body)

    assert order["qty"] == "0.123456789"
    assert order["limit_price"] == "250.01"
    assert fake.orders[0].body["qty"] == "0.123456789"
    assert fake.orders[0].qty == Decimal("0.123456789")


async def test_duplicate_client_order_id_is_rejected_with_422(fake: FakeAlpaca) -> None:
    fake.set_price("VTI", 250)
    tc = trading_client(fake)
    await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-dup"))

    with pytest.raises(APIError) as caught:
        await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-dup"))

    assert caught.value.status_code == 422
    assert caught.value.message == "client_order_id must be unique"
    assert len(fake.orders) == 1
    assert fake.submissions == 2


async def test_get_orders_defaults_to_50_open_orders_and_pages_with_status_all(
    fake: FakeAlpaca,
) -> None:
    fake.set_time(T0)
    fake.set_price("VTI", 250)
    fake.set_fill_policy(FillPolicy.MANUAL)
    fake.set_fill_policy(FillPolicy.IMMEDIATE, "ITOT")
    fake.set_price("ITOT", 120)
    tc = trading_client(fake)
    for i in range(55):
        await submit(tc, market("VTI", 1, OrderSide.BUY, f"open-{i}"))
    for i in range(5):
        await submit(tc, market("ITOT", 1, OrderSide.BUY, f"done-{i}"))

    default = await sdk_list(Order, tc.get_orders)
    pages: list[Order] = []
    after = T0 - timedelta(days=1)
    while True:
        page = await sdk_list(
            Order,
            tc.get_orders,
            GetOrdersRequest(
                status=QueryOrderStatus.ALL, after=after, direction=Sort.ASC, limit=25
            ),
        )
        pages += page
        if len(page) < 25:
            break
        after = page[-1].submitted_at

    assert len(default) == 50
    assert {o.status for o in default} == {"new"}
    assert default[0].client_order_id == "open-54"  # newest first
    assert [o.client_order_id for o in pages] == [o.client_order_id for o in fake.orders]


async def test_positions_parse_with_string_fields(fake: FakeAlpaca) -> None:
    fake.set_position("VTI", "12.5", "260.40", lastday_price="251")
    fake.set_quote("VTI", "249.90", "250.10")
    tc = trading_client(fake)

    positions = await sdk_list(Position, tc.get_all_positions)
    one = await sdk(Position, tc.get_open_position, "VTI")
    with pytest.raises(APIError) as missing:
        await asyncio.to_thread(tc.get_open_position, "ITOT")

    assert positions == [one]
    assert isinstance(one, Position)
    assert one.qty == "12.5"
    assert one.avg_entry_price == "260.4"
    assert one.cost_basis == "3255"
    assert one.current_price == "250"
    assert one.unrealized_pl == "-130"
    assert one.qty_available == "12.5"
    assert missing.value.status_code == 404


async def test_fill_activities_page_by_last_id(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    tc = trading_client(fake)
    for i in range(3):
        await submit(
            tc,
            LimitOrderRequest(
                symbol="VTI",
                qty=4,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                limit_price=250,
                client_order_id=f"lim-{i}",
            ),
        )
        await fake.fill(f"lim-{i}", 1, "249.5")
        await fake.fill(f"lim-{i}", 3, "249.75")
    fake.add_activity("DIV", symbol="VTI", net_amount="1.23")

    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"direction": "asc", "after": "2024-01-01", "page_size": 4}
    while True:
        page = await asyncio.to_thread(tc.get, "/account/activities/FILL", params)
        items += page
        if len(page) < params["page_size"]:
            break
        params["page_token"] = page[-1]["id"]

    parsed = [TradeActivity(**item) for item in items]
    assert [(a.type, a.qty, a.leaves_qty) for a in parsed] == [
        ("partial_fill", 1, 3),
        ("fill", 3, 0),
    ] * 3
    assert len({item["id"] for item in items}) == 6
    assert items[1]["price"] == "249.75"
    assert items[1]["order_status"] == "filled"
    assert fake.positions["VTI"].qty == 12


async def test_cancel_open_order_then_cancel_again_is_422(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    fake.set_price("VTI", 250)
    tc = trading_client(fake)
    order = await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-c"))

    await asyncio.to_thread(tc.cancel_order_by_id, order.id)
    with pytest.raises(APIError) as again:
        await asyncio.to_thread(tc.cancel_order_by_id, order.id)

    assert fake.order("tlh-c").status == "canceled"
    assert again.value.status_code == 422


async def test_sell_beyond_position_is_403_insufficient_qty(fake: FakeAlpaca) -> None:
    fake.set_position("VTI", 5, 260)
    tc = trading_client(fake)

    with pytest.raises(APIError) as caught:
        await submit(tc, market("VTI", 6, OrderSide.SELL, "tlh-s"))

    assert caught.value.status_code == 403
    assert caught.value.message.startswith("insufficient qty available for order")
    assert fake.orders == []
    assert json.loads(fake.requests[-1].body)["qty"] == 6.0


async def test_cancel_policy_and_end_of_day_expiry_close_orders(fake: FakeAlpaca) -> None:
    fake.set_price("VTI", 250)
    fake.set_fill_policy(FillPolicy.CANCEL, "VTI")
    fake.set_fill_policy(FillPolicy.MANUAL, "ITOT")
    fake.set_price("ITOT", 120)
    tc = trading_client(fake)
    await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-x"))
    await submit(tc, market("ITOT", 1, OrderSide.BUY, "tlh-e"))

    await fake.expire_day_orders()
    still_open = await sdk_list(Order, tc.get_orders)

    assert fake.order("tlh-x").event_names == ["new", "canceled"]
    assert fake.order("tlh-e").event_names == ["new", "expired"]
    assert fake.order("tlh-e").expired_at is not None
    assert still_open == []


async def test_reject_policy_rejects_after_accepting(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.REJECT, "VTI", reason="halted")
    fake.set_price("VTI", 250)
    tc = trading_client(fake)

    placed = await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-r"))
    later = await sdk(Order, tc.get_order_by_id, placed.id)

    assert placed.status == "accepted"
    assert later.status == "rejected"
    assert later.failed_at is not None
    assert fake.order("tlh-r").reject_reason == "halted"
    assert fake.order("tlh-r").event_names == ["rejected"]


async def test_504_after_store_is_retried_and_order_is_found_by_client_id(
    fake: FakeAlpaca,
) -> None:
    fake.set_price("VTI", 250)
    fake.fail_next_submit(504, after_store=True)
    tc = trading_client(fake)

    # The SDK sleeps 3 s, re-POSTs the same client_order_id and gets the duplicate error.
    with pytest.raises(APIError) as caught:
        await submit(tc, market("VTI", 2, OrderSide.BUY, "tlh-504"))
    found = await sdk(Order, tc.get_order_by_client_id, "tlh-504")

    assert caught.value.status_code == 422
    assert fake.submissions == 2
    assert len(fake.orders) == 1
    assert str(found.id) == fake.orders[0].id
    assert found.status == "filled"


async def test_weekend_and_holiday_close_the_market(fake: FakeAlpaca) -> None:
    fake.set_time(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # Thanksgiving, a Thursday
    fake.add_holiday(date(2026, 11, 26))
    fake.add_early_close(date(2026, 11, 27), time(13, 0))
    tc = trading_client(fake)

    clock = await sdk(Clock, tc.get_clock)
    days = await sdk_list(
        Calendar,
        tc.get_calendar,
        GetCalendarRequest(start=date(2026, 11, 26), end=date(2026, 11, 30)),
    )

    assert not clock.is_open
    assert clock.next_open == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert clock.next_close == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert [(d.date.day, d.close.hour) for d in days] == [(27, 13), (30, 16)]


async def test_orders_limit_above_500_is_422(fake: FakeAlpaca) -> None:
    tc = trading_client(fake)

    with pytest.raises(APIError) as caught:
        await asyncio.to_thread(tc.get_orders, GetOrdersRequest(limit=501))

    assert caught.value.status_code == 422


async def test_notional_market_order_fills_a_fractional_qty(fake: FakeAlpaca) -> None:
    fake.set_quote("VTI", "250.11", "250.13")
    tc = trading_client(fake)

    placed = await submit(
        tc,
        MarketOrderRequest(
            symbol="VTI",
            notional=1000,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id="tlh-n",
        ),
    )
    filled = await sdk(Order, tc.get_order_by_id, placed.id)

    assert (placed.notional, placed.qty) == ("1000", None)
    assert filled.status == "filled"
    assert filled.filled_qty == "3.997921081"
    assert fake.positions["VTI"].qty == Decimal("3.997921081")


async def test_fractional_order_on_non_fractionable_asset_is_422(fake: FakeAlpaca) -> None:
    fake.add_asset("BRK.A", fractionable=False)
    fake.set_price("BRK.A", 700_000)
    fake.set_cash(10_000_000)
    tc = trading_client(fake)

    with pytest.raises(APIError) as caught:
        await submit(tc, market("BRK.A", 0.5, OrderSide.BUY, "tlh-f"))

    assert caught.value.status_code == 422


async def test_quote_policy_fills_up_to_the_quote_size_as_quotes_arrive(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.QUOTE)
    fake.set_position("VTI", 10, 260)
    tc = trading_client(fake)
    await submit(
        tc,
        LimitOrderRequest(
            symbol="VTI",
            qty=10,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            limit_price=250,
            client_order_id="tlh-q",
        ),
    )

    await fake.publish_quote("VTI", "249.99", "250.01", bid_size=100)  # not marketable
    await fake.publish_quote("VTI", "250.05", "250.10", bid_size=4)
    await fake.publish_quote("VTI", "250.02", "250.10", bid_size=100)

    order = fake.order("tlh-q")
    assert order.event_names == ["new", "partial_fill", "fill"]
    assert [e["price"] for e in order.events[1:]] == ["250.05", "250.02"]
    assert [e["position_qty"] for e in order.events[1:]] == ["6", "0"]
    assert "VTI" not in fake.positions
    assert fake.cash == Decimal(100_000) + 4 * Decimal("250.05") + 6 * Decimal("250.02")


async def test_replace_order_links_old_and_new_orders(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    tc = trading_client(fake)
    first = await submit(
        tc,
        LimitOrderRequest(
            symbol="VTI",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=100,
            client_order_id="tlh-o",
        ),
    )

    second = await sdk(
        Order,
        tc.replace_order_by_id,
        first.id,
        ReplaceOrderRequest(limit_price=101, client_order_id="tlh-o2"),
    )
    old = await sdk(Order, tc.get_order_by_id, first.id)

    assert old.status == "replaced"
    assert old.replaced_by == second.id
    assert second.replaces == first.id
    assert second.limit_price == "101"
    assert fake.order("tlh-o").event_names == ["new", "replaced"]
    assert fake.order("tlh-o2").event_names == ["new"]


async def test_close_position_sells_the_whole_position(fake: FakeAlpaca) -> None:
    fake.set_position("VTI", "3.5", 260)
    fake.set_quote("VTI", 249, 250)
    tc = trading_client(fake)

    order = await sdk(Order, tc.close_position, "VTI")

    assert (order.side, order.qty, order.type) == ("sell", "3.5", "market")
    assert "VTI" not in fake.positions
    assert fake.cash == Decimal(100_000) + Decimal("3.5") * 249


# --------------------------------------------------------------- trading stream


async def test_partial_then_full_fill_reach_trading_stream_with_position_qty(
    fake: FakeAlpaca,
) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    fake.set_position("VTI", 2, 240)
    tc = trading_client(fake)
    ts = trading_stream(fake)
    updates = Collector()
    ts.subscribe_trade_updates(updates.handle)

    async with running(ts):
        await fake.wait_for_trade_listener()
        order = await submit(
            tc,
            LimitOrderRequest(
                symbol="VTI",
                qty=10,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                limit_price=101,
                client_order_id="tlh-pf",
            ),
        )
        await fake.fill(str(order.id), 4, "100")
        await fake.fill(str(order.id), 6, "100.5")
        got: list[TradeUpdate] = await updates.wait_for(3)

    assert [u.event for u in got] == ["new", "partial_fill", "fill"]
    assert [u.position_qty for u in got[1:]] == [6, 12]
    assert [(u.qty, u.price) for u in got[1:]] == [(4, 100), (6, 100.5)]
    assert got[2].order.status == "filled"
    assert got[2].order.filled_avg_price == "100.3"
    assert all(u.execution_id is not None for u in got)
    assert fake.positions["VTI"].avg_entry_price == (2 * 240 + 400 + 603) / Decimal(12)


async def test_trading_stream_reconnects_after_drop_and_misses_events(fake: FakeAlpaca) -> None:
    fake.set_fill_policy(FillPolicy.MANUAL)
    fake.set_price("VTI", 250)
    tc = trading_client(fake)
    ts = trading_stream(fake, raw_data=True)
    updates = Collector()
    ts.subscribe_trade_updates(updates.handle)

    async with running(ts):
        await fake.wait_for_trade_listener()
        order = await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-d"))
        await updates.wait_for(1)
        await fake.drop_trading_stream()
        await fake.fill(str(order.id))  # nobody is listening: lost, as at Alpaca
        await fake.wait_for_trade_listener()
        await fake.cancel(
            (await submit(tc, market("VTI", 1, OrderSide.BUY, "tlh-d2"))).client_order_id
        )
        got = await updates.wait_for(3)

    assert fake.connections["/stream"] == 2
    assert [(m["data"]["event"], m["data"]["order"]["client_order_id"]) for m in got] == [
        ("new", "tlh-d"),
        ("new", "tlh-d2"),
        ("canceled", "tlh-d2"),
    ]


# ------------------------------------------------------------------ market data


async def test_quote_reaches_stock_stream_with_exact_values_and_timestamp(
    fake: FakeAlpaca,
) -> None:
    ds = stock_stream(fake)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")
    t = datetime(2026, 11, 24, 15, 30, 0, 123456, tzinfo=UTC)

    async with running(ds):
        await fake.wait_for_data_subscription("VTI", "quotes")
        delivered = await fake.publish_quote("VTI", "250.11", "250.13", bid_size=3, ask_size=5, t=t)
        (quote,) = await quotes.wait_for(1)

    assert delivered == 1
    assert Decimal(str(quote.bid_price)) == Decimal("250.11")
    assert Decimal(str(quote.ask_price)) == Decimal("250.13")
    assert (quote.bid_size, quote.ask_size) == (3, 5)
    assert quote.timestamp == t
    assert quote.conditions == ["R"]
    assert fake.subscriptions is not None
    assert fake.subscriptions["quotes"] == ["VTI"]


async def test_raw_stream_gets_msgpack_timestamp_for_trades_and_bars(fake: FakeAlpaca) -> None:
    ds = stock_stream(fake, raw_data=True)
    seen = Collector()
    ds.subscribe_trades(seen.handle, "VTI")
    ds.subscribe_bars(seen.handle, "*")

    async with running(ds):
        await fake.wait_for_data_subscription("VTI", "trades")
        await fake.publish_trade("VTI", "250.12", 7, t=T0)
        await fake.publish_bar("ITOT", 120, 121, 119.5, "120.5", 1000, t=T0)
        trade, bar = await seen.wait_for(2)

    assert trade["T"] == "t"
    assert isinstance(trade["t"], msgpack.Timestamp)
    assert trade["t"].to_datetime() == T0
    assert (trade["p"], trade["s"]) == (250.12, 7)
    assert bar["T"] == "b"
    assert bar["S"] == "ITOT"
    assert bar["c"] == 120.5


async def test_crypto_stream_gets_crypto_shaped_quote(fake: FakeAlpaca) -> None:
    cs = crypto_stream(fake)
    quotes = Collector()
    cs.subscribe_quotes(quotes.handle, "BTC/USD")

    async with running(cs):
        await fake.wait_for_data_subscription("BTC/USD", path="/v1beta3/crypto/us")
        await fake.publish_quote("BTC/USD", "90000.5", "90001", bid_size="0.25", ask_size="1.5")
        (quote,) = await quotes.wait_for(1)

    assert quote.symbol == "BTC/USD"
    assert (quote.bid_price, quote.ask_size) == (90000.5, 1.5)
    assert quote.bid_exchange is None


async def test_dropped_data_socket_makes_the_sdk_reconnect_and_resubscribe(
    fake: FakeAlpaca,
) -> None:
    ds = stock_stream(fake)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI", "ITOT")

    async with running(ds):
        await fake.wait_for_data_subscription("VTI")
        assert await fake.drop_data_stream() == 1
        await fake.wait_for_connections("/v2/iex", 2)
        await fake.wait_for_data_subscription("ITOT")
        await fake.publish_quote("ITOT", 120, "120.02")
        (quote,) = await quotes.wait_for(1)

    assert fake.connections["/v2/iex"] == 2
    assert quote.symbol == "ITOT"
    assert [m["quotes"] for _, m in fake.subscribe_messages] == [["VTI", "ITOT"]] * 2


async def test_garbage_data_frame_is_survived_by_the_sdk(
    fake: FakeAlpaca, caplog: pytest.LogCaptureFixture
) -> None:
    ds = stock_stream(fake)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")

    with caplog.at_level(logging.ERROR, logger="alpaca"):
        async with running(ds):
            await fake.wait_for_data_subscription("VTI")
            await fake.send_raw_data_frame(b"\xc1\x00garbage")
            await fake.send_raw_data_frame(msgpack.packb([{"T": "q", "S": "VTI"}])[:-3])
            await fake.publish_quote("VTI", 1, 2)
            (quote,) = await quotes.wait_for(1)

    assert quote.ask_price == 2
    assert fake.connections["/v2/iex"] == 1
    assert "error during websocket communication" in caplog.text


async def test_auth_error_406_then_sdk_retries_and_succeeds(fake: FakeAlpaca) -> None:
    fake.auth_error_on_data(406, times=1)
    ds = stock_stream(fake)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")

    async with running(ds):
        await fake.wait_for_data_subscription("VTI")
        await fake.publish_quote("VTI", 1, 2)
        await quotes.wait_for(1)

    assert fake.connections["/v2/iex"] == 2
    assert [p["action"] for _, p in fake.data_messages] == ["auth", "auth", "subscribe"]


async def test_silent_data_socket_trips_the_sdk_data_timeout(fake: FakeAlpaca) -> None:
    fake.set_data_silent(True)
    ds = stock_stream(fake, data_timeout=1.0)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")

    async with running(ds):
        await fake.wait_for_data_subscription("VTI")
        assert await fake.publish_quote("VTI", 1, 2) == 0
        await fake.wait_for_connections("/v2/iex", 2, within=5)
        fake.set_data_silent(False)
        await fake.wait_for_data_subscription("VTI")
        await fake.publish_quote("VTI", 1, 2)
        await quotes.wait_for(1)

    assert fake.connections["/v2/iex"] == 2


async def test_data_protocol_handshake_and_bad_keys_get_402(fake: FakeAlpaca) -> None:
    headers = {"Content-Type": "application/msgpack"}
    async with websockets.connect(fake.data_ws_url("sip"), additional_headers=headers) as ws:
        connected = msgpack.unpackb(await ws.recv())
        await ws.send(msgpack.packb({"action": "auth", "key": "bad", "secret": "bad"}))
        error = msgpack.unpackb(await ws.recv())

    assert connected == [{"T": "success", "msg": "connected"}]
    assert error == [{"T": "error", "code": 402, "msg": "auth failed"}]


async def test_silent_data_handshake_hangs_the_sdk_without_reconnecting(
    fake: FakeAlpaca,
) -> None:
    # data_timeout only covers _consume: a socket that never says "connected" hangs the SDK.
    fake.set_data_silent(True, handshake=True)
    ds = stock_stream(fake, data_timeout=0.5)
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")

    async with running(ds):
        await fake.wait_for_connections("/v2/iex", 1)
        await asyncio.sleep(1.5)

    assert fake.connections["/v2/iex"] == 1
    assert fake.data_messages == []


async def test_trading_protocol_uses_binary_json_frames(fake: FakeAlpaca) -> None:
    auth = {"action": "authenticate", "data": {"key_id": fake.KEY, "secret_key": fake.SECRET}}
    listen = {"action": "listen", "data": {"streams": ["trade_updates", "nope"]}}
    async with websockets.connect(fake.trading_ws_url) as ws:
        await ws.send(json.dumps(auth))
        authorized = await ws.recv()
        await ws.send(json.dumps(listen))
        listening = await ws.recv()

    assert isinstance(authorized, bytes)
    assert json.loads(authorized) == {
        "stream": "authorization",
        "data": {"status": "authorized", "action": "authenticate"},
    }
    assert json.loads(listening) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}


async def test_second_trading_connection_gets_429_when_limited(fake: FakeAlpaca) -> None:
    fake.single_trading_connection = True

    async with websockets.connect(fake.trading_ws_url):
        with pytest.raises(websockets.InvalidStatus) as caught:
            await websockets.connect(fake.trading_ws_url)

    assert caught.value.response.status_code == 429


async def test_auth_error_409_makes_the_sdk_stop_for_good(fake: FakeAlpaca) -> None:
    fake.auth_error_on_data(409)
    ds = stock_stream(fake, feed="sip")
    quotes = Collector()
    ds.subscribe_quotes(quotes.handle, "VTI")

    async with running(ds) as task:
        await asyncio.wait_for(asyncio.shield(task), 3)

    assert task.done()
    assert fake.connections["/v2/sip"] == 1


async def test_silent_trading_socket_hangs_the_sdk_in_auth(fake: FakeAlpaca) -> None:
    # TradingStream._auth waits for the authorization reply without a timeout.
    fake.set_trading_silent(True)
    ts = trading_stream(fake)
    updates = Collector()
    ts.subscribe_trade_updates(updates.handle)

    async with running(ts):
        await fake.wait_until(lambda: len(fake.trading_messages) == 1, what="authenticate")
        await asyncio.sleep(1.5)

    assert fake.connections["/stream"] == 1
    assert [m["action"] for m in fake.trading_messages] == ["authenticate"]


async def test_corporate_actions_are_paged_and_filtered(fake: FakeAlpaca) -> None:
    """``GET /v1/corporate-actions`` pages by ``next_page_token`` (two per page here), and
    filters by symbols and ex/process date, as the SDK's `CorporateActionsClient` expects."""
    from alpaca.data.historical.corporate_actions import CorporateActionsClient
    from alpaca.data.requests import CorporateActionsRequest

    for symbol, day in (("AAA", 1), ("BBB", 2), ("CCC", 3), ("AAA", 20)):
        fake.add_split(symbol, 2, 1, date(2026, 12, day))
    fake.add_split("DDD", 1, 10, date(2026, 12, 4))
    client = CorporateActionsClient(
        fake.KEY, fake.SECRET, raw_data=True, url_override=fake.rest_url
    )
    request = CorporateActionsRequest(
        symbols=["AAA", "BBB", "CCC", "DDD"], start=date(2026, 12, 1), end=date(2026, 12, 10)
    )

    raw: Any = await asyncio.to_thread(client.get_corporate_actions, request)

    assert [(a["symbol"], a["ex_date"]) for a in raw["forward_splits"]] == [
        ("AAA", "2026-12-01"),
        ("BBB", "2026-12-02"),
        ("CCC", "2026-12-03"),
    ]
    assert [(a["new_rate"], a["old_rate"]) for a in raw["reverse_splits"]] == [(1.0, 10.0)]
    pages = [r for r in fake.requests if r.path == "/v1/corporate-actions"]
    assert [r.query.get("page_token") for r in pages] == [None, "2"]
