"""The simulated broker: a first-class broker that fills against replayed prices.

It implements the same `Broker` interface as Alpaca and Interactive Brokers, so the daemon
cannot tell it apart: orders are idempotent on their client order id, marketable limit orders
fill at the current quote (sells at the bid, buys at the ask) with configurable fees, and
updates and fills are pushed to the daemon's event sink in the order a real broker sends them
(accepted, fills, then the terminal update). Lots may be named on a sale (specific
identification), as at brokers that allow it. Whole-share brokers are simulated with
``fractional=False``: their capabilities say so, and a fractional order is refused.

Cash (`adapters.base.CashBalances`) is tracked per account: sale proceeds in, purchases and
fees out, deposits (`deposit`) and dividends (`credit_dividend`) in. It is bookkeeping for the
direct index, which invests what the account holds; a buy is never refused for want of it
(the harvests' replacements of the ETF-pair strategy spend proceeds they may not have to the
cent), so an account may go below zero. An account's cash starts at zero.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from adapters.base import (
    BrokerError,
    Capabilities,
    EventSink,
    LotRelief,
    OrderRequest,
    OrderSnapshot,
    SplitCalendar,
)
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate, Quote, exact
from ledger.conventions import LotMethod
from ledger.model import split_shares

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SimCosts:
    """What a simulated order costs: a fee per order plus a fee per share."""

    fee_per_order: Decimal = ZERO
    fee_per_share: Decimal = ZERO


@dataclass(slots=True)
class _Order:
    request: OrderRequest
    broker_order_id: str
    status: OrderStatus
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            client_order_id=self.request.client_order_id,
            broker_order_id=self.broker_order_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.notional / self.filled if self.filled else None,
            symbol=self.request.symbol,
            side=self.request.side,
        )


SPLIT_RESIDUE = Decimal("1e-18")
"""A sale above the position by less than this many shares sells the position. The ledger
splits each lot and the broker the whole position: at 28 significant digits the products of a
ratio such as 1/7 differ in their last digits (seen: the ledger's 0.000031108 against the
broker's 0.000031107999999999999999999 after a reverse split)."""


class SimBroker:
    """A broker that fills orders against the latest replayed quote."""

    name = "sim"
    capabilities = Capabilities(
        lot_relief=LotRelief(specific_lots=True, method=LotMethod.FIFO),
        fractional=True,
        order_types=frozenset({"market", "limit"}),
        hours="at each replayed quote",
    )

    def __init__(
        self,
        now: Callable[[], datetime],
        costs: SimCosts | None = None,
        *,
        fractional: bool = True,
    ) -> None:
        self._now = now
        self.costs = costs or SimCosts()
        if not fractional:
            self.capabilities = replace(SimBroker.capabilities, fractional=False)
        self._sink: EventSink | None = None
        self._quotes: dict[str, Quote] = {}
        self._orders: dict[str, _Order] = {}
        self._fills: list[Fill] = []  # every execution, oldest first
        self._positions: dict[tuple[str, str], Decimal] = {}
        self._cash: dict[str, Decimal] = {}
        self._ids = itertools.count(1)
        self.subscribed: set[str] = set()
        self.submissions = 0
        # Where the replay's splits come from (a backtest sets its price file); None: unknown.
        self.split_calendar: SplitCalendar | None = None

    # -- market data -----------------------------------------------------------------------

    def set_quote(self, quote: Quote) -> None:
        """Make `quote` the current market for its symbol (the replay drives this)."""
        self._quotes[quote.symbol] = quote

    def quote(self, symbol: str) -> Quote | None:
        """Return the current market for `symbol`, if any."""
        return self._quotes.get(symbol)

    def set_position(self, account: str, symbol: str, quantity: Decimal) -> None:
        """Set a holding directly (initial holdings of a backtest or demo)."""
        self._positions[(account, symbol)] = quantity

    def deposit(self, account: str, amount: Decimal) -> None:
        """Add `amount` of cash to `account` (a deposit; negative: a withdrawal)."""
        self._cash[account] = self._cash.get(account, ZERO) + amount

    def credit_dividend(self, symbol: str, per_share: Decimal) -> Decimal:
        """Pay `per_share` on every account's holding of `symbol` into its cash (an ex-date,
        on the holdings of the last close); return the total paid."""
        paid = ZERO
        for (account, held), qty in self._positions.items():
            if held == symbol and qty > ZERO:
                amount = qty * per_share
                self._cash[account] = self._cash.get(account, ZERO) + amount
                paid += amount
        return paid

    async def cash_balance(self, account: str) -> Decimal:
        """Return `account`'s cash (`adapters.base.CashBalances`); may be below zero."""
        return self._cash.get(account, ZERO)

    def cash_balances(self) -> dict[str, Decimal]:
        """Return the cash of every account that has had any."""
        return dict(self._cash)

    def apply_split(self, symbol: str, ratio: Decimal) -> None:
        """Multiply every holding of `symbol` by `ratio`, as the ledger multiplies its lots
        (`split_shares`: 3 shares split 4:3 are 4)."""
        for key, qty in self._positions.items():
            if key[1] == symbol:
                self._positions[key] = split_shares(qty, ratio)

    def splits_between(
        self, symbol: str, start: date, end: date
    ) -> Sequence[tuple[date, Fraction | Decimal]] | None:
        """Answer from `split_calendar` (adapters.base.SplitCalendar); None without one."""
        if self.split_calendar is None:
            return None
        return self.split_calendar.splits_between(symbol, start, end)

    # -- Broker interface ------------------------------------------------------------------

    async def connect(self, sink: EventSink) -> None:
        """Start delivering events to `sink`."""
        self._sink = sink

    async def close(self) -> None:
        """Stop delivering events."""
        self._sink = None

    def stream_states(self) -> dict[str, bool]:
        """Return the one stream, the replay, connected while events are delivered
        (`adapters.base.StreamStates`)."""
        return {"replay": self._sink is not None}

    async def subscribe(self, symbols: set[str]) -> None:
        """Record the symbols the daemon follows (the replay sends quotes for all)."""
        self.subscribed = set(symbols)

    async def submit(self, order: OrderRequest) -> OrderSnapshot:
        """Accept an order and fill it at once if it is marketable."""
        existing = self._orders.get(order.client_order_id)
        if existing is not None:
            return existing.snapshot()
        if not order.quantity > ZERO:
            raise BrokerError(f"quantity must be positive (got {order.quantity})")
        if not self.capabilities.fractional and order.quantity % 1:
            raise BrokerError(f"fractional shares are not supported (got {order.quantity})")
        if order.side is OrderSide.SELL:
            held = self._positions.get((order.account, order.symbol), ZERO)
            if order.quantity > held + SPLIT_RESIDUE:
                raise BrokerError(f"insufficient position: sell {order.quantity}, hold {held}")
        self.submissions += 1
        sim = _Order(order, f"sim-{next(self._ids)}", OrderStatus.ACCEPTED)
        self._orders[order.client_order_id] = sim
        self._emit(
            OrderUpdate(
                order.client_order_id,
                OrderStatus.ACCEPTED,
                self._now(),
                broker_order_id=sim.broker_order_id,
            )
        )
        self._try_fill(sim)
        return sim.snapshot()

    async def get_order(self, client_order_id: str) -> OrderSnapshot | None:
        """Return the order with this client id, if any."""
        sim = self._orders.get(client_order_id)
        return sim.snapshot() if sim else None

    async def cancel(self, client_order_id: str) -> None:
        """Cancel an open order."""
        sim = self._orders.get(client_order_id)
        if sim is None or sim.status.terminal:
            return
        sim.status = OrderStatus.CANCELED
        self._emit(
            OrderUpdate(
                client_order_id,
                OrderStatus.CANCELED,
                self._now(),
                filled_quantity=sim.filled,
                broker_order_id=sim.broker_order_id,
            )
        )

    async def positions(self) -> dict[tuple[str, str], Decimal]:
        """Return every non-zero holding."""
        return {k: v for k, v in self._positions.items() if v}

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return executions after `since`, oldest first."""
        if since is None:
            return list(self._fills)
        return self._fills[bisect.bisect_right(self._fills, since, key=_fill_time) :]

    async def open_orders(self) -> list[OrderSnapshot]:
        """Return the orders still working."""
        return [o.snapshot() for o in self._orders.values() if not o.status.terminal]

    # -- matching --------------------------------------------------------------------------

    def fill_open_orders(self) -> None:
        """Retry open orders against the current quotes (after a new quote arrives)."""
        for sim in self._orders.values():
            if not sim.status.terminal:
                self._try_fill(sim)

    def _try_fill(self, sim: _Order) -> None:
        req = sim.request
        quote = self._quotes.get(req.symbol)
        if quote is None:
            return
        price = exact(quote.bid) if req.side is OrderSide.SELL else exact(quote.ask)
        limit = req.limit_price
        if limit is not None and (
            (req.side is OrderSide.SELL and price < limit)
            or (req.side is OrderSide.BUY and price > limit)
        ):
            return
        qty = req.quantity - sim.filled
        fees = self.costs.fee_per_order + self.costs.fee_per_share * qty
        fill = Fill(
            client_order_id=req.client_order_id,
            execution_id=f"{sim.broker_order_id}-{len(sim.fills) + 1}",
            account=req.account,
            symbol=req.symbol,
            side=req.side,
            quantity=qty,
            price=price,
            at=self._now(),
            fees=fees,
            broker_order_id=sim.broker_order_id,
            cumulative_quantity=sim.filled + qty,
        )
        sim.fills.append(fill)
        bisect.insort_right(self._fills, fill, key=_fill_time)  # an append when time moves on
        sim.filled += qty
        sim.notional += qty * price
        sim.status = OrderStatus.FILLED
        key = (req.account, req.symbol)
        delta = qty if req.side is OrderSide.BUY else -qty
        held = self._positions.get(key, ZERO) + delta
        self._positions[key] = ZERO if -SPLIT_RESIDUE < held < ZERO else held
        flow = -qty * price if req.side is OrderSide.BUY else qty * price
        self._cash[req.account] = self._cash.get(req.account, ZERO) + flow - fees
        self._emit(fill)
        self._emit(
            OrderUpdate(
                req.client_order_id,
                OrderStatus.FILLED,
                fill.at,
                filled_quantity=sim.filled,
                average_price=sim.notional / sim.filled,
                broker_order_id=sim.broker_order_id,
            )
        )

    def _emit(self, event: Fill | OrderUpdate) -> None:
        if self._sink is not None:
            self._sink(event)


def _fill_time(fill: Fill) -> datetime:
    return fill.at
