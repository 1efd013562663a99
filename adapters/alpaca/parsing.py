"""Turn Alpaca's raw messages into the daemon's events, with exact `Decimal` values.

Pure functions: no I/O, no SDK calls, no clock. Every parser raises `MalformedMessage` on
anything it cannot trust; callers count it, log it and drop the message, so nothing malformed
is ever traded on.

One execution reaches us twice, as a ``trade_updates`` fill event and as a FILL account
activity, under two unrelated ids (``execution_id`` and the activity ``id``). Both carry the
order id and the order's cumulative filled quantity after the execution, so the execution key
is ``"{order_id}:{cum_qty}"``: the same for both sources, which is what lets the journal hold
each execution exactly once whichever source delivers it first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgpack

from adapters.base import OrderRequest, OrderSnapshot
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate, Quote

ZERO = Decimal(0)

# What a trade_updates event name says about the order, when it says something definite.
EVENT_STATUS: dict[str, OrderStatus] = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "partial_fill": OrderStatus.PARTIALLY_FILLED,
    "fill": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "replaced": OrderStatus.CANCELED,  # the order is done; its replacement has another id
}

# Alpaca order statuses; the ones missing here are still working (see `order_status`).
ORDER_STATUS: dict[str, OrderStatus] = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "replaced": OrderStatus.CANCELED,
}
WORKING_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "held",
        "calculated",
        "stopped",
        "suspended",
        "done_for_day",
        "pending_cancel",
        "pending_replace",
    }
)
FILL_EVENTS = frozenset({"fill", "partial_fill"})


class MalformedMessage(ValueError):
    """A message from Alpaca that lacks a field or holds a value we cannot trust."""


# -- scalars -----------------------------------------------------------------------------------


def dec(value: object, name: str) -> Decimal:
    """Return `value` (a numeric string, int or float) as an exact, finite Decimal."""
    if isinstance(value, bool) or value is None:
        raise MalformedMessage(f"{name}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise MalformedMessage(f"{name}: not a number: {value!r:.40}") from None
    else:
        raise MalformedMessage(f"{name}: expected a number, got {type(value).__name__}")
    if not number.is_finite():
        raise MalformedMessage(f"{name}: not finite: {value!r:.40}")
    return number


def positive(value: object, name: str) -> Decimal:
    """Return `value` as a Decimal greater than zero."""
    number = dec(value, name)
    if number <= ZERO:
        raise MalformedMessage(f"{name}: must be positive, got {number}")
    return number


def text(value: object, name: str) -> str:
    """Return `value` as a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedMessage(f"{name}: expected a non-empty string, got {value!r:.40}")
    return value.strip()


def timestamp(value: object, name: str) -> datetime:
    """Return an aware UTC datetime from RFC 3339 text, a msgpack Timestamp or a datetime."""
    if isinstance(value, msgpack.Timestamp):
        stamped: datetime = value.to_datetime()
        return stamped
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise MalformedMessage(f"{name}: not a timestamp: {value!r:.40}") from None
    else:
        raise MalformedMessage(f"{name}: expected a timestamp, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wire(value: Decimal) -> str:
    """Return the exact decimal string Alpaca expects (plain notation, no trailing zeros)."""
    if value == ZERO:
        return "0"
    return format(value.normalize(), "f")


def side(value: object, name: str = "side") -> OrderSide:
    """Return the order side; short sales are not something the ledger can hold."""
    if value == "buy":
        return OrderSide.BUY
    if value == "sell":
        return OrderSide.SELL
    raise MalformedMessage(f"{name}: unsupported side {value!r:.20}")


def mapping(value: object, name: str) -> Mapping[str, Any]:
    """Return `value` if it is a JSON object."""
    if not isinstance(value, Mapping):
        raise MalformedMessage(f"{name}: expected an object, got {type(value).__name__}")
    return value


def execution_key(order_id: str, cum_qty: Decimal) -> str:
    """Return the source-independent id of the execution that brought an order to `cum_qty`."""
    return f"{order_id}:{wire(cum_qty)}"


def is_crypto(symbol: str) -> bool:
    """Return whether `symbol` is a crypto pair (``BTC/USD``), traded on the crypto stream."""
    return "/" in symbol


# -- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlpacaOrder:
    """The parts of an Alpaca order object the daemon uses."""

    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    raw_status: str
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    updated_at: datetime | None
    replaced_by: str | None = None

    def snapshot(self) -> OrderSnapshot:
        """Return the broker-neutral snapshot of this order."""
        return OrderSnapshot(
            client_order_id=self.client_order_id,
            broker_order_id=self.order_id,
            status=self.status,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            symbol=self.symbol,
            side=self.side,
        )


def order_status(raw: str, filled: Decimal) -> OrderStatus:
    """Map an Alpaca order status to ours; a working order with fills is partially filled."""
    if raw in ORDER_STATUS:
        return ORDER_STATUS[raw]
    if raw in WORKING_STATUSES:
        return OrderStatus.PARTIALLY_FILLED if filled > ZERO else OrderStatus.ACCEPTED
    return OrderStatus.UNKNOWN


def parse_order(raw: object) -> AlpacaOrder:
    """Parse an order object (REST response or the ``order`` of a trade update)."""
    obj = mapping(raw, "order")
    filled = dec(obj.get("filled_qty") or "0", "order.filled_qty")
    avg = obj.get("filled_avg_price")
    status = text(obj.get("status"), "order.status")
    updated = obj.get("updated_at")
    return AlpacaOrder(
        order_id=text(obj.get("id"), "order.id"),
        client_order_id=text(obj.get("client_order_id"), "order.client_order_id"),
        symbol=text(obj.get("symbol"), "order.symbol"),
        side=side(obj.get("side"), "order.side"),
        raw_status=status,
        status=order_status(status, filled),
        filled_quantity=filled,
        average_price=None if avg in (None, "") else dec(avg, "order.filled_avg_price"),
        updated_at=None if not updated else timestamp(updated, "order.updated_at"),
        replaced_by=obj.get("replaced_by") or None,
    )


def order_body(order: OrderRequest) -> dict[str, str]:
    """Return the JSON body of ``POST /v2/orders``, every number an exact decimal string.

    Equities go out as DAY orders (fractional shares allow nothing else); crypto as GTC.
    """
    body = {
        "symbol": order.symbol,
        "qty": wire(order.quantity),
        "side": order.side.value,
        "type": "market" if order.limit_price is None else "limit",
        "time_in_force": "gtc" if is_crypto(order.symbol) else "day",
        "client_order_id": order.client_order_id,
    }
    if order.limit_price is not None:
        body["limit_price"] = wire(order.limit_price)
    return body


# -- trade updates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """A parsed ``trade_updates`` event: the order as it now stands and the events to emit."""

    event: str
    order: AlpacaOrder
    events: tuple[Fill | OrderUpdate, ...]


def parse_trade_update(message: object, account: str) -> TradeUpdate:
    """Parse one ``trade_updates`` message into a Fill (for fills) then an OrderUpdate.

    `message` is the whole stream message (``{"stream": ..., "data": {...}}``) or its data.
    """
    outer = mapping(message, "message")
    data = mapping(outer["data"], "data") if "data" in outer else outer
    event = text(data.get("event"), "event")
    order = parse_order(data.get("order"))
    at = timestamp(data.get("timestamp") or order.updated_at, "timestamp")
    out: list[Fill | OrderUpdate] = []
    if event in FILL_EVENTS:
        if order.filled_quantity <= ZERO:
            raise MalformedMessage("order.filled_qty: a fill needs a positive cumulative qty")
        out.append(
            Fill(
                client_order_id=order.client_order_id,
                execution_id=execution_key(order.order_id, order.filled_quantity),
                account=account,
                symbol=order.symbol,
                side=order.side,
                quantity=positive(data.get("qty"), "qty"),
                price=positive(data.get("price"), "price"),
                at=at,
                broker_order_id=order.order_id,
                cumulative_quantity=order.filled_quantity,
            )
        )
    status = EVENT_STATUS.get(event, order.status)
    reason = ""
    if event == "replaced":
        reason = f"replaced by order {order.replaced_by or '?'}"
    elif event == "rejected":
        reason = str(data.get("reason") or "rejected by the broker")
    elif event not in EVENT_STATUS:
        reason = f"alpaca: {event}"
    out.append(
        OrderUpdate(
            client_order_id=order.client_order_id,
            status=status,
            at=at,
            filled_quantity=order.filled_quantity,
            average_price=order.average_price,
            broker_order_id=order.order_id,
            reason=reason,
        )
    )
    return TradeUpdate(event=event, order=order, events=tuple(out))


# -- market data -------------------------------------------------------------------------------


def _price(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"{name}: expected a number, got {value!r:.40}")
    number = float(value)
    if math.isnan(number):
        raise MalformedMessage(f"{name}: NaN")
    return number


_WIRE_NUMBERS = frozenset({float, int})  # exact types: a bool is not a price


def _stamp(t: msgpack.Timestamp) -> datetime:
    # Equal to t.to_datetime() (microseconds truncated), in a third of the time: the float
    # sum is within 0.25 µs of a whole microsecond, which fromtimestamp rounds back exactly.
    return datetime.fromtimestamp(t.seconds + (t.nanoseconds // 1000) / 1e6, UTC)


def parse_quote(message: object) -> Quote:
    """Parse a raw stock or crypto quote (``{"T": "q", "S", "bp", "ap", "bs", "as", "t"}``).

    Prices stay floats, as `Quote` holds them (the tick path compares floats); `bid_decimal`
    recovers the wire's exact digits. Crossed, zero or infinite quotes are the engine's call.
    The common, well-formed message takes a fast path; anything else is checked field by field.
    """
    if type(message) is dict and message.get("T") == "q":
        get: Callable[..., Any] = message.get  # values are checked by exact type just below
        symbol, bid, ask, t = get("S"), get("bp"), get("ap"), get("t")
        bs, asks = get("bs", 0), get("as", 0)
        numbers = _WIRE_NUMBERS
        if (
            type(symbol) is str
            and symbol
            and type(t) is msgpack.Timestamp
            and type(bid) in numbers
            and type(ask) in numbers
            and bid == bid
            and ask == ask
            and type(bs) in numbers
            and type(asks) in numbers
        ):
            return Quote(symbol, float(bid), float(ask), _stamp(t), float(bs), float(asks))
    return _parse_quote_checked(message)


def _parse_quote_checked(message: object) -> Quote:
    msg = mapping(message, "quote")
    if msg.get("T") != "q":
        raise MalformedMessage(f"T: expected 'q', got {msg.get('T')!r:.20}")
    return Quote(
        symbol=text(msg.get("S"), "S"),
        bid=_price(msg.get("bp"), "bp"),
        ask=_price(msg.get("ap"), "ap"),
        at=timestamp(msg.get("t"), "t"),
        bid_size=_price(msg.get("bs", 0), "bs"),
        ask_size=_price(msg.get("as", 0), "as"),
    )


# -- account state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillActivity:
    """One FILL account activity."""

    activity_id: str
    order_id: str
    fill: Fill


def parse_fill_activity(raw: object, account: str, client_ids: Mapping[str, str]) -> FillActivity:
    """Parse a FILL activity; `client_ids` maps known order ids to their client order ids.

    An order we never saw keeps ``order:{id}`` as its client id: it is not one of our intents
    (every intent's order is looked up, and so known, before fills are imported).
    """
    item = mapping(raw, "activity")
    if item.get("activity_type", "FILL") != "FILL":
        raise MalformedMessage(f"activity_type: expected FILL, got {item.get('activity_type')!r}")
    order_id = text(item.get("order_id"), "order_id")
    cum_qty = positive(item.get("cum_qty"), "cum_qty")
    fill = Fill(
        client_order_id=client_ids.get(order_id, f"order:{order_id}"),
        execution_id=execution_key(order_id, cum_qty),
        account=account,
        symbol=text(item.get("symbol"), "symbol"),
        side=side(item.get("side")),
        quantity=positive(item.get("qty"), "qty"),
        price=positive(item.get("price"), "price"),
        at=timestamp(item.get("transaction_time"), "transaction_time"),
        broker_order_id=order_id,
        cumulative_quantity=cum_qty,
    )
    return FillActivity(text(item.get("id"), "id"), order_id, fill)


def parse_position(raw: object) -> tuple[str, Decimal]:
    """Parse a position into (symbol, signed quantity)."""
    item = mapping(raw, "position")
    return text(item.get("symbol"), "symbol"), dec(item.get("qty"), "qty")


@dataclass(frozen=True, slots=True)
class MarketClock:
    """The broker's market clock."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


def parse_clock(raw: object) -> MarketClock:
    """Parse ``GET /v2/clock``."""
    item = mapping(raw, "clock")
    is_open = item.get("is_open")
    if not isinstance(is_open, bool):
        raise MalformedMessage(f"is_open: expected a boolean, got {is_open!r:.20}")
    return MarketClock(
        timestamp=timestamp(item.get("timestamp"), "timestamp"),
        is_open=is_open,
        next_open=timestamp(item.get("next_open"), "next_open"),
        next_close=timestamp(item.get("next_close"), "next_close"),
    )
