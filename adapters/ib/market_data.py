"""Stream bid/ask quotes for exactly the symbols the engine watches, and keep the tick path cheap.

Contracts are qualified once (`qualifyContractsAsync`) and kept with their conIds across
reconnects. `subscribe` requests streaming market data (`reqMktData`) for the symbols it
names and cancels the others: IB limits the number of simultaneous market-data lines (100 by
default), so only what the engine watches is subscribed. The market-data type
(``[ib] market_data_type``: live, frozen, delayed, delayed frozen) is requested after every
connect, before the subscriptions; after a reconnect, and after error 1101 (connectivity
restored, market data lost), every subscription is requested again.

Tick path: ib_async decodes the ticks of one TCP read into its `Ticker`s, then emits
`pendingTickersEvent` with those that changed. For each, the adapter looks the ticker's symbol
up and compares its bid (a float) with the engine's gate (`adapters.base.QuoteGating`): a bid
above the gate is only remembered; anything else becomes a `daemon.events.Quote` (floats, whose
`bid_decimal` gives exact decimals for decisions) unless its bid or ask is missing, NaN or not
positive, which is counted and dropped.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from ib_async import IB, Contract, Ticker

from adapters.base import EventSink
from adapters.ib.config import IBConfig
from adapters.ib.parsing import stock
from daemon.events import Quote

log = structlog.get_logger("tlh.ib.market_data")

INFINITY = float("inf")
QUALIFY_BATCH = 40
"""Contracts qualified per request batch (ib_async sends at most 45 requests a second)."""


@dataclass(slots=True)
class MarketDataStats:
    """Counters of the tick path."""

    quotes: int = 0
    bad_ticks: int = 0
    resubscribes: int = 0
    unknown_symbols: int = 0
    last_bad_tick: str = ""


class MarketData:
    """The adapter's market-data subscriptions and tick path."""

    def __init__(
        self,
        ib: IB,
        config: IBConfig,
        *,
        now: Callable[[], datetime],
        is_live: Callable[[], bool],
    ) -> None:
        self.ib = ib
        self.config = config
        self.stats = MarketDataStats()
        self.gate: dict[str, float] = {}
        self.contracts: dict[str, Contract] = {}  # symbol -> qualified contract (conId kept)
        self.wanted: set[str] = set()
        self._now = now
        self._is_live = is_live
        self._sink: EventSink | None = None
        self._tickers: dict[str, Ticker] = {}  # symbol -> its streaming ticker
        # id(ticker) -> symbol: `id` is a builtin, Ticker.__hash__ a Python call per tick; the
        # tickers are held in `_tickers` while their ids are here, so no id is reused.
        self._symbol_of: dict[int, str] = {}
        self._held: dict[str, float] = {}  # symbol -> the last bid the gate held back
        self._held_back_bids: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._warned: set[str] = set()
        ib.pendingTickersEvent += self._on_tickers

    def attach(self, sink: EventSink) -> None:
        """Deliver quotes to `sink` from now on."""
        self._sink = sink

    # -- subscriptions ---------------------------------------------------------------------

    async def contract(self, symbol: str) -> Contract:
        """Return the qualified contract of `symbol` (asked of IB once, then kept)."""
        known = self.contracts.get(symbol)
        if known is not None:
            return known
        await self.qualify([symbol])
        if symbol not in self.contracts:
            raise LookupError(f"IB knows no single US stock {symbol!r}")
        return self.contracts[symbol]

    async def qualify(self, symbols: Iterable[str]) -> None:
        """Qualify the contracts of `symbols` not known yet, in batches.

        ib_async paces requests (45 a second by default, TWS's limit is 50), so a few hundred
        symbols take seconds: each batch gets the request timeout, and what a batch learned
        is kept even when a later one times out.
        """
        missing = sorted(s for s in symbols if s not in self.contracts)
        for start in range(0, len(missing), QUALIFY_BATCH):
            batch = missing[start : start + QUALIFY_BATCH]
            results = await asyncio.wait_for(
                self.ib.qualifyContractsAsync(*(stock(s) for s in batch)),
                self.config.request_timeout,
            )
            for symbol, result in zip(batch, results, strict=True):
                if isinstance(result, Contract) and result.conId:
                    self.contracts[symbol] = result
                else:
                    self.stats.unknown_symbols += 1
                    log.warning("ib_contract_unknown", symbol=symbol)

    async def subscribe(self, symbols: set[str]) -> None:
        """Stream quotes for exactly `symbols` (when connected; else at the next connect)."""
        async with self._lock:
            self.wanted = set(symbols)
            if not self.ib.isConnected():
                return
            await self._sync()

    async def _sync(self) -> None:
        for symbol in [s for s in self._tickers if s not in self.wanted]:
            self._cancel(symbol)
        try:
            await self.qualify(self.wanted)
        except (TimeoutError, ConnectionError) as exc:
            log.warning("ib_qualify_failed", error=repr(exc)[:200])
        added = []
        for symbol in sorted(self.wanted - self._tickers.keys()):
            contract = self.contracts.get(symbol)
            if contract is None:
                continue
            ticker = self.ib.reqMktData(contract, "", False, False)
            self._tickers[symbol] = ticker
            self._symbol_of[id(ticker)] = symbol
            added.append(symbol)
        if added:
            log.info("ib_subscribed", added=added, symbols=len(self._tickers))

    def _cancel(self, symbol: str) -> None:
        ticker = self._tickers.pop(symbol, None)
        if ticker is None:
            return
        self._symbol_of.pop(id(ticker), None)
        self._held.pop(symbol, None)
        if self.ib.isConnected() and ticker.contract is not None:
            self.ib.cancelMktData(ticker.contract)

    async def resubscribe(self, reason: str) -> None:
        """Request every wanted subscription again (after a reconnect, or error 1101)."""
        async with self._lock:
            self.stats.resubscribes += 1
            for symbol in list(self._tickers):
                self._cancel(symbol)
            self._held.clear()
            if not self.ib.isConnected():
                return
            self.ib.reqMarketDataType(self.config.market_data_number)
            await self._sync()
            log.info("ib_resubscribed", reason=reason, symbols=len(self._tickers))

    def forget_tickers(self) -> None:
        """Drop the tickers of a connection that is gone (ib_async reset them)."""
        self._tickers.clear()
        self._symbol_of.clear()
        self._held.clear()

    # -- tick path -------------------------------------------------------------------------

    def _on_tickers(self, tickers: Collection[Ticker]) -> None:
        symbol_of, gate_of, held, inf = self._symbol_of.get, self.gate.get, self._held, INFINITY
        for ticker in tickers:
            symbol = symbol_of(id(ticker))
            if symbol is None:
                continue  # a snapshot request's ticker, not a subscription of ours
            bid = ticker.bid
            if bid > gate_of(symbol, inf):
                held[symbol] = bid
                continue
            self._pass(symbol, ticker)

    def _pass(self, symbol: str, ticker: Ticker) -> None:
        quote = self._quote(symbol, ticker)
        if quote is None:
            return
        prev = self._held.pop(symbol, None)
        if prev is not None:
            self._held_back_bids[symbol] = prev
        self.stats.quotes += 1
        if self._sink is not None:
            self._sink(quote)

    def _quote(self, symbol: str, ticker: Ticker, *, count: bool = True) -> Quote | None:
        bid, ask = ticker.bid, ticker.ask
        if not (bid > 0.0 and ask > 0.0 and math.isfinite(bid) and math.isfinite(ask)):
            if not count:
                return None
            self.stats.bad_ticks += 1
            self.stats.last_bad_tick = f"{symbol}: bid {bid!r} ask {ask!r}"
            if symbol not in self._warned:
                self._warned.add(symbol)
                log.info("ib_quote_dropped", symbol=symbol, bid=bid, ask=ask)
            return None
        at = ticker.time or self._now()
        size_bid, size_ask = ticker.bidSize, ticker.askSize
        return Quote(
            symbol,
            bid,
            ask,
            at,
            size_bid if size_bid == size_bid else 0.0,
            size_ask if size_ask == size_ask else 0.0,
        )

    def quote_gate(self) -> MutableMapping[str, float]:
        """Return the gate the engine keeps current (see `adapters.base.QuoteGating`)."""
        return self.gate

    def latest_quote(self, symbol: str) -> Quote | None:
        """Return the current quote of a held-back `symbol` if it is usable and fresh."""
        if symbol not in self._held:
            return None
        ticker = self._tickers.get(symbol)
        if ticker is None:
            return None
        quote = self._quote(symbol, ticker)
        return quote if quote is not None and self.fresh(quote) else None

    def held_back_bid(self, symbol: str) -> float | None:
        """Return, once, the bid held back before the latest quote that passed the gate."""
        return self._held_back_bids.pop(symbol, None)

    def fresh(self, quote: Quote) -> bool:
        """Return whether `quote` may price an order: the feed is live and it is recent."""
        if not self._is_live():
            return False
        return (self._now() - quote.at).total_seconds() <= self.config.stale_after

    def current(self, symbol: str) -> Quote | None:
        """Return the current quote of a subscribed `symbol`, or None."""
        ticker = self._tickers.get(symbol)
        return None if ticker is None else self._quote(symbol, ticker)

    async def snapshots(self, symbols: Collection[str]) -> dict[str, Quote]:
        """Return the latest quote of each of `symbols`: streamed ones as they stand, each of
        the others from a short-lived subscription, cancelled at its first usable quote (or
        after the request timeout, when the symbol is left out)."""
        out: dict[str, Quote] = {}
        others = []
        for symbol in symbols:
            quote = self.current(symbol)
            if quote is not None:
                out[symbol] = quote
            elif symbol not in self._tickers:
                others.append(symbol)
        if not others or not self.ib.isConnected():
            return out
        await self.qualify(others)
        known = [s for s in others if s in self.contracts]
        quotes = await asyncio.gather(*(self._first_quote(s) for s in known))
        out.update((q.symbol, q) for q in quotes if q is not None)
        return out

    async def _first_quote(self, symbol: str) -> Quote | None:
        contract = self.contracts[symbol]
        arrived: asyncio.Future[Quote] = asyncio.get_running_loop().create_future()

        def on_update(ticker: Ticker) -> None:
            quote = self._quote(symbol, ticker, count=False)
            if quote is not None and not arrived.done():
                arrived.set_result(quote)

        ticker = self.ib.reqMktData(contract, "", False, False)
        ticker.updateEvent += on_update
        try:
            return await asyncio.wait_for(arrived, self.config.request_timeout)
        except TimeoutError:
            return None
        finally:
            ticker.updateEvent -= on_update
            if self.ib.isConnected() and symbol not in self._tickers:
                self.ib.cancelMktData(contract)
