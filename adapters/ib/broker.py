"""The Interactive Brokers adapter: the `Broker` port over ib_async (TWS or IB Gateway).

* Connection (`connection`): one API connection, reconnected with backoff across the nightly
  Gateway restart; error codes 1100/1101/1102 mark the feed stale, resubscribe and resync.
* Market data (`market_data`): streaming bid/ask for exactly the watched symbols, contracts
  qualified once, the market-data type configured, a cheap gated tick path (`QuoteGating`).
* Orders (`orders`): limit (or market) DAY orders tagged with the intent id as ``orderRef``,
  looked up before they are placed (never two orders for one intent), updates and rejects.
* Fills (`fills`): executions joined with their commission reports by ``execId``, emitted once,
  timed by the execution (exchange) time.
* Report queries (`positions`, `open_orders`, `fills_since`, `get_order`) for the daemon's
  reconciliation, which this adapter asks for (`ResyncRequests`) after every reconnect and
  every restored link; it never reaches into the engine.

`fills_since` reads ``reqExecutions``, which covers the current day only (a TWS Trade Log
setting extends it to 7 days): older trades come from a Flex Query import. Lot relief is the
account's Tax Optimizer default (``[ib] lot_method``), which the TWS API cannot change per order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from ib_async import IB

from adapters.base import (
    BrokerError,
    BrokerOptions,
    Capabilities,
    CheckResult,
    EventSink,
    OrderRequest,
    OrderSnapshot,
    ResyncHandler,
)
from adapters.ib.config import IBConfig, capabilities_for, capabilities_of
from adapters.ib.connection import Connection
from adapters.ib.doctor import self_checks
from adapters.ib.market_data import MarketData
from adapters.ib.orders import OrderTracker
from adapters.ib.parsing import MalformedMessage, dec, tlh_symbol
from adapters.ib.settings import IBSettings
from adapters.resync import ResyncRunner
from daemon.events import Fill, Quote

log = structlog.get_logger("tlh.ib")

NEW_YORK = ZoneInfo("America/New_York")  # the trading day `fills_since` keeps


def utc_now() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class AdapterStats:
    """Counters of what the adapter dropped and asked for."""

    malformed: int = 0
    resyncs: int = 0
    last_malformed: str = ""


class IBBroker:
    """An IB account (TWS or IB Gateway) behind the daemon's `Broker` interface."""

    name = "ib"

    def __init__(
        self, config: IBConfig, *, now: Callable[[], datetime] = utc_now, ib: IB | None = None
    ) -> None:
        self.config = config
        self.account = config.account
        self.capabilities = capabilities_of(config.lot_method)
        self.lot_relief = self.capabilities.lot_relief
        self.stats = AdapterStats()
        self.ib = ib if ib is not None else IB()
        self._now = now
        self._sink: EventSink | None = None
        self._resync = ResyncRunner("ib")
        self._tasks: set[asyncio.Task[None]] = set()
        self.connection = Connection(
            self.ib,
            config,
            on_up=self._after_reconnect,
            on_down=self._on_down,
            on_link_restored=self._on_link_restored,
        )
        self.market_data = MarketData(self.ib, config, now=now, is_live=self._feed_live)
        self.orders = OrderTracker(
            self.ib,
            config,
            self.connection,
            self.market_data,
            now=now,
            on_malformed=self._malformed,
        )

    @classmethod
    def from_settings(
        cls,
        settings: IBSettings,
        options: BrokerOptions,
        *,
        now: Callable[[], datetime] = utc_now,
        **overrides: Any,
    ) -> IBBroker:
        """Build the adapter from ``[ib]`` and the daemon's options (see `IBConfig`); `now`
        is its clock."""
        config = IBConfig.from_settings(settings, options, **overrides)
        log.info(
            "ib_configured",
            host=config.host,
            port=config.port,
            client_id=config.client_id,
            account=config.account,
            readonly=config.readonly,
            orders_allowed=config.orders_allowed,
            market_data_type=config.market_data_type,
            lot_method=config.lot_method.value,
        )
        return cls(config, now=now)

    @classmethod
    def capabilities_for(cls, ib: IBSettings) -> Capabilities:
        """Return the adapter's capabilities under these settings, without connecting."""
        return capabilities_for(ib)

    # -- daemon wiring ---------------------------------------------------------------------

    def on_resync(self, handler: ResyncHandler) -> None:
        """Ask `handler` to reconcile after every reconnect (`adapters.base.ResyncRequests`)."""
        self._resync.handler = handler

    def request_resync(self, reason: str) -> None:
        """Ask the daemon to reconcile (coalesced: one pass runs at a time)."""
        self.stats.resyncs += 1
        log.info("ib_resync_requested", reason=reason)
        self._resync.request(reason)

    def _feed_live(self) -> bool:
        return self.connection.up and self.connection.linked

    def quote_is_fresh(self, quote: Quote) -> bool:
        """Return whether `quote` may still price an order (`MarketDataHealth`): connected,
        TWS linked to IB (no error 1100 pending), and no older than the stale limit."""
        return self.market_data.fresh(quote)

    def stream_states(self) -> dict[str, bool]:
        """Return the API connection to TWS / IB Gateway ("tws") and whether TWS is linked to
        IB's servers ("ib-servers", no error 1100 pending) (`adapters.base.StreamStates`)."""
        up = self.connection.up
        return {"tws": up, "ib-servers": up and self.connection.linked}

    def quote_gate(self) -> MutableMapping[str, float]:
        """Return the gate the engine keeps current (`adapters.base.QuoteGating`)."""
        return self.market_data.gate

    def latest_quote(self, symbol: str) -> Quote | None:
        """Return the latest quote of `symbol` the gate held back, if usable and fresh."""
        return self.market_data.latest_quote(symbol)

    def held_back_bid(self, symbol: str) -> float | None:
        """Return, once, the bid held back before the latest quote that passed the gate."""
        return self.market_data.held_back_bid(symbol)

    def _malformed(self, source: str, message: object, exc: Exception) -> None:
        self.stats.malformed += 1
        self.stats.last_malformed = f"{source}: {exc}"[:200]
        log.warning(
            "ib_malformed_message",
            source=source,
            error=str(exc)[:200],
            message=repr(message)[:200],
            count=self.stats.malformed,
        )

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connection events -----------------------------------------------------------------

    def _on_down(self) -> None:
        if not self.ib.isConnected():
            self.market_data.forget_tickers()  # ib_async reset them with the connection

    def _on_link_restored(self, data_lost: bool) -> None:
        if data_lost:
            self._spawn(
                self.market_data.resubscribe("IB link restored, market data lost (1101)"),
                "ib-resubscribe",
            )
        self.request_resync(f"IB link restored ({1101 if data_lost else 1102})")

    async def _after_reconnect(self, reason: str) -> None:
        await self.market_data.resubscribe(reason)
        self.request_resync(reason)

    # -- Broker interface ------------------------------------------------------------------

    async def probe(self) -> None:
        """Connect once, without retrying (`base.Probing`); the connection is kept for
        `connect`. Raise a transient `BrokerError` while TWS/Gateway cannot be reached."""
        await self.connection.ensure()

    async def connect(self, sink: EventSink) -> None:
        """Connect (or keep the probe's connection) and deliver events to `sink`.

        When TWS/Gateway cannot be reached, the adapter keeps trying in the background: the
        feed is stale and no order leaves until it is connected.
        """
        self._sink = sink
        self.market_data.attach(sink)
        self.orders.attach(sink)
        try:
            await self.connection.ensure()
        except BrokerError as exc:
            if not exc.transient:
                raise
            log.warning("ib_connect_failed", error=str(exc)[:200], retrying=True)
        else:
            self.ib.reqMarketDataType(self.config.market_data_number)
        self.connection.supervise()

    async def close(self) -> None:
        """Stop reconnecting, the background tasks and the connection."""
        self._sink = None
        self.orders.close()
        await self._resync.stop()
        for task in self._tasks:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)
        await self.connection.close()

    async def subscribe(self, symbols: set[str]) -> None:
        """Stream quotes for exactly `symbols` (cancelling the rest: IB's line limits)."""
        await self.market_data.subscribe(symbols)

    async def submit(self, order: OrderRequest) -> OrderSnapshot:
        """Place `order`, or return the order IB already has for its intent id."""
        if not self.config.orders_allowed:
            raise BrokerError(
                "orders are disabled: read-only (dry run, live trading not enabled, "
                "or [ib] readonly = true)"
            )
        return await self.orders.place(order)

    async def get_order(self, client_order_id: str) -> OrderSnapshot | None:
        """Return the order tagged with this intent id, or None when IB has none."""
        view = await self.orders.find(client_order_id)
        return None if view is None else view.snapshot()

    async def cancel(self, client_order_id: str) -> None:
        """Ask IB to cancel the working order of this intent id."""
        await self.orders.cancel(client_order_id)

    async def positions(self) -> dict[tuple[str, str], Decimal]:
        """Return {(account, symbol): quantity} of the account's stock positions."""
        raw = await self.connection.request("positions", self.ib.reqPositionsAsync)
        out: dict[tuple[str, str], Decimal] = {}
        for position in raw:
            if position.account != self.account or position.contract.secType != "STK":
                continue
            try:
                quantity = dec(position.position, "position")
            except MalformedMessage as exc:
                self._malformed("position", position, exc)
                continue
            if quantity:
                out[(self.account, tlh_symbol(position.contract.symbol))] = quantity
        return out

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return today's (New York day) executions after `since`, oldest first.

        ``reqExecutions`` reaches back as far as TWS's Trade Log setting ("Show trades for"
        up to 7 days); earlier days' trades come from a Flex statement only (`tlh import
        --ib-flex`), under ids (``ib-flex:...``) unlike the daemon's (``ib:<execId>``), so
        an older execution is left out here rather than journaled twice.
        """
        today = self._now().astimezone(NEW_YORK).date()
        fills = await self.orders.fills_since(since)
        return [f for f in fills if f.at.astimezone(NEW_YORK).date() == today]

    async def open_orders(self) -> Sequence[OrderSnapshot]:
        """Return every working order of the account."""
        return await self.orders.open_orders()

    async def latest_quotes(self, symbols: Collection[str]) -> dict[str, Quote]:
        """Return the latest quote of each of `symbols` IB has one for (`QuoteSnapshots`)."""
        await self.connection.ensure()
        self.ib.reqMarketDataType(self.config.market_data_number)  # `connect` may not have run
        try:
            return await self.market_data.snapshots(symbols)
        except TimeoutError:
            raise BrokerError("market-data snapshot: no answer", transient=True) from None

    async def doctor_checks(self) -> Sequence[CheckResult]:
        """Run the adapter's checks for `tlh doctor` (`SelfChecks`)."""
        return await self_checks(self.config, self.connection)
