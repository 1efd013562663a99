"""TWS API socket wire format at one server version: framing and the messages the fake sends.

A message is its fields, each followed by ``\\0``, prefixed by a 4-byte big-endian length
(ib_async ``Client._prefix`` and ``Client._onSocketHasData``). Field layouts follow ib_async 2.1.0
``decoder.py`` at ``SERVER_VERSION`` 178, the version a current IB Gateway answers: at 178
``execDetails`` carries ``pendingPriceRevision`` and ``openOrder``/``completedOrder`` no longer
carry ``faProfile`` (dropped at 177).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from .state import FakeExecution, FakeOrder, Instrument, Position

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157

# Incoming message ids of the TWS → client direction (ibapi ``message.IN``).
TICK_PRICE = 1
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MANAGED_ACCTS = 15
CURRENT_TIME = 49
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
TICK_SNAPSHOT_END = 57
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDER = 101
COMPLETED_ORDERS_END = 102

Field = str | int | float | Decimal | bool | None


def text(value: Field) -> str:
    """Render one field as TWS does: bools as 1/0, ``None`` as empty, numbers plainly."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def frame(*fields: Field) -> bytes:
    """Frame one message: each field ``\\0``-terminated, with the big-endian length prefix."""
    body = "".join(text(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


def split_fields(body: bytes) -> list[str]:
    """Split a received message body into its fields (the trailing ``\\0`` ends the last)."""
    fields = body.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def tws_time(moment: datetime, zone: str) -> str:
    """Format an execution time the way TWS 10.x does: ``yyyymmdd hh:mm:ss Zone/Name``."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y%m%d %H:%M:%S} {zone}"


def _contract(inst: Instrument, exchange: str) -> list[Field]:
    """Return conId … tradingClass: the 11 contract fields of order/execution messages."""
    return [
        inst.con_id,
        inst.symbol,
        inst.sec_type,
        "",
        0,
        "",
        "",
        exchange,
        inst.currency,
        inst.symbol,
        inst.symbol if inst.sec_type == "STK" else "",
    ]


def tick_price(req_id: int, tick_type: int, price: object, size: object) -> bytes:
    """Build a ``tickPrice`` (1) carrying the size too (decoder ``priceSizeTick``)."""
    body = f"1\x006\x00{req_id}\x00{tick_type}\x00{price}\x00{size}\x000\x00".encode()
    return struct.pack(">I", len(body)) + body


def quote_frames(req_id: int, tick_types: tuple[int, int], quote: Sequence[object]) -> bytes:
    """Build the bid then ask ``tickPrice`` frames of one quote tuple (symbol, bid, ask, bs, as)."""
    _, bid, ask, bid_size, ask_size = quote
    return tick_price(req_id, tick_types[0], bid, bid_size) + tick_price(
        req_id, tick_types[1], ask, ask_size
    )


def error(req_id: int, code: int, message: str, advanced: str = "") -> bytes:
    """Build an ``errMsg`` (4); at server version >= 166 it ends with the advanced-reject JSON."""
    return frame(ERR_MSG, 2, req_id, code, message, advanced)


def contract_details(req_id: int, inst: Instrument, exchange: str) -> bytes:
    """Build a ``contractData`` (10) for a stock (layout of decoder ``contractDetails``, >= 164)."""
    return frame(
        CONTRACT_DATA,
        req_id,
        inst.symbol,
        inst.sec_type,
        "",  # lastTradeDateOrContractMonth
        0,  # strike
        "",  # right
        exchange,
        inst.currency,
        inst.symbol,  # localSymbol
        "NMS",  # marketName
        inst.symbol,  # tradingClass
        inst.con_id,
        0.01,  # minTick
        "",  # multiplier
        "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,LMT,MKT,MOC,LOC,STP,STPLMT,TRAIL",  # orderTypes
        f"SMART,{inst.primary_exchange},ARCA,BATS,IEX",  # validExchanges
        1,  # priceMagnifier
        0,  # underConId
        inst.long_name or inst.symbol,
        inst.primary_exchange,
        "",  # contractMonth
        "",  # industry
        "",  # category
        "",  # subcategory
        "US/Eastern",  # timeZoneId
        "",  # tradingHours
        "",  # liquidHours
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdList count
        1,  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        "26",  # marketRuleIds
        "",  # realExpirationDate
        "COMMON" if inst.sec_type == "STK" else "",  # stockType
        "0.0001",  # minSize
        "0.0001",  # sizeIncrement
        "100",  # suggestedSizeIncrement
    )


def order_status(order: FakeOrder) -> bytes:
    """Build an ``orderStatus`` (3): no version field (decoder ``wrap(..., skip=1)``)."""
    return frame(
        ORDER_STATUS,
        order.order_id,
        order.status,
        order.filled,
        order.remaining if order.status not in ("Cancelled", "Inactive") else 0,
        order.avg_fill_price,
        order.perm_id,
        0,  # parentId
        order.last_fill_price,
        order.client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    )


def _order_head(order: FakeOrder) -> list[Field]:
    """Return action … origin, orderRef: the order fields shared by open and completed orders."""
    return [
        order.action,
        order.qty,
        order.order_type,
        order.lmt_price,
        None,  # auxPrice
        order.tif,
        "",  # ocaGroup
        order.account,
        "O",  # openClose
        0,  # origin
        order.order_ref,
    ]


def open_order(order: FakeOrder, exchange: str = "SMART") -> bytes:
    """Build an ``openOrder`` (5) in the layout of decoder ``openOrder`` at version 178."""
    fields: list[Field] = [OPEN_ORDER, order.order_id]
    fields += _contract(order.instrument, exchange)
    fields += _order_head(order)
    fields += [order.client_id, order.perm_id, 0, 0, 0, "", "", "", "", ""]
    # outsideRth, hidden, discretionaryAmt, goodAfterTime, sharesAllocation, fa group/method/pct
    fields += [""] * 29  # modelCode … deltaNeutralAuxPrice (deltaNeutralOrderType empty)
    fields += [0, 0, "", "", "", "", ""]  # continuousUpdate … comboLegsDescrip
    fields += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    fields += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    fields += [""]  # hedgeType
    fields += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account/intent, notHeld, dnc
    fields += [""]  # algoStrategy
    fields += [0, 0, order.status]  # solicited, whatIf, status
    fields += [""] * 9  # margin before/change/after
    fields += ["", "", "", "", "", 0, 0]  # commissions, currency, warning, randomize size/price
    fields += [0]  # conditions
    fields += [""] * 8  # adjustedOrderType … adjustableTrailingUnit
    fields += ["", "", ""]  # softDollarTier name, val, displayName
    fields += ["", 0, 0, 0, 0]  # cashQty … usePriceMgmtAlgo
    fields += ["", 0, 0]  # duration, postToAts, autoCancelParent
    fields += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return frame(*fields)


def completed_order(order: FakeOrder, exchange: str = "SMART") -> bytes:
    """Build a ``completedOrder`` (101): no orderId nor clientId on the wire, only the permId."""
    fields: list[Field] = [COMPLETED_ORDER]
    fields += _contract(order.instrument, exchange)
    fields += _order_head(order)
    fields += [order.perm_id, 0, 0, 0, "", "", "", ""]
    # outsideRth, hidden, discretionaryAmt, goodAfterTime, faGroup, faMethod, faPercentage
    fields += [""] * 23  # modelCode … deltaNeutralAuxPrice
    fields += [0, "", "", "", ""]  # continuousUpdate … comboLegsDescrip
    fields += [0, 0, 0]  # legs
    fields += ["", "", ""]  # scale
    fields += [""]  # hedgeType
    fields += ["", "", 0, 0]  # clearingAccount, clearingIntent, notHeld, dnc
    fields += [""]  # algoStrategy
    fields += [0, order.status, 0, 0]  # solicited, status, randomizeSize, randomizePrice
    fields += [0]  # conditions
    fields += ["", "", "", 0, 0, "", order.filled, "", 0, "", 0, 0, ""]
    # trailStopPrice … parentPermId
    fields += [order.completed_time, order.completed_status]
    fields += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return frame(*fields)


def exec_details(req_id: int, ex: FakeExecution, zone: str) -> bytes:
    """Build an ``execDetails`` (11) in the layout of decoder ``execDetails`` at version 178."""
    return frame(
        EXECUTION_DATA,
        req_id,
        ex.order_id,
        *_contract(ex.instrument, ex.exchange),
        ex.exec_id,
        tws_time(ex.time, zone),
        ex.account,
        ex.exchange,
        ex.side,
        ex.shares,
        ex.price,
        ex.perm_id,
        ex.client_id,
        0,  # liquidation
        ex.cum_qty,
        ex.avg_price,
        ex.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        1,  # lastLiquidity (added)
        0,  # pendingPriceRevision (server version >= 178)
    )


def commission_report(ex: FakeExecution) -> bytes:
    """Build a ``commissionReport`` (59); an unknown realized P&L is IB's unset double."""
    realized: Field = ex.realized_pnl if ex.realized_pnl is not None else "1.7976931348623157E308"
    return frame(
        COMMISSION_REPORT,
        1,
        ex.exec_id,
        ex.commission,
        "USD",
        realized,
        "1.7976931348623157E308",
        0,
    )


def position(pos: Position, inst: Instrument) -> bytes:
    """Build a ``position`` (61, version 3)."""
    return frame(
        POSITION_DATA,
        3,
        pos.account,
        *_contract(inst, ""),
        pos.qty,
        pos.avg_cost,
    )


def portfolio_value(pos: Position, inst: Instrument, market_price: Decimal) -> bytes:
    """Build an ``updatePortfolio`` (7, version 8) for the account-updates subscription."""
    value = pos.qty * market_price
    return frame(
        PORTFOLIO_VALUE,
        8,
        inst.con_id,
        inst.symbol,
        inst.sec_type,
        "",
        0,
        "",
        "",
        inst.primary_exchange,
        inst.currency,
        inst.symbol,
        inst.symbol,
        pos.qty,
        market_price,
        value,
        pos.avg_cost,
        value - pos.qty * pos.avg_cost,
        0,
        pos.account,
    )
