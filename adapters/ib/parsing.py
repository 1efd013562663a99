"""Turn ib_async's objects into the daemon's events and snapshots, with exact `Decimal` values.

Pure functions: no I/O, no calls into ib_async's client, no clock. A value that cannot be
trusted raises `MalformedMessage`; callers count it, log it and drop the object.

Identities (shared/reference/libraries.md §2, §12): the intent id travels as the order's
``orderRef`` and comes back on every open order, completed order and execution, so it is the
client order id. The broker order id is the ``permId``: TWS assigns it once and keeps it across
client ids and restarts, while completed orders come back with orderId 0. An execution is named
by its ``execId`` and carries the order's cumulative quantity (``cumQty``), which lets the
order manager journal each execution once whichever source delivers it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from ib_async import Contract, LimitOrder, MarketOrder, Order, Trade
from ib_async import Fill as IbFill

from adapters.base import OrderRequest, OrderSnapshot
from daemon.events import Fill, OrderSide, OrderStatus, exact

ZERO = Decimal(0)
UNSET = 1.7976931348623157e308  # ib_async's UNSET_DOUBLE: "no value" on the wire
REJECTED_CODES = frozenset({201, 203})
"""Error codes that reject an order (201: order rejected; 203: security not allowed)."""
VALIDATION_FAILED = 321
"""Error validating a request: on an order TWS never acknowledged (no permId) it was not
placed, e.g. "The API interface is currently in Read-Only mode"."""

# IB order statuses (ib_async.OrderStatus) that say nothing about fills; see `order_status`.
_WORKING = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "ApiUpdate", "ValidationError"})
_NEW = frozenset({"PendingSubmit", "ApiPending"})
_CANCELED = frozenset({"Cancelled", "ApiCancelled"})


class MalformedMessage(ValueError):
    """An object from ib_async holding a value we cannot trust."""


def dec(value: object, name: str) -> Decimal:
    """Return a wire number (float, int or Decimal) as an exact, finite Decimal."""
    if isinstance(value, bool) or value is None:
        raise MalformedMessage(f"{name}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value == UNSET:
            raise MalformedMessage(f"{name}: not a finite number: {value!r}")
        number = exact(value)
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        raise MalformedMessage(f"{name}: expected a number, got {type(value).__name__}")
    if not number.is_finite():
        raise MalformedMessage(f"{name}: not finite: {value!r}")
    return number


def positive(value: object, name: str) -> Decimal:
    """Return `value` as a Decimal greater than zero."""
    number = dec(value, name)
    if number <= ZERO:
        raise MalformedMessage(f"{name}: must be positive, got {number}")
    return number


# -- symbols -----------------------------------------------------------------------------------


def ib_symbol(symbol: str) -> str:
    """Return IB's name of a US share class symbol: ``BRK.B`` is ``BRK B`` at IB."""
    return symbol.replace(".", " ")


def tlh_symbol(symbol: str) -> str:
    """Return tlh's name of an IB symbol (the reverse of `ib_symbol`)."""
    return symbol.strip().replace(" ", ".")


def stock(symbol: str) -> Contract:
    """Return the unqualified US stock contract of `symbol`, routed SMART in USD."""
    return Contract(secType="STK", symbol=ib_symbol(symbol), exchange="SMART", currency="USD")


# -- orders ------------------------------------------------------------------------------------


def order_side(action: str) -> OrderSide:
    """Return the side of an order action (``BUY``/``SELL``) or execution side (``BOT``/``SLD``)."""
    if action in ("BUY", "BOT"):
        return OrderSide.BUY
    if action in ("SELL", "SLD"):
        return OrderSide.SELL
    raise MalformedMessage(f"side: unsupported {action!r:.20}")


def whole_shares(quantity: Decimal) -> int:
    """Return `quantity` as a whole number of shares; raise ValueError for a fraction.

    The TWS API places stock orders in whole shares (IB's fractional shares are a separate
    permission, and an order for a fraction is rejected without it), so tlh never sends one.
    """
    if quantity <= ZERO or quantity != quantity.to_integral_value():
        raise ValueError(f"IB orders are for whole shares, not {quantity}")
    return int(quantity)


def build_order(request: OrderRequest, account: str) -> Order:
    """Return the IB order for `request`: a DAY limit order (market without a limit price),
    regular hours only, tagged with the intent id as ``orderRef``."""
    action = "BUY" if request.side is OrderSide.BUY else "SELL"
    quantity = whole_shares(request.quantity)
    common = {
        "tif": "DAY",
        "orderRef": request.client_order_id,
        "account": account,
        "outsideRth": False,
    }
    if request.limit_price is None:
        return MarketOrder(action, quantity, **common)
    return LimitOrder(action, quantity, float(request.limit_price), **common)


def order_status(status: str, filled: Decimal, *, rejected: bool = False) -> OrderStatus:
    """Map an IB order status to ours; `rejected`: IB refused the order (`reject_reason`).

    ib_async shows a rejected order as Cancelled (its error handler cancels the trade), or as
    ValidationError after error 321, so the caller tells a reject apart by the error code in
    the trade's log. ``Inactive`` is an order IB will not work (rejected, or outside its
    hours), which ends the intent as a reject.
    """
    if status == "Filled":
        return OrderStatus.FILLED
    if rejected:
        return OrderStatus.REJECTED
    if status in _CANCELED:
        return OrderStatus.CANCELED
    if status == "Inactive":
        return OrderStatus.REJECTED
    if status in _NEW:
        return OrderStatus.NEW
    if status in _WORKING:
        return OrderStatus.PARTIALLY_FILLED if filled > ZERO else OrderStatus.ACCEPTED
    return OrderStatus.UNKNOWN


def reject_reason(trade: Trade) -> str:
    """Return the message of the error that refused `trade`'s order, or "" when none did:
    a reject (201, 203), or a failed validation (321) of an order TWS never acknowledged."""
    unacknowledged = not (trade.order.permId or trade.orderStatus.permId)
    for entry in reversed(trade.log):
        code = entry.errorCode
        if code in REJECTED_CODES or (code == VALIDATION_FAILED and unacknowledged):
            return f"IB error {code}: {entry.message}"[:300]
    return ""


def _number_or_zero(value: object) -> Decimal:
    try:
        return dec(value, "quantity")
    except MalformedMessage:
        return ZERO


@dataclass(frozen=True, slots=True)
class OrderView:
    """One order as IB reports it, with what its executions add."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    reason: str = ""

    def snapshot(self) -> OrderSnapshot:
        """Return the broker-neutral snapshot of this order."""
        return OrderSnapshot(
            client_order_id=self.client_order_id,
            broker_order_id=self.broker_order_id,
            status=self.status,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            symbol=self.symbol,
            side=self.side,
        )


def view_of(trade: Trade, fills: Sequence[Fill] = ()) -> OrderView:
    """Return `trade` as an `OrderView`; `fills`: its executions known from elsewhere.

    A completed order (``reqCompletedOrders``) carries its filled quantity on the order, not
    in its status, so the filled quantity is the largest of the status's, the order's and the
    sum of the executions.
    """
    order, state = trade.order, trade.orderStatus
    executed = sum((f.quantity for f in fills), ZERO)
    filled = max(_number_or_zero(state.filled), _number_or_zero(order.filledQuantity), executed)
    average: Decimal | None = None
    if filled > ZERO:
        try:
            average = positive(state.avgFillPrice, "avgFillPrice")
        except MalformedMessage:
            if executed > ZERO:
                average = sum((f.quantity * f.price for f in fills), ZERO) / executed
    reason = reject_reason(trade)
    return OrderView(
        client_order_id=order.orderRef or f"order:{order.permId}",
        broker_order_id=str(order.permId or state.permId or ""),
        symbol=tlh_symbol(trade.contract.symbol),
        side=order_side(order.action),
        status=order_status(state.status, filled, rejected=bool(reason)),
        filled_quantity=filled,
        average_price=average,
        reason=reason,
    )


def view_of_fills(fills: Sequence[Fill]) -> OrderView:
    """Return an order known only by its executions (its order record is gone): it has
    fills, and whether more may come is unknown, so it is partially filled."""
    first = fills[0]
    executed = sum((f.quantity for f in fills), ZERO)
    cumulative = max((f.cumulative_quantity or ZERO for f in fills), default=ZERO)
    return OrderView(
        client_order_id=first.client_order_id,
        broker_order_id=first.broker_order_id or "",
        symbol=first.symbol,
        side=first.side,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=max(executed, cumulative),
        average_price=sum((f.quantity * f.price for f in fills), ZERO) / executed,
    )


# -- executions --------------------------------------------------------------------------------


def execution_time(moment: datetime) -> datetime:
    """Return an execution's exchange time as aware UTC (a zone-less time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_fill(fill: IbFill, account: str, commission: Decimal | None) -> Fill:
    """Return the daemon's `Fill` of one IB execution.

    The time is the execution's (the exchange's), never `fill.time`, which for live fills is
    when the client received it. `commission`: from the execution's commission report, zero
    when none came (see `adapters.ib.fills`).
    """
    execution = fill.execution
    if not execution.execId:
        raise MalformedMessage("execId: missing")
    permId = execution.permId
    cumulative = _number_or_zero(execution.cumQty)
    return Fill(
        client_order_id=execution.orderRef or f"order:{permId}",
        execution_id=execution.execId,
        account=execution.acctNumber or account,
        symbol=tlh_symbol(fill.contract.symbol),
        side=order_side(execution.side),
        quantity=positive(execution.shares, "shares"),
        price=positive(execution.price, "price"),
        at=execution_time(execution.time),
        fees=ZERO if commission is None else commission,
        broker_order_id=str(permId) if permId else None,
        cumulative_quantity=cumulative if cumulative > ZERO else None,
    )


def commission_of(fill: IbFill) -> Decimal | None:
    """Return the commission of `fill`'s report, or None when its report has not come."""
    report = fill.commissionReport
    if not report.execId:
        return None
    return abs(dec(report.commission, "commission"))
