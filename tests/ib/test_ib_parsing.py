"""ib_async objects to the daemon's events: exact decimals, exchange time, orderRef as intent id.

shared/reference/libraries.md §2: `Fill.time` is the client's receive time for live fills, so
the execution's own time is the trade time; `orderRef` comes back on executions; a rejected
order (error 201) shows as Cancelled in ib_async.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ib_async import CommissionReport, Contract, Execution, Trade, TradeLogEntry
from ib_async import Fill as IbFill
from ib_async import Order as IbOrder
from ib_async import OrderStatus as IbStatus

from adapters.base import OrderRequest
from adapters.ib.parsing import (
    MalformedMessage,
    build_order,
    commission_of,
    ib_symbol,
    order_status,
    parse_fill,
    tlh_symbol,
    view_of,
)
from daemon.events import OrderSide, OrderStatus

EXCHANGE_TIME = datetime(2026, 12, 4, 15, 30, 1, tzinfo=UTC)


def ib_fill(**execution: object) -> IbFill:
    base: dict[str, object] = {
        "execId": "0001f4e8.6564a1b2.01.01",
        "time": EXCHANGE_TIME,
        "acctNumber": "DU1",
        "side": "SLD",
        "shares": 10.0,
        "price": 101.27,
        "permId": 987654,
        "cumQty": 10.0,
        "orderRef": "tlh-2026-12-04-h-VTI-1",
    }
    base.update(execution)
    contract = Contract(secType="STK", symbol="VTI", conId=12345)
    receive_time = EXCHANGE_TIME + timedelta(seconds=7)
    return IbFill(contract, Execution(**base), CommissionReport(), receive_time)  # type: ignore[arg-type]


def test_a_fill_is_timed_by_the_execution_not_its_receipt() -> None:
    """The journal's trade time is the exchange's (`execution.time`), never `Fill.time`."""
    fill = parse_fill(ib_fill(), "DU1", Decimal("1.05"))
    assert fill.at == EXCHANGE_TIME
    assert fill.client_order_id == "tlh-2026-12-04-h-VTI-1"
    assert fill.execution_id == "0001f4e8.6564a1b2.01.01"
    assert fill.broker_order_id == "987654"
    assert (fill.side, fill.quantity, fill.price) == (
        OrderSide.SELL,
        Decimal(10),
        Decimal("101.27"),
    )
    assert fill.fees == Decimal("1.05")
    assert fill.cumulative_quantity == Decimal(10)


def test_a_zoned_execution_time_is_converted_to_utc() -> None:
    """An execution time in TWS's zone is the same instant in UTC."""
    new_york = timezone(timedelta(hours=-5))
    fill = parse_fill(ib_fill(time=EXCHANGE_TIME.astimezone(new_york)), "DU1", None)
    assert fill.at == EXCHANGE_TIME
    assert fill.at.tzinfo == UTC
    assert fill.fees == Decimal(0)


def test_an_execution_without_order_ref_is_named_by_its_perm_id() -> None:
    """An order placed outside tlh (no orderRef) keeps ``order:{permId}`` as client id."""
    assert parse_fill(ib_fill(orderRef=""), "DU1", None).client_order_id == "order:987654"


@pytest.mark.parametrize("field", ["shares", "price"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_an_execution_without_a_positive_amount_is_malformed(field: str, value: float) -> None:
    """Nothing the ledger cannot trust is turned into a fill."""
    with pytest.raises(MalformedMessage):
        parse_fill(ib_fill(**{field: value}), "DU1", None)


def test_a_commission_is_known_only_once_its_report_came() -> None:
    """An empty report (no execId) is no commission yet; a report's amount is the fee."""
    fill = ib_fill()
    assert commission_of(fill) is None
    fill.commissionReport.execId = fill.execution.execId
    fill.commissionReport.commission = 1.0
    assert commission_of(fill) == Decimal("1.0")


def request(quantity: str = "10", limit: str | None = "101.25") -> OrderRequest:
    return OrderRequest(
        client_order_id="tlh-x",
        account="DU1",
        symbol="BRK.B",
        side=OrderSide.SELL,
        quantity=Decimal(quantity),
        limit_price=None if limit is None else Decimal(limit),
    )


def test_an_order_is_a_day_limit_order_tagged_with_the_intent_id() -> None:
    """Marketable limit orders carry the intent id as orderRef, DAY, regular hours only."""
    order = build_order(request(), "DU1")
    assert (order.orderType, order.action, order.totalQuantity) == ("LMT", "SELL", 10)
    assert (order.lmtPrice, order.tif, order.orderRef, order.account) == (
        101.25,
        "DAY",
        "tlh-x",
        "DU1",
    )
    assert order.outsideRth is False
    assert build_order(request(limit=None), "DU1").orderType == "MKT"


def test_a_fractional_quantity_is_refused() -> None:
    """IB takes whole shares through the API (ib_insync discussion #706)."""
    with pytest.raises(ValueError, match="whole shares"):
        build_order(request(quantity="2.5"), "DU1")


def test_share_classes_use_a_space_at_ib() -> None:
    """IB names BRK.B ``BRK B``; tlh's name comes back unchanged."""
    assert ib_symbol("BRK.B") == "BRK B"
    assert tlh_symbol("BRK B") == "BRK.B"


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("PendingSubmit", "0", OrderStatus.NEW),
        ("PreSubmitted", "0", OrderStatus.ACCEPTED),
        ("Submitted", "0", OrderStatus.ACCEPTED),
        ("Submitted", "3", OrderStatus.PARTIALLY_FILLED),
        ("Filled", "10", OrderStatus.FILLED),
        ("Cancelled", "0", OrderStatus.CANCELED),
        ("ApiCancelled", "0", OrderStatus.CANCELED),
        ("Inactive", "0", OrderStatus.REJECTED),
        ("", "0", OrderStatus.UNKNOWN),
    ],
)
def test_ib_statuses_map_to_the_daemons(status: str, filled: str, expected: OrderStatus) -> None:
    """Every IB order status has a meaning for the intent (ib_async.OrderStatus)."""
    assert order_status(status, Decimal(filled)) is expected


def test_a_cancel_after_error_201_is_a_reject_with_ibs_reason() -> None:
    """ib_async shows a 201 reject as Cancelled; the log's error code makes it a reject."""
    order = IbOrder(orderRef="tlh-x", action="SELL", totalQuantity=10, permId=5)
    trade = Trade(Contract(symbol="VTI"), order, IbStatus(status="Cancelled"), [], [])
    trade.log.append(
        TradeLogEntry(EXCHANGE_TIME, "Cancelled", "Order rejected - reason: no shares", 201)
    )
    view = view_of(trade)
    assert view.status is OrderStatus.REJECTED
    assert "201" in view.reason
    assert "no shares" in view.reason
    assert view.broker_order_id == "5"
