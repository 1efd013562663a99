"""Raw Alpaca messages to events (pure functions), on payloads the fake's account model makes."""

from __future__ import annotations

import json
from decimal import Decimal

import msgpack
import pytest
from fake_alpaca.state import AccountState, FillPolicy

from adapters.alpaca.parsing import (
    MalformedMessage,
    order_body,
    parse_fill_activity,
    parse_quote,
    parse_trade_update,
)
from adapters.base import OrderRequest
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate


def _filled_order(qty: str, price: str) -> tuple[AccountState, dict[str, object]]:
    """Return an account with one buy order partly filled, and the fill's stream payload."""
    state = AccountState()
    state.default_policy = FillPolicy.MANUAL
    body = {
        "symbol": "VTI",
        "qty": "10",
        "side": "buy",
        "type": "limit",
        "limit_price": "101",
        "time_in_force": "day",
        "client_order_id": "tlh-p",
    }
    exact = json.loads(json.dumps(body), parse_float=Decimal)
    order = state.parse_order(body, json.dumps(body).encode(), exact)
    state.store(order)
    state.route(order)
    (event,) = state.fill(order, Decimal(qty), Decimal(price))
    return state, {"stream": "trade_updates", "data": json.loads(json.dumps(event))}


def test_stream_fill_and_fill_activity_of_one_execution_have_one_key() -> None:
    """Issue §2/§3: an execution seen on the stream and again as a FILL activity is
    journaled once: both sources give it the same execution key, quantity, price and time."""
    state, message = _filled_order("4", "100.25")

    streamed = parse_trade_update(message, "alpaca").events[0]
    imported = parse_fill_activity(state.activities[-1], "alpaca", {}).fill

    assert isinstance(streamed, Fill)
    key = (imported.execution_id, imported.quantity, imported.price, imported.at)
    assert (streamed.execution_id, streamed.quantity, streamed.price, streamed.at) == key


def test_partial_fill_becomes_a_fill_then_a_partially_filled_update_in_decimal() -> None:
    """Issue §1: raw messages parsed to Decimal; a Fill comes before its OrderUpdate."""
    _, message = _filled_order("0.123456789", "100.07")

    fill, update = parse_trade_update(message, "alpaca").events

    assert isinstance(fill, Fill)
    assert isinstance(update, OrderUpdate)
    assert (fill.quantity, fill.price, fill.side) == (
        Decimal("0.123456789"),
        Decimal("100.07"),
        OrderSide.BUY,
    )
    assert (update.status, update.filled_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("0.123456789"),
    )


BREAKAGES: dict[str, tuple[str, object]] = {
    "no-order": ("order", None),
    "no-event": ("event", None),
    "negative-qty": ("qty", "-1"),
    "nan-price": ("price", "NaN"),
    "no-timestamp": ("timestamp", 17),
}


@pytest.mark.parametrize(("field", "value"), BREAKAGES.values(), ids=BREAKAGES.keys())
def test_malformed_trade_updates_are_refused(field: str, value: object) -> None:
    """Issue §4: a malformed message is refused (then logged and counted), never traded on."""
    _, message = _filled_order("4", "100")
    data = message["data"]
    assert isinstance(data, dict)
    broken = {"stream": "trade_updates", "data": {**data, field: value}}

    with pytest.raises(MalformedMessage):
        parse_trade_update(broken, "alpaca")


@pytest.mark.parametrize(
    ("field", "value"), [("bp", float("nan")), ("ap", True), ("S", ""), ("t", "yesterday")]
)
def test_malformed_quotes_are_refused(field: str, value: object) -> None:
    """Issue §4: quotes with a NaN, a boolean, no symbol or a bad time are refused."""
    quote = {
        "T": "q",
        "S": "VTI",
        "bp": 1.0,
        "ap": 1.01,
        "bs": 1,
        "as": 1,
        "t": msgpack.Timestamp(1_700_000_000, 0),
        field: value,
    }

    with pytest.raises(MalformedMessage):
        parse_quote(quote)


def test_order_body_is_exact_strings_and_crypto_is_good_till_canceled() -> None:
    """Issue §1: exact decimal strings; fractional equities are DAY orders, crypto GTC."""
    stock = order_body(
        OrderRequest(
            "tlh-a", "alpaca", "VTI", OrderSide.SELL, Decimal("12.500000000"), Decimal("180.10")
        )
    )
    coin = order_body(OrderRequest("tlh-b", "alpaca", "BTC/USD", OrderSide.BUY, Decimal("0.01")))

    assert stock == {
        "symbol": "VTI",
        "qty": "12.5",
        "side": "sell",
        "type": "limit",
        "time_in_force": "day",
        "client_order_id": "tlh-a",
        "limit_price": "180.1",
    }
    assert (coin["type"], coin["time_in_force"], coin["qty"]) == ("market", "gtc", "0.01")
