"""State of the fake TWS: contracts, quotes, orders, executions, positions, received requests.

Everything here outlives a connection: a dropped socket or a "nightly restart" of the fake keeps
positions, orders and executions, as TWS/IB Gateway keeps them on IB's servers. The wire format
lives in ``wire``; the session logic in ``server``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

Number = Decimal | int | float | str

DEFAULT_ACCOUNT = "DU1234567"
NY = ZoneInfo("America/New_York")

#: Default texts of the message codes tests inject (IB API "Message Codes",
#: https://interactivebrokers.github.io/tws-api/message_codes.html).
ERROR_TEXTS: dict[int, str] = {
    200: "No security definition has been found for the request",
    201: "Order rejected - reason:",
    202: "Order Canceled - reason:",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    354: "Requested market data is not subscribed.",
    502: 'Couldn\'t connect to TWS. Confirm that "Enable ActiveX and Socket Clients" is enabled.',
    504: "Not connected",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2158: "Sec-def data farm connection is OK:secdefnj",
}


def to_decimal(value: Number) -> Decimal:
    """Convert a number (float through its shortest repr) to ``Decimal``."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


@dataclass(frozen=True)
class Instrument:
    """A contract the fake knows (US stock or ETF routed through SMART)."""

    symbol: str
    con_id: int
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    sec_type: str = "STK"
    long_name: str = ""


class QuoteTick(NamedTuple):
    """One top-of-book update for the bulk tick API (floats: the tick path is float on the wire)."""

    symbol: str
    bid: float
    ask: float
    bid_size: float = 100.0
    ask_size: float = 100.0


@dataclass
class Position:
    """A position in one account: signed quantity and average cost per share."""

    account: str
    symbol: str
    qty: Decimal
    avg_cost: Decimal


@dataclass
class FillPolicy:
    """How the fake answers a ``placeOrder`` (set with ``FakeTWS.set_fill_policy``).

    ``mode``: ``"fill"`` fills at once, ``"partial"`` fills ``partial_qty`` and leaves the rest
    working, ``"hold"`` leaves the order Submitted until ``FakeTWS.fill``/``cancel``,
    ``"reject"`` answers error ``reject_code`` (201) and the order ends, ``"marketable"`` fills
    at the quote once the limit crosses it (at placement or on a later published quote).
    ``"fill"``/``"partial"`` hold an order with no price known (market order, no quote).
    ``price``: ``"limit"`` fills at the limit price, ``"quote"`` at the current ask (buy) or
    bid (sell), falling back to the limit when there is no quote.
    Commission follows IB's fixed US stock pricing: per share, at least ``commission_min``.
    """

    mode: Literal["fill", "partial", "hold", "reject", "marketable"] = "fill"
    price: Literal["limit", "quote"] = "limit"
    partial_qty: Decimal = Decimal(1)
    reject_code: int = 201
    reject_reason: str = "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED."
    commission_per_share: Decimal = Decimal("0.005")
    commission_min: Decimal = Decimal("1.00")
    exchange: str = "ISLAND"


OrderStatusName = Literal["PreSubmitted", "Submitted", "Filled", "Cancelled", "Inactive"]


@dataclass
class FakeOrder:
    """An order the fake received through ``placeOrder`` (or a test seeded)."""

    order_id: int
    client_id: int
    perm_id: int
    account: str
    instrument: Instrument
    action: str
    qty: Decimal
    order_type: str
    lmt_price: Decimal | None
    tif: str
    order_ref: str
    status: OrderStatusName = "PreSubmitted"
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    completed_time: str = ""
    completed_status: str = ""
    raw_fields: tuple[str, ...] = ()

    @property
    def symbol(self) -> str:
        """Return the order's symbol."""
        return self.instrument.symbol

    @property
    def remaining(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.qty - self.filled

    @property
    def is_done(self) -> bool:
        """Tell whether the order is no longer working (TWS reports it as a completed order)."""
        return self.status in ("Filled", "Cancelled", "Inactive")


@dataclass
class FakeExecution:
    """One execution (fill) with its commission report, as TWS keeps it for the day."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    account: str
    instrument: Instrument
    side: Literal["BOT", "SLD"]
    shares: Decimal
    price: Decimal
    time: datetime
    exchange: str
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    commission: Decimal
    realized_pnl: Decimal | None


@dataclass(frozen=True)
class RequestRecord:
    """One message a client sent: its id, name, fields (as strings) and the sender's clientId.

    ``at`` is ``time.perf_counter()`` when the fake read it (CLOCK_MONOTONIC on Linux, so a
    benchmark in another process can compare it with its own readings).
    """

    client_id: int | None
    msg_id: int
    name: str
    fields: tuple[str, ...]
    at: float = field(default_factory=time.perf_counter)


#: Names of the client→TWS message ids the fake knows (ibapi ``message.OUT``).
REQUEST_NAMES: dict[int, str] = {
    1: "reqMktData",
    2: "cancelMktData",
    3: "placeOrder",
    4: "cancelOrder",
    5: "reqOpenOrders",
    6: "reqAccountUpdates",
    7: "reqExecutions",
    8: "reqIds",
    9: "reqContractDetails",
    15: "reqAutoOpenOrders",
    16: "reqAllOpenOrders",
    17: "reqManagedAccts",
    49: "reqCurrentTime",
    58: "reqGlobalCancel",
    59: "reqMarketDataType",
    61: "reqPositions",
    62: "reqAccountSummary",
    63: "cancelAccountSummary",
    64: "cancelPositions",
    71: "startApi",
    76: "reqAccountUpdatesMulti",
    77: "cancelAccountUpdatesMulti",
    99: "reqCompletedOrders",
}


@dataclass
class TWSState:
    """Everything the fake TWS remembers across connections and restarts."""

    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    quotes: dict[str, QuoteTick] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: list[FakeOrder] = field(default_factory=list)
    executions: list[FakeExecution] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    fill_policy: FillPolicy = field(default_factory=FillPolicy)
    symbol_policies: dict[str, FillPolicy] = field(default_factory=dict)
    cash: Decimal = Decimal("100000")
    next_order_id: int = 1
    next_perm_id: int = 1_500_000_001
    next_con_id: int = 700_001
    exec_seq: int = 0

    def add_instrument(self, symbol: str, con_id: int | None = None, **fields: str) -> Instrument:
        """Register (or replace) a contract; conIds are allocated when not given."""
        if con_id is None:
            known = self.instruments.get(symbol)
            con_id = known.con_id if known else self._new_con_id()
        instrument = Instrument(symbol=symbol, con_id=con_id, **fields)
        self.instruments[symbol] = instrument
        return instrument

    def _new_con_id(self) -> int:
        self.next_con_id += 1
        return self.next_con_id - 1

    def instrument(self, symbol: str) -> Instrument:
        """Return the contract of ``symbol``, registering it when unknown (test convenience)."""
        return self.instruments.get(symbol) or self.add_instrument(symbol)

    def by_con_id(self, con_id: int) -> Instrument | None:
        """Find a contract by conId."""
        return next((i for i in self.instruments.values() if i.con_id == con_id), None)

    def new_perm_id(self) -> int:
        """Allocate a permanent order id (TWS-wide, unique across clients and restarts)."""
        self.next_perm_id += 1
        return self.next_perm_id - 1

    def new_exec_id(self, perm_id: int) -> str:
        """Allocate an execution id in TWS's dotted hex shape."""
        self.exec_seq += 1
        return f"0000e0d5.{perm_id:08x}.{self.exec_seq:02x}.01"

    def policy_for(self, symbol: str) -> FillPolicy:
        """Return the fill policy for ``symbol`` (a per-symbol one wins)."""
        return self.symbol_policies.get(symbol, self.fill_policy)

    def position(self, account: str, symbol: str) -> Position:
        """Return the position (maybe flat) of ``symbol`` in ``account``."""
        key = (account, symbol)
        if key not in self.positions:
            self.positions[key] = Position(account, symbol, Decimal(0), Decimal(0))
        return self.positions[key]

    def apply_fill(
        self, account: str, symbol: str, side: str, qty: Decimal, price: Decimal
    ) -> Decimal | None:
        """Move the position and cash by a fill; return the realized P&L of a closing fill."""
        pos = self.position(account, symbol)
        signed = qty if side == "BOT" else -qty
        self.cash -= signed * price
        realized: Decimal | None = None
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            total = pos.qty + signed
            pos.avg_cost = (pos.qty * pos.avg_cost + signed * price) / total
            pos.qty = total
        else:
            closing = min(abs(signed), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = (price - pos.avg_cost) * closing * direction
            pos.qty += signed
            if pos.qty == 0:
                pos.avg_cost = Decimal(0)
            elif (pos.qty > 0) != (direction > 0):
                pos.avg_cost = price
        return realized
