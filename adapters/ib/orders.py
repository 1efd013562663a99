"""Place, find and cancel IB orders by intent id (``orderRef``), and report their progress.

Idempotency: TWS does not refuse a second order with the same ``orderRef``, so before placing
one the adapter looks the intent id up among the open orders (of every client id), the
completed orders and today's executions, and returns the order it finds instead of placing
another: a retry, or a restart after a crash between placing and recording, never sends a
second order for an intent. Those three lists are requested by every (re)connect
(`adapters.ib.connection`), and ib_async's events keep them current while the connection
lasts, including the orders this client places; so the look-up before placing reads them in
memory. Asking TWS again would put three requests (of TWS's 50 messages a second) and the
decoding of every completed order and execution of the day between a crossing quote and its
order (22 ms for 21 completed orders against the fake TWS). When the connect's
synchronisation did not complete, the look-up asks TWS. `get_order`, which the order manager
uses to resume and to poll orders in flight, always asks TWS.

Progress: every order status ib_async reports (``orderStatusEvent``) for an order tagged with
an ``orderRef`` becomes an `OrderUpdate`. ib_async shows an order rejected with error 201 as
Cancelled; the error code in the trade's log makes it a reject, with IB's message as reason.
Both end the intent. While an order has executions waiting for their commission report
(`adapters.ib.fills`), its updates wait too, so the order manager sees the fill first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, Generic, TypeVar

import structlog
from ib_async import IB, ExecutionFilter, Trade
from ib_async import Fill as IbFill

from adapters.base import BrokerError, EventSink, OrderRequest, OrderSnapshot
from adapters.ib.config import IBConfig
from adapters.ib.connection import Connection
from adapters.ib.fills import CommissionJoin
from adapters.ib.market_data import MarketData
from adapters.ib.parsing import (
    MalformedMessage,
    OrderView,
    build_order,
    execution_time,
    parse_fill,
    view_of,
    view_of_fills,
)
from daemon.events import Fill, OrderUpdate

log = structlog.get_logger("tlh.ib.orders")
T = TypeVar("T")


class RefIndex(Generic[T]):
    """The values of one of ib_async's dicts (its trades or its fills) by ``orderRef``.

    ib_async only ever adds to those dicts while a connection lasts (a value is updated in
    place, never replaced under its key) and starts new ones when it resets, so the index
    catches up on each look-up with the values added since the last, and starts over with a
    new dict: a look-up costs the new values, not the day's orders. The caller still checks
    each value's ``orderRef`` (`OrderTracker._view`).
    """

    def __init__(self, ref: Callable[[T], str]) -> None:
        self._ref = ref
        self._source: dict[Any, T] | None = None
        self._seen = 0
        self._by_ref: dict[str, list[T]] = {}

    def get(self, source: dict[Any, T], ref: str) -> list[T]:
        """Return the values of `source` tagged `ref` (when indexed), oldest first."""
        if source is not self._source or len(source) < self._seen:
            self._source, self._seen, self._by_ref = source, 0, {}
        if len(source) > self._seen:
            by_ref, key = self._by_ref, self._ref
            for value in islice(source.values(), self._seen, None):
                by_ref.setdefault(key(value), []).append(value)
            self._seen = len(source)
        return self._by_ref.get(ref, [])


class OrderTracker:
    """The adapter's orders: placing, looking up by intent id, cancelling, and their events."""

    def __init__(
        self,
        ib: IB,
        config: IBConfig,
        connection: Connection,
        market_data: MarketData,
        *,
        now: Callable[[], datetime],
        on_malformed: Callable[[str, object, Exception], None],
    ) -> None:
        self.ib = ib
        self.config = config
        self._connection = connection
        self._market_data = market_data
        self._now = now
        self._on_malformed = on_malformed
        self._sink: EventSink | None = None
        self._lookup_lock = asyncio.Lock()
        self._submit_lock = asyncio.Lock()
        self._deferred: dict[int, OrderUpdate] = {}  # permId -> latest update held back
        self._trade_refs: RefIndex[Trade] = RefIndex(lambda trade: trade.order.orderRef)
        self._fill_refs: RefIndex[IbFill] = RefIndex(lambda fill: fill.execution.orderRef)
        self.join = CommissionJoin(config.commission_wait, self._emit_fill, order_idle=self._idle)
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self.join.on_execution
        ib.commissionReportEvent += self.join.on_commission

    def attach(self, sink: EventSink) -> None:
        """Deliver order updates and fills to `sink` from now on."""
        self._sink = sink

    # -- events ----------------------------------------------------------------------------

    def _on_status(self, trade: Trade) -> None:
        if not trade.order.orderRef or self._sink is None:
            return
        try:
            view = view_of(trade)
        except MalformedMessage as exc:
            self._on_malformed("orderStatus", trade.orderStatus, exc)
            return
        update = OrderUpdate(
            client_order_id=view.client_order_id,
            status=view.status,
            at=self._now(),
            filled_quantity=view.filled_quantity,
            average_price=view.average_price,
            broker_order_id=view.broker_order_id or None,
            reason=view.reason,
        )
        if view.status.terminal or view.reason:
            log.info(
                "ib_order_update",
                client_order_id=view.client_order_id,
                status=view.status.value,
                ib_status=trade.orderStatus.status,
                reason=view.reason,
            )
        perm_id = trade.order.permId
        if perm_id and self.join.busy(perm_id):
            self._deferred[perm_id] = update
            return
        self._sink(update)

    def _emit_fill(self, fill: IbFill, commission: Decimal | None) -> None:
        if self._sink is None or fill.execution.acctNumber not in ("", self.config.account):
            return  # another account of the same login: not this ledger's
        try:
            event = parse_fill(fill, self.config.account, commission)
        except MalformedMessage as exc:
            self._on_malformed("execDetails", fill.execution, exc)
            return
        self._sink(event)

    def _idle(self, perm_id: int) -> None:
        update = self._deferred.pop(perm_id, None)
        if update is not None and self._sink is not None:
            self._sink(update)

    # -- requests --------------------------------------------------------------------------

    async def executions(self, since: datetime | None = None) -> list[IbFill]:
        """Return today's executions of the account (``reqExecutions``) from `since` on,
        ib_async's merged copy of each (the one its commission report updates).

        The filter's time is UTC in TWS's dash form (``yyyymmdd-hh:mm:ss``), whole seconds
        rounded down, so it keeps every execution after `since`.
        """
        wanted = ExecutionFilter(acctCode=self.config.account)
        if since is not None:
            wanted.time = since.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
        raw = await self._connection.request(
            "executions", lambda: self.ib.reqExecutionsAsync(wanted)
        )
        known = self.ib.wrapper.fills
        out = []
        for fill in raw:
            if fill.execution.acctNumber not in ("", self.config.account):
                continue
            out.append(known.get(fill.execution.execId, fill))
        return out

    def _parsed(self, fills: Sequence[IbFill]) -> list[Fill]:
        out = []
        for fill in fills:
            try:
                out.append(parse_fill(fill, self.config.account, None))
            except MalformedMessage as exc:
                self._on_malformed("execDetails", fill.execution, exc)
        return out

    async def _open_trades(self) -> list[Trade]:
        return list(await self._connection.request("open orders", self.ib.reqAllOpenOrdersAsync))

    async def find(self, client_order_id: str) -> OrderView | None:
        """Return the order tagged `client_order_id`, from IB's open and completed orders and
        today's executions (asked now), or None when IB has none."""
        self._connection.require_up("order lookup")
        async with self._lookup_lock:
            open_trades, completed, fills = await asyncio.gather(
                self._open_trades(),
                self._connection.request(
                    "completed orders", lambda: self.ib.reqCompletedOrdersAsync(False)
                ),
                self.executions(),
            )
        return self._view(client_order_id, (open_trades, completed, self.ib.trades()), fills)

    def known(self, client_order_id: str) -> OrderView | None:
        """Return the order tagged `client_order_id` among those ib_async holds (synchronised
        at connect, kept current by its events), or None."""
        wrapper = self.ib.wrapper
        return self._view(
            client_order_id,
            (self._trade_refs.get(wrapper.trades, client_order_id),),
            self._fill_refs.get(wrapper.fills, client_order_id),
        )

    def _view(
        self, client_order_id: str, sources: Sequence[Sequence[Trade]], fills: Sequence[IbFill]
    ) -> OrderView | None:
        """Return the order tagged `client_order_id` from the first of `sources` (most
        authoritative first) that has one, preferring a working order to the latest done one,
        with its executions from `fills`; from the executions alone when no source has it."""
        ours = self._parsed([f for f in fills if f.execution.orderRef == client_order_id])
        for source in sources:
            tagged = [t for t in source if t.order.orderRef == client_order_id]
            working = [t for t in tagged if not t.isDone()]
            for trade in (*working[:1], *tagged[-1:]):
                try:
                    return view_of(trade, ours)
                except MalformedMessage as exc:
                    self._on_malformed("order", trade.order, exc)
        if ours:
            return view_of_fills(ours)
        return None

    async def place(self, request: OrderRequest) -> OrderSnapshot:
        """Place `request`'s order unless IB has one for its intent already (see module)."""
        if not self._connection.can_trade:
            raise BrokerError(
                "not connected to IB (TWS/Gateway down or its link to IB lost): "
                "no order leaves while disconnected",
                transient=True,
            )
        async with self._submit_lock:
            cid = request.client_order_id
            if self._connection.orders_synced:
                known = self.known(cid)
            else:
                known = await self.find(cid)
            if known is not None:
                log.info(
                    "ib_order_exists",
                    client_order_id=request.client_order_id,
                    status=known.status.value,
                    broker_order_id=known.broker_order_id,
                )
                return known.snapshot()
            try:
                contract = await self._market_data.contract(request.symbol)
                order = build_order(request, self.config.account)
            except (LookupError, ValueError) as exc:
                raise BrokerError(str(exc)) from None
            except TimeoutError:
                what = f"contract of {request.symbol}: no answer"
                raise BrokerError(what, transient=True) from None
            if not self._connection.can_trade:
                raise BrokerError("connection lost before the order left", transient=True)
            try:
                trade = self.ib.placeOrder(contract, order)
            except ConnectionError:  # dropped since the check: the order did not leave
                raise BrokerError("connection lost before the order left", transient=True) from None
        log.info(
            "ib_order_placed",
            client_order_id=request.client_order_id,
            order_id=trade.order.orderId,
            symbol=request.symbol,
            action=order.action,
            quantity=order.totalQuantity,
            limit_price=str(request.limit_price),
        )
        return view_of(trade).snapshot()

    async def cancel(self, client_order_id: str) -> None:
        """Ask IB to cancel the working order tagged `client_order_id`; leave others alone."""
        self._connection.require_up("cancel")

        def working(trades: Sequence[Trade]) -> Trade | None:
            for trade in trades:
                if trade.order.orderRef == client_order_id and not trade.isDone():
                    return trade
            return None

        trade = working(self.ib.trades()) or working(await self._open_trades())
        if trade is None:
            log.info("ib_cancel_nothing_working", client_order_id=client_order_id)
            return
        try:
            self.ib.cancelOrder(trade.order)
        except ConnectionError:
            raise BrokerError("cancel: connection lost", transient=True) from None
        log.info("ib_cancel_requested", client_order_id=client_order_id)

    async def open_orders(self) -> list[OrderSnapshot]:
        """Return every working order of the account (asked now)."""
        trades = await self._open_trades()
        seen: set[int] = set()
        out = []
        for trade in (*trades, *self.ib.openTrades()):
            if id(trade) in seen or trade.isDone():
                continue
            seen.add(id(trade))
            if trade.order.account not in ("", self.config.account):
                continue
            try:
                out.append(view_of(trade).snapshot())
            except MalformedMessage as exc:
                self._on_malformed("order", trade.order, exc)
        return out

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return today's executions after `since`, oldest first, with their commissions."""
        raw = [
            f
            for f in await self.executions(since)
            if since is None or execution_time(f.execution.time) > since
        ]
        merged = self.ib.wrapper.fills.get
        commissions = await asyncio.gather(*(self.join.commission_for(f, merged) for f in raw))
        out = []
        for fill, commission in zip(raw, commissions, strict=True):
            try:
                parsed = parse_fill(fill, self.config.account, commission)
            except MalformedMessage as exc:
                self._on_malformed("execDetails", fill.execution, exc)
                continue
            out.append(parsed)
        out.sort(key=lambda f: f.at)
        return out

    def close(self) -> None:
        """Stop emitting (pending commission waits are dropped)."""
        self._sink = None
        self.join.close()
