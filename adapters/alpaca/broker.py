"""The Alpaca broker adapter: the `Broker` interface over alpaca-py's REST client and streams.

* REST (`client.AlpacaRest`): orders, positions, activities, clock; one worker thread.
* Streams (`streams`): trade updates, stock quotes and crypto quotes, run inside the daemon's
  event loop, each under a `StreamSupervisor` that restarts it when it is unhealthy.
* Parsing (`parsing`): raw messages to events with exact `Decimal`s; anything malformed is
  logged, counted and dropped.
* Split calendar (`splits`): the splits Alpaca's corporate actions announce for the watched
  symbols, fetched on subscribe, once a day and on demand, answering `SplitCalendar` from a
  cache on the tick path; splits in effect are emitted as `SplitEvent`s and reported to the
  reconciliation (`SplitReports`), so the ledger follows Alpaca's positions.
* Report queries (`positions`, `open_orders`, `fills_since`, `get_order`) for the daemon's
  reconciliation (`daemon.reconciliation`), which this adapter asks for (`request_resync`)
  after every reconnect of the trade-updates stream; it never reaches into the engine.

Orders carry the intent id as ``client_order_id`` and exact decimal strings; after any error or
timeout the order is looked up by client order id before it is sent again. Alpaca relieves lots
FIFO and cannot sell a chosen lot, as its `capabilities` say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from adapters.alpaca import doctor
from adapters.alpaca.activities import normalise
from adapters.alpaca.client import AlpacaRest, RestError, split_actions
from adapters.alpaca.config import AlpacaConfig
from adapters.alpaca.parsing import (
    AlpacaOrder,
    MalformedMessage,
    MarketClock,
    is_crypto,
    order_body,
    parse_clock,
    parse_fill_activity,
    parse_order,
    parse_position,
    parse_quote,
    parse_trade_update,
)
from adapters.alpaca.settings import AlpacaSettings
from adapters.alpaca.splits import SplitBook, parse_splits, ratio_decimal
from adapters.alpaca.streams import (
    SDK_STREAM_LOGGERS,
    HookedCryptoStream,
    HookedStockStream,
    HookedTradingStream,
    StreamHooks,
    StreamSupervisor,
)
from adapters.base import (
    AccountActivity,
    BrokerError,
    BrokerOptions,
    Capabilities,
    CheckResult,
    EventSink,
    LotRelief,
    OrderRequest,
    OrderSnapshot,
    ResyncHandler,
)
from adapters.error_records import ErrorRecordCounter
from adapters.resync import ResyncRunner
from daemon.events import Event, Fill, Quote, SplitEvent
from ledger.conventions import LotMethod

log = structlog.get_logger("tlh.alpaca")

ORDERS_PAGE = 500
ACTIVITIES_PAGE = 100
RESOLVE_LIMIT = 50  # unknown order ids looked up one by one per fills_since call
SUBSCRIBE_TIMEOUT = 10.0
INFINITY = float("inf")
NEW_YORK = ZoneInfo("America/New_York")
SPLIT_LOOKBACK = timedelta(days=30)
"""How far back splits in effect are journaled: ones that passed while the daemon was down."""
SPLIT_LOOKAHEAD = timedelta(days=7)
"""How far ahead the split calendar is fetched (the engine asks up to 4 days past a move)."""
SPLIT_RETRY = 60.0
"""Seconds after a failed split-calendar fetch before one is asked for again on demand."""


def utc_now() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class AdapterStats:
    """Counters of what the adapter received and dropped."""

    quotes: int = 0
    stale_quotes: int = 0
    trade_updates: int = 0
    malformed: int = 0
    resyncs: int = 0
    last_malformed: str = ""


class AlpacaBroker:
    """An Alpaca account behind the daemon's `Broker` interface."""

    name = "alpaca"
    capabilities = Capabilities(
        lot_relief=LotRelief(specific_lots=False, method=LotMethod.FIFO),
        fractional=True,
        order_types=frozenset({"market", "limit"}),
        hours="US stocks in the regular session (9:30-16:00 ET); crypto around the clock",
        # GET /v2/orders:by_client_order_id finds an order of any day.
        order_lookup="all",
    )

    def __init__(self, config: AlpacaConfig, *, now: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.account = config.account
        self.stats = AdapterStats()
        self.sdk_errors = ErrorRecordCounter(SDK_STREAM_LOGGERS)
        self._now = now
        self._rest = AlpacaRest(
            config.api_key,
            config.secret_key,
            config.rest_url,
            paper=config.paper,
            timeout=config.rest_timeout,
        )
        self._sink: EventSink | None = None
        self._symbols: set[str] = set()
        self._client_ids: dict[str, str] = {}  # broker order id -> client order id
        self._order_ids: dict[str, str] = {}  # client order id -> broker order id
        self._unresolvable: set[str] = set()  # order ids Alpaca does not return
        self._clock: MarketClock | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._resync = ResyncRunner("alpaca")
        self._connected = False
        self._gate: dict[str, float] = {}
        self._latest: dict[str, Any] = {}  # symbol -> raw quote held back by the gate
        self._held_back_bids: dict[str, float] = {}  # symbol -> its bid, once a quote passed
        self._split_book = SplitBook()
        self._split_tasks: set[asyncio.Task[None]] = set()
        self._split_fetching: set[str] = set()
        self._split_retry_at = 0.0  # time.monotonic() before which no fetch is asked on demand
        self._split_failing = False  # logged once until the calendar answers again
        self._split_day: date | None = None  # the day of the last daily refresh
        self._splits_emitted: set[tuple[str, date]] = set()
        common: dict[str, Any] = {"auth_timeout": config.auth_timeout, "backoff": config.backoff}
        self.trading = StreamSupervisor(
            "trade-updates",
            self._trading_stream,
            on_authorized=self._on_trading_authorized,
            **common,
        )
        self.stocks = StreamSupervisor(
            "stock-data",
            self._stock_stream,
            data_timeout=config.data_timeout,
            market_open=self.market_is_open,
            **common,
        )
        self.crypto = StreamSupervisor(
            "crypto-data", self._crypto_stream, data_timeout=config.data_timeout, **common
        )
        self._on_stock_quote = self._quote_handler(self.stocks)
        self._on_crypto_quote = self._quote_handler(self.crypto)

    @classmethod
    def from_settings(
        cls, alpaca: AlpacaSettings, options: BrokerOptions, **overrides: Any
    ) -> AlpacaBroker:
        """Build the adapter from `[alpaca]` and the daemon's options (see
        `AlpacaConfig.from_settings`)."""
        config = AlpacaConfig.from_settings(alpaca, options, **overrides)
        log.info(
            "alpaca_configured",
            paper=config.paper,
            rest_url=config.rest_url,
            orders_allowed=config.orders_allowed,
            account=config.account,
        )
        return cls(config)

    # -- daemon wiring ---------------------------------------------------------------------

    def on_resync(self, handler: ResyncHandler) -> None:
        """Ask `handler` to reconcile after every reconnect (see `adapters.base.ResyncRequests`)."""
        self._resync.handler = handler

    def quote_is_fresh(self, quote: Quote) -> bool:
        """Return whether `quote` may still price an order: its feed is live and it is recent."""
        feed = self.crypto if is_crypto(quote.symbol) else self.stocks
        if feed.health.stale:
            return False
        return (self._now() - quote.at).total_seconds() <= self.config.stale_after

    def stream_states(self) -> dict[str, bool]:
        """Return whether each stream is authorized (`base.StreamStates`): trade updates
        always, a market-data stream while it runs (once it has symbols)."""
        trading = self.trading.health
        states = {trading.name: self._connected and trading.authorized}
        for feed in (self.stocks, self.crypto):
            if feed.running:
                states[feed.health.name] = feed.health.authorized
        return states

    # -- streams ---------------------------------------------------------------------------

    def _trading_stream(self, hooks: StreamHooks) -> HookedTradingStream:
        c = self.config
        stream = HookedTradingStream(
            hooks,
            c.api_key,
            c.secret_key,
            paper=c.paper,
            raw_data=True,
            url_override=c.trading_ws_url,
        )
        stream.subscribe_trade_updates(self._on_trade_update)
        return stream

    def _stock_stream(self, hooks: StreamHooks) -> HookedStockStream:
        from alpaca.data.enums import DataFeed

        c = self.config
        stream = HookedStockStream(
            hooks,
            c.api_key,
            c.secret_key,
            raw_data=True,
            feed=DataFeed(c.feed),
            url_override=c.stock_ws_url,
        )
        symbols = sorted(s for s in self._symbols if not is_crypto(s))
        if symbols:
            stream.subscribe_quotes(self._on_stock_quote, *symbols)
        return stream

    def _crypto_stream(self, hooks: StreamHooks) -> HookedCryptoStream:
        c = self.config
        stream = HookedCryptoStream(
            hooks, c.api_key, c.secret_key, raw_data=True, url_override=c.crypto_ws_url
        )
        symbols = sorted(s for s in self._symbols if is_crypto(s))
        if symbols:
            stream.subscribe_quotes(self._on_crypto_quote, *symbols)
        return stream

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def _malformed(self, source: str, message: object, exc: Exception) -> None:
        self.stats.malformed += 1
        self.stats.last_malformed = f"{source}: {exc}"[:200]
        log.warning(
            "alpaca_malformed_message",
            source=source,
            error=str(exc)[:200],
            message=repr(message)[:200],
            count=self.stats.malformed,
        )

    async def _on_trade_update(self, message: Any) -> None:
        self.trading.note_message()
        self.stats.trade_updates += 1
        try:
            update = parse_trade_update(message, self.account)
        except Exception as exc:  # never let a bad message reach, or stop, the daemon
            self._malformed("trade_updates", message, exc)
            return
        self._remember(update.order)
        if update.event not in ("new", "fill", "partial_fill"):
            log.info(
                "alpaca_trade_update",
                trade_event=update.event,
                client_order_id=update.order.client_order_id,
            )
        for event in update.events:
            self._emit(event)

    def _quote_handler(self, feed: StreamSupervisor) -> Callable[[Any], Awaitable[None]]:
        """Return the SDK handler of `feed`'s quotes.

        It runs for every quote of the stream: a quote bidding above its symbol's gate is
        only kept, unparsed, as the symbol's latest. Anything else, including every message
        that is not a well-formed quote, takes the full path (`_on_quote`).
        """
        latest, gate_of, inf = self._latest, self._gate.get, INFINITY

        async def on_quote(message: Any) -> None:
            feed.seen += 1
            try:
                symbol = message["S"]
                if message["bp"] > gate_of(symbol, inf):
                    latest[symbol] = message
                    return
            except Exception:  # not a well-formed quote: `_on_quote` says why
                pass
            self._on_quote(feed, message)

        return on_quote

    def quote_gate(self) -> MutableMapping[str, float]:
        """Return the gate the engine keeps current (see `adapters.base.QuoteGating`)."""
        return self._gate

    def latest_quote(self, symbol: str) -> Quote | None:
        """Return the latest held-back quote of `symbol` if it is well formed and fresh."""
        message = self._latest.get(symbol)
        if message is None:
            return None
        try:
            quote = parse_quote(message)
        except Exception:
            return None
        return quote if self.quote_is_fresh(quote) else None

    def held_back_bid(self, symbol: str) -> float | None:
        """Return, once, the bid held back before the latest quote that passed the gate."""
        return self._held_back_bids.pop(symbol, None)

    def _on_quote(self, feed: StreamSupervisor, message: Any) -> None:
        try:
            quote = parse_quote(message)
        except Exception as exc:
            self._malformed(feed.health.name, message, exc)
            return
        held = self._latest.pop(quote.symbol, None)  # the engine has this one, and it is newer
        if held is not None:
            self._held_back_bids[quote.symbol] = held["bp"]
        if (self._now() - quote.at).total_seconds() > self.config.stale_after:
            self.stats.stale_quotes += 1
            return
        self.stats.quotes += 1
        self._emit(quote)

    def _on_trading_authorized(self, count: int) -> None:
        if self._connected:
            self.request_resync(f"trade-updates stream authorized again (#{count})")

    def request_resync(self, reason: str) -> None:
        """Ask the daemon to reconcile (coalesced: one pass runs at a time)."""
        self.stats.resyncs += 1
        self._resync.request(reason)

    # -- market clock ----------------------------------------------------------------------

    async def clock(self) -> MarketClock:
        """Return the broker's market clock (and remember it for `market_is_open`)."""
        self._clock = parse_clock(await self._rest.get("/clock"))
        return self._clock

    def market_is_open(self) -> bool:
        """Return whether the market is open now, per the last clock (open when unknown)."""
        c = self._clock
        if c is None:
            return True
        now = self._now()
        if c.is_open:
            return now < c.next_close
        return now >= c.next_open

    async def _clock_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.clock_refresh)
            await self._refresh_clock()
            await self._refresh_splits()

    async def _refresh_clock(self) -> None:
        try:
            await self.clock()
        except Exception as exc:
            log.warning("alpaca_clock_failed", error=str(exc)[:200])

    # -- split calendar --------------------------------------------------------------------

    def _today(self) -> date:
        return self._now().astimezone(NEW_YORK).date()

    def _split_window(self) -> tuple[date, date]:
        today = self._today()
        return today - SPLIT_LOOKBACK, today + SPLIT_LOOKAHEAD

    def splits_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, Fraction]] | None:
        """Return `symbol`'s splits from `start` to `end` from the cache (`SplitCalendar`).

        Not known yet: None now, and the calendar is fetched in the background, so that a
        later call answers.
        """
        if is_crypto(symbol):
            return []
        known = self._split_book.between(symbol, start, end)
        if known is None:
            low, high = self._split_window()
            self._fetch_splits_soon({symbol}, min(start, low), max(end, high))
        return known

    async def splits_due(self, symbols: set[str]) -> list[SplitEvent]:
        """Return the splits of `symbols` in effect by today within `SPLIT_LOOKBACK`, oldest
        first, fetching what is not known (`SplitReports`); raise `BrokerError` when the
        calendar cannot be read."""
        stocks = {s for s in symbols if not is_crypto(s)}
        today = self._today()
        missing = {
            s for s in stocks if not self._split_book.covers(s, today - SPLIT_LOOKBACK, today)
        }
        if missing:
            await self._fetch_splits(missing, *self._split_window())
        due = self._splits_in_effect(stocks)
        self._splits_emitted.update((e.symbol, e.at.date()) for e in due)
        return due

    def _splits_in_effect(self, symbols: set[str]) -> list[SplitEvent]:
        today = self._today()
        due = [
            SplitEvent(
                symbol, ratio_decimal(ratio), datetime.combine(day, datetime.min.time(), NEW_YORK)
            )
            for symbol in symbols
            for day, ratio in self._split_book.between(symbol, today - SPLIT_LOOKBACK, today) or ()
        ]
        return sorted(due, key=lambda e: (e.at, e.symbol))

    def _fetch_splits_soon(self, symbols: set[str], start: date, end: date) -> None:
        """Fetch the splits of `symbols` in the background (one fetch per symbol at a time)."""
        wanted = {s for s in symbols if not is_crypto(s) and s not in self._split_fetching}
        if not wanted or time.monotonic() < self._split_retry_at:
            return
        self._split_fetching |= wanted
        task = asyncio.create_task(
            self._fetch_splits_task(wanted, start, end), name="alpaca-splits"
        )
        self._split_tasks.add(task)
        task.add_done_callback(self._split_tasks.discard)

    async def _fetch_splits_task(self, symbols: set[str], start: date, end: date) -> None:
        try:
            await self._fetch_splits(symbols, start, end)
        except BrokerError:
            pass  # logged by `_fetch_splits`; asked again on demand or at the daily refresh
        finally:
            self._split_fetching -= symbols

    async def _refresh_splits(self) -> None:
        """Fetch the watched symbols' splits once a day (retried each clock refresh)."""
        today = self._today()
        stocks = {s for s in self._symbols if not is_crypto(s)}
        if self._split_day == today or not stocks:
            return
        try:
            await self._fetch_splits(stocks, *self._split_window())
        except BrokerError:
            return
        self._split_day = today

    async def _fetch_splits(self, symbols: set[str], start: date, end: date) -> None:
        """Read the calendar of `symbols` into the cache and emit the splits now in effect."""
        c = self.config
        try:
            raw = await asyncio.to_thread(
                split_actions,
                c.api_key,
                c.secret_key,
                sorted(symbols),
                start,
                end,
                url=c.data_url,
                timeout=c.rest_timeout,
            )
            splits, bad = parse_splits(raw)
        except Exception as exc:
            self._split_retry_at = time.monotonic() + SPLIT_RETRY
            if not self._split_failing:
                self._split_failing = True
                log.warning(
                    "alpaca_split_calendar_failed",
                    symbols=sorted(symbols),
                    error=str(exc)[:200],
                    held="split-like moves stay held until the calendar answers",
                )
            raise BrokerError(f"split calendar: {str(exc)[:200]}", transient=True) from None
        if self._split_failing:
            self._split_failing = False
            log.info("alpaca_split_calendar_recovered")
        self._split_retry_at = 0.0
        for reason in bad:
            self._malformed("corporate_actions", reason, ValueError(reason))
        self._split_book.record(symbols, start, end, splits)
        for event in self._splits_in_effect(symbols & self._symbols):
            key = (event.symbol, event.at.date())
            if key not in self._splits_emitted:
                self._splits_emitted.add(key)
                log.info(
                    "alpaca_split", symbol=event.symbol, ratio=str(event.ratio), day=str(key[1])
                )
                self._emit(event)

    # -- Broker interface ------------------------------------------------------------------

    async def probe(self) -> None:
        """Read the account once: the API answers and accepts the keys (`base.Probing`)."""
        await self._rest.get_once("/account")

    async def connect(self, sink: EventSink) -> None:
        """Start the trade-updates stream and wait (up to `auth_timeout`) until authorized."""
        self._sink = sink
        self.sdk_errors.install()
        await self._refresh_clock()
        self._clock_task = asyncio.create_task(self._clock_loop(), name="alpaca-clock")
        self.trading.start()
        if not await self.trading.wait_authorized(self.config.auth_timeout):
            log.warning("alpaca_trading_stream_not_authorized", timeout=self.config.auth_timeout)
        self._connected = True

    async def close(self) -> None:
        """Stop the streams, the clock and the REST worker."""
        self._connected = False
        self._sink = None
        await self._resync.stop()
        for task in (self._clock_task, *self._split_tasks):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)
        for supervisor in (self.trading, self.stocks, self.crypto):
            await supervisor.stop()
        self.sdk_errors.remove()
        self._rest.close()

    async def subscribe(self, symbols: set[str]) -> None:
        """Stream quotes for exactly `symbols` (crypto pairs on the crypto stream)."""
        added, removed = symbols - self._symbols, self._symbols - symbols
        self._symbols = set(symbols)
        for feed, handler, crypto in (
            (self.stocks, self._on_stock_quote, False),
            (self.crypto, self._on_crypto_quote, True),
        ):
            more = sorted(s for s in added if is_crypto(s) == crypto)
            fewer = sorted(s for s in removed if is_crypto(s) == crypto)
            if not feed.running:
                if more:
                    feed.start()  # the factory registers every symbol before the task starts
                continue
            stream = feed.stream
            if not isinstance(stream, HookedStockStream | HookedCryptoStream):
                continue  # restarting: the new stream subscribes the full set
            if more:
                await feed.in_thread(
                    stream.subscribe_quotes, handler, *more, within=SUBSCRIBE_TIMEOUT
                )
            if fewer:
                await feed.in_thread(stream.unsubscribe_quotes, *fewer, within=SUBSCRIBE_TIMEOUT)
        self._fetch_splits_soon(added, *self._split_window())
        if added or removed:
            log.info(
                "alpaca_subscribed",
                symbols=len(self._symbols),
                added=sorted(added),
                removed=sorted(removed),
            )

    async def submit(self, order: OrderRequest) -> OrderSnapshot:
        """Place `order`, or return the order already placed under its client order id."""
        if not self.config.orders_allowed:
            raise BrokerError("orders are disabled (mode is not paper, or live not enabled)")
        body = order_body(order)
        for attempt in range(1, self.config.submit_attempts + 1):
            try:
                return self._snapshot(await self._rest.post("/orders", body))
            except RestError as exc:
                if not (exc.transient or exc.duplicate_client_id):
                    raise BrokerError(str(exc)) from None
                log.warning(
                    "alpaca_submit_unclear",
                    client_order_id=order.client_order_id,
                    error=str(exc),
                    attempt=attempt,
                )
            known = await self.get_order(order.client_order_id)
            if known is not None:
                return known
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        raise BrokerError(f"submit of {order.client_order_id}: outcome unknown", transient=True)

    async def get_order(self, client_order_id: str) -> OrderSnapshot | None:
        """Return the order with this client order id, or None when Alpaca has none."""
        try:
            raw = await self._rest.get(
                "/orders:by_client_order_id", {"client_order_id": client_order_id}
            )
        except RestError as exc:
            if exc.not_found:
                return None
            raise
        return self._snapshot(raw)

    async def cancel(self, client_order_id: str) -> None:
        """Ask Alpaca to cancel the order; an order already closed or unknown is left alone."""
        order_id = self._order_ids.get(client_order_id)
        if order_id is None:
            snapshot = await self.get_order(client_order_id)
            if snapshot is None:
                return
            order_id = snapshot.broker_order_id
        try:
            await self._rest.delete(f"/orders/{order_id}")
        except RestError as exc:
            if exc.status not in (404, 422):
                raise

    async def positions(self) -> dict[tuple[str, str], Decimal]:
        """Return {(account, symbol): quantity} as Alpaca holds them."""
        raw = await self._rest.get("/positions")
        return {(self.account, symbol): qty for symbol, qty in map(parse_position, raw) if qty}

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return the executions after `since` (all when None), oldest first."""
        params: dict[str, Any] = {"direction": "asc"}
        if since is not None:
            params["after"] = since.astimezone(UTC).isoformat()
        raw = await self._rest.pages("/account/activities/FILL", params, page_size=ACTIVITIES_PAGE)
        await self._resolve_order_ids(
            item.get("order_id") for item in raw if isinstance(item, dict)
        )
        fills = []
        for item in raw:
            try:
                fills.append(parse_fill_activity(item, self.account, self._client_ids).fill)
            except Exception as exc:
                self._malformed("activities", item, exc)
        fills.sort(key=lambda f: f.at)
        return fills

    async def activities_since(self, since: datetime | None) -> list[AccountActivity]:
        """Return the non-trade activities after `since` (all when None) that touch lots,
        normalised (`activities.normalise`), oldest first."""
        params: dict[str, Any] = {"direction": "asc", "category": "non_trade_activity"}
        if since is not None:
            params["after"] = since.astimezone(UTC).isoformat()
        raw = await self._rest.pages("/account/activities", params, page_size=ACTIVITIES_PAGE)
        found, bad = normalise(raw, self.config.spin_off_basis)
        for problem in bad:
            self._malformed("activities", problem, ValueError(problem))
        return found

    # -- more of the account ---------------------------------------------------------------

    async def open_orders(self) -> list[OrderSnapshot]:
        """Return every open order (paged: Alpaca returns at most 500 per call, 50 by default)."""
        params: dict[str, Any] = {"status": "open", "limit": ORDERS_PAGE, "direction": "asc"}
        seen: dict[str, OrderSnapshot] = {}
        while True:
            page = await self._rest.get("/orders", params)
            fresh = 0
            for raw in page:
                try:
                    order = parse_order(raw)
                except MalformedMessage as exc:
                    self._malformed("orders", raw, exc)
                    continue
                fresh += order.order_id not in seen
                seen[order.order_id] = self._remember(order)
            if len(page) < ORDERS_PAGE or not fresh:
                return list(seen.values())
            last = page[-1].get("submitted_at") or page[-1].get("created_at")
            # Step back a microsecond: orders stamped like the last one are re-read, not lost.
            moment = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
            params["after"] = (moment - timedelta(microseconds=1)).isoformat()

    async def account_info(self) -> dict[str, Any]:
        """Return ``GET /v2/account`` as raw JSON."""
        info = await self._rest.get("/account")
        if not isinstance(info, dict):
            raise BrokerError("account: unexpected response")
        return info

    async def cash_balance(self, account: str) -> Decimal:
        """Return the cash buys may spend now (`base.CashBalances`): the account's
        non-marginable buying power, which is its cash less what open buys hold (never margin);
        zero for an account that is not this broker's."""
        if account != self.account:
            return Decimal(0)
        info = await self.account_info()
        raw = info.get("non_marginable_buying_power", info.get("cash"))
        try:
            value = Decimal(str(raw))
        except ArithmeticError:
            raise BrokerError(f"account: cash is not a number: {raw!r}") from None
        if not value.is_finite():
            raise BrokerError(f"account: cash is not a number: {raw!r}")
        return max(value, Decimal(0))

    async def rest_get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET any trading REST path (raw JSON), through the adapter's worker thread."""
        return await self._rest.get(path, params)

    # -- tlh doctor ------------------------------------------------------------------------

    async def doctor_checks(self) -> Sequence[CheckResult]:
        """Run Alpaca's own checks for `tlh doctor` (`base.SelfChecks`; see `doctor`)."""
        return await doctor.doctor_checks(self)

    async def latest_quotes(self, symbols: Collection[str]) -> dict[str, Quote]:
        """Return the latest quote of each of `symbols` from REST (`base.QuoteSnapshots`):
        the market-data API, else each position's current price."""
        quotes, _sources = await doctor.quotes_and_sources(self, symbols)
        return quotes

    async def session_closes(self, start: date, end: date) -> dict[date, time_of_day]:
        """Return Alpaca's trading days and closes (`base.SessionCalendar`)."""
        return await doctor.session_closes(self, start, end)

    # -- order ids -------------------------------------------------------------------------

    def _snapshot(self, raw: object) -> OrderSnapshot:
        """Parse an order from REST; one we cannot read leaves its outcome unknown."""
        try:
            order = parse_order(raw)
        except MalformedMessage as exc:
            self._malformed("orders", raw, exc)
            raise BrokerError(f"unreadable order from Alpaca: {exc}", transient=True) from None
        return self._remember(order)

    def _remember(self, order: AlpacaOrder) -> OrderSnapshot:
        self._client_ids[order.order_id] = order.client_order_id
        self._order_ids[order.client_order_id] = order.order_id
        return order.snapshot()

    async def _resolve_order_ids(self, order_ids: Any) -> None:
        """Learn the client order ids of a few unknown orders (ours are known already)."""
        unknown = [
            o
            for o in dict.fromkeys(order_ids)
            if o and o not in self._client_ids and o not in self._unresolvable
        ]
        for order_id in unknown[:RESOLVE_LIMIT]:
            try:
                self._remember(parse_order(await self._rest.get(f"/orders/{order_id}")))
            except Exception as exc:
                if isinstance(exc, RestError) and exc.not_found:
                    self._unresolvable.add(order_id)
                log.info("alpaca_order_unresolved", order_id=order_id, error=str(exc)[:100])
