"""Protocol-level fake of Alpaca: trading REST, the trade_updates stream and market-data streams.

One aiohttp server on a free ``127.0.0.1`` port serves

* the trading REST API under ``/v2`` (what ``TradingClient(url_override=fake.rest_url)`` calls),
* market data's corporate actions (splits) at ``/v1/corporate-actions``
  (``CorporateActionsClient(url_override=fake.rest_url)``),
* the trading websocket at ``/stream`` (``TradingStream(url_override=fake.trading_ws_url)``),
* the market-data websockets at ``/v2/{iex,sip,test,...}`` and ``/v1beta3/crypto/{loc}``
  (``StockDataStream(url_override=fake.data_ws_url("iex"))``, ``CryptoDataStream``).

Tests drive it through the Python API on :class:`FakeAlpaca` (no HTTP control plane). The server
runs in the test's own event loop, so every blocking SDK call must go through
``asyncio.to_thread``; calling ``TradingClient`` methods directly from the loop deadlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import msgpack
from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from .state import (
    CODE_FORBIDDEN,
    CODE_NOT_FOUND,
    CODE_UNAUTHORIZED,
    NY,
    AccountState,
    ApiError,
    FakeOrder,
    FillPolicy,
    Number,
    Position,
    Quote,
    bad_request,
    dumps,
    fmt,
    iso,
    to_decimal,
)

log = logging.getLogger(__name__)

KEY = "FAKEPAPERKEY00000001"
SECRET = "fake-paper-secret-0000000000000000000001"

TRADING_PATH = "/stream"
STOCK_FEEDS = ("iex", "sip", "test", "delayed_sip", "boats", "overnight")
CRYPTO_LOCATIONS = ("us", "us-1", "eu-1")
STOCK_CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
CRYPTO_CHANNELS = ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars")
DATA_ERRORS = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    409: "insufficient subscription",
    410: "invalid subscribe action for this feed",
    500: "internal error",
}
BAR_CHANNELS = {"b": "bars", "u": "updatedBars", "d": "dailyBars"}

ConnKind = Literal["trading", "stock", "crypto"]
Payload = dict[str, Any]


def _wire_number(value: Number) -> float | int:
    """Convert a price or size to the msgpack/JSON number Alpaca sends (int when integral)."""
    number = to_decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


def _aware(moment: datetime | None, default: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (naive means UTC), or ``default``."""
    if moment is None:
        return default
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(eq=False)
class Connection:
    """One accepted websocket, its protocol state and its codec."""

    path: str
    kind: ConnKind
    ws: web.WebSocketResponse
    request: web.Request
    use_msgpack: bool
    authenticated: bool = False
    streams: set[str] = field(default_factory=set)
    subscriptions: dict[str, set[str]] = field(default_factory=dict)

    def encode(self, payload: Any) -> bytes:
        """Encode a message in this connection's codec (Timestamp extension or RFC 3339)."""
        if self.use_msgpack:

            def ext(value: Any) -> Any:
                if isinstance(value, datetime):
                    return msgpack.Timestamp.from_datetime(value)
                raise TypeError(f"cannot pack {type(value).__name__}")

            packed: bytes = msgpack.packb(payload, default=ext)
            return packed

        def text(value: Any) -> Any:
            if isinstance(value, datetime):
                return iso(value)
            raise TypeError(f"cannot serialise {type(value).__name__}")

        return json.dumps(payload, default=text, separators=(",", ":")).encode()

    async def send(self, payload: Any) -> bool:
        """Send one message as a binary frame; return ``False`` if the socket is gone."""
        return await self.send_frame(self.encode(payload))

    async def send_frame(self, frame: bytes | str) -> bool:
        """Send raw bytes (binary frame) or text (text frame); return ``False`` on failure."""
        if self.ws.closed:
            return False
        try:
            if isinstance(frame, str):
                await self.ws.send_str(frame)
            else:
                await self.ws.send_bytes(frame)
        except (ConnectionError, RuntimeError):
            return False
        return True

    def decode(self, message: Any) -> Any:
        """Decode a client frame: msgpack for binary frames on msgpack sockets, else JSON."""
        if message.type == WSMsgType.BINARY and self.use_msgpack:
            return msgpack.unpackb(message.data)
        return json.loads(message.data)

    def subscribed(self, channel: str, symbol: str) -> bool:
        """Tell whether this data connection wants ``symbol`` on ``channel``."""
        symbols = self.subscriptions.get(channel, set())
        return symbol in symbols or "*" in symbols

    def abort(self) -> None:
        """Drop the TCP connection without a websocket close handshake."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass
class _Failure:
    """A scripted REST failure: the next ``times`` matching requests get ``status``."""

    method: str
    path: str
    status: int
    times: int
    after_handler: bool
    message: str

    def response(self) -> web.Response:
        """Build the failure response."""
        body = {"code": self.status * 100_000, "message": self.message}
        return web.json_response(body, status=self.status, dumps=dumps)


@dataclass(frozen=True)
class RequestRecord:
    """One REST request the fake received (``body`` is the raw request body, maybe empty)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""


class FakeAlpaca:
    """A fake Alpaca account reachable by the real alpaca-py SDK on ``127.0.0.1``.

    Use as ``async with FakeAlpaca() as fake:`` or call :meth:`start` / :meth:`stop`.
    """

    KEY = KEY
    SECRET = SECRET

    def __init__(
        self,
        *,
        key: str = KEY,
        secret: str = SECRET,
        cash: Number = Decimal(100_000),
        auto_assets: bool = True,
        allow_short: bool = False,
        single_trading_connection: bool = False,
        single_data_connection: bool = False,
    ) -> None:
        """Configure the fake; nothing listens until :meth:`start`.

        ``single_trading_connection`` answers a second concurrent ``/stream`` upgrade with HTTP
        429 and ``single_data_connection`` answers a second authenticated connection on the same
        data path with error 406, as Alpaca does on most plans.
        """
        self.KEY = key
        self.SECRET = secret
        self.state = AccountState(cash=cash, auto_assets=auto_assets, allow_short=allow_short)
        self.single_trading_connection = single_trading_connection
        self.single_data_connection = single_data_connection
        self.requests: list[RequestRecord] = []
        self.submissions = 0
        self.connections: Counter[str] = Counter()
        self.trading_messages: list[Payload] = []
        self.data_messages: list[tuple[str, Any]] = []
        self.subscribe_messages: list[tuple[str, Payload]] = []
        self.delivered_trade_updates: list[Payload] = []
        self.rest_delay = 0.0
        self._failures: list[_Failure] = []
        self._conns: list[Connection] = []
        self._data_auth_error: tuple[int, int | None] | None = None
        self._data_silent = False
        self._data_silent_handshake = False
        self._trading_silent = False
        self._trade_queue: asyncio.Queue[tuple[str, Any]] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Bind `port` (default: a free one) on 127.0.0.1 and start serving."""
        app = web.Application(middlewares=[self._middleware])
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._trade_queue = asyncio.Queue()
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="fake-alpaca-dispatch")

    async def stop(self) -> None:
        """Close every websocket (close code 1001) and shut the server down."""
        for conn in list(self._conns):
            try:
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 1.0)
            except (TimeoutError, ConnectionError, RuntimeError):
                conn.abort()
        self._conns.clear()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAlpaca:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the server."""
        await self.stop()

    @property
    def port(self) -> int:
        """Return the bound port."""
        if self._port is None:
            raise RuntimeError("FakeAlpaca is not started")
        return self._port

    @property
    def rest_url(self) -> str:
        """Return the base URL for ``TradingClient(url_override=...)`` (no ``/v2``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def trading_ws_url(self) -> str:
        """Return the full URL for ``TradingStream(url_override=...)``."""
        return f"ws://127.0.0.1:{self.port}{TRADING_PATH}"

    def data_ws_url(self, feed: str = "iex") -> str:
        """Return the full URL for ``StockDataStream(url_override=...)`` on ``feed``."""
        return f"ws://127.0.0.1:{self.port}/v2/{feed}"

    @property
    def crypto_ws_url(self) -> str:
        """Return the full URL for ``CryptoDataStream(url_override=...)``."""
        return f"ws://127.0.0.1:{self.port}/v1beta3/crypto/us"

    # -------------------------------------------------------- introspection

    @property
    def orders(self) -> list[FakeOrder]:
        """Return every stored order in submission order."""
        return self.state.orders

    def order(self, id_or_client_order_id: str) -> FakeOrder:
        """Return one order by id or client order id (``KeyError`` if unknown)."""
        return self.state.find_order(id_or_client_order_id)

    def events_for(self, id_or_client_order_id: str) -> list[Payload]:
        """Return the ``trade_updates`` payloads emitted for one order, in order."""
        return self.order(id_or_client_order_id).events

    @property
    def trade_events(self) -> list[Payload]:
        """Return every ``trade_updates`` payload emitted (delivered or not), in order."""
        return self.state.trade_events

    @property
    def activities(self) -> list[Payload]:
        """Return every account activity (FILL and added ones), oldest first."""
        return self.state.activities

    @property
    def positions(self) -> dict[str, Position]:
        """Return the positions keyed by symbol."""
        return self.state.positions

    @property
    def cash(self) -> Decimal:
        """Return the cash balance."""
        return self.state.cash

    @property
    def subscriptions(self) -> Payload | None:
        """Return the last subscribe message received on any data socket."""
        return self.subscribe_messages[-1][1] if self.subscribe_messages else None

    def open_connections(self, path: str | None = None) -> int:
        """Return how many websockets are open now (on ``path``, or in total)."""
        return sum(1 for c in self._conns if path is None or c.path == path)

    # --------------------------------------------------------- account setup

    def set_cash(self, amount: Number) -> None:
        """Set the cash balance."""
        self.state.cash = to_decimal(amount)

    def set_position(
        self, symbol: str, qty: Number, avg_price: Number, *, lastday_price: Number | None = None
    ) -> None:
        """Set (qty 0: remove) a position with its average entry price."""
        self.state.set_position(symbol, qty, avg_price, lastday_price=lastday_price)

    def add_asset(self, symbol: str, **fields: Any) -> None:
        """Create or update an asset (``fractionable``, ``tradable``, ``asset_class``...)."""
        self.state.add_asset(symbol, **fields)

    def set_price(self, symbol: str, price: Number) -> None:
        """Set the last trade price (used for market fills and position valuation)."""
        self.state.last_prices[symbol.upper()] = to_decimal(price)

    def set_quote(
        self,
        symbol: str,
        bid: Number,
        ask: Number,
        *,
        bid_size: Number = 100,
        ask_size: Number = 100,
    ) -> None:
        """Set the latest quote without publishing it."""
        self.state.quotes[symbol.upper()] = Quote(
            to_decimal(bid), to_decimal(ask), to_decimal(bid_size), to_decimal(ask_size)
        )

    def set_time(self, moment: datetime | None) -> None:
        """Freeze the fake's clock at ``moment`` (naive means UTC); ``None`` follows real time."""
        self.state.frozen_now = None if moment is None else _aware(moment, moment)

    def set_market_open(self, is_open: bool | None) -> None:
        """Force ``GET /v2/clock`` ``is_open``; ``None`` derives it from the time."""
        self.state.market_open_override = is_open

    def add_holiday(self, day: date) -> None:
        """Close the market on ``day`` (clock and calendar skip it)."""
        self.state.holidays.add(day)

    def add_early_close(self, day: date, close: time = time(13, 0)) -> None:
        """Close the market early on ``day`` at ``close`` New York time."""
        self.state.early_closes[day] = close

    def load_exchange_calendar(
        self, name: str = "XNYS", start: date = date(2020, 1, 1), end: date = date(2029, 12, 31)
    ) -> None:
        """Take holidays and early closes for ``start``..``end`` from ``exchange_calendars``."""
        import exchange_calendars  # slow to import: only when asked for

        calendar = exchange_calendars.get_calendar(name, start=start, end=end)
        sessions = {ts.date() for ts in calendar.sessions}
        day = start
        while day <= end:
            if day.weekday() < 5 and day not in sessions:
                self.state.holidays.add(day)
            day += timedelta(days=1)
        for ts in calendar.early_closes:
            close = calendar.session_close(ts).tz_convert(NY)
            self.state.early_closes[ts.date()] = time(close.hour, close.minute)

    def add_split(self, symbol: str, new_rate: Number, old_rate: Number, ex_date: date) -> None:
        """Announce a split in the market-data corporate actions (``GET /v1/corporate-actions``,
        at most ``state.corporate_actions_page`` per page)."""
        self.state.add_split(symbol, new_rate, old_rate, ex_date)

    def add_activity(
        self, activity_type: str, *, when: datetime | None = None, **fields: Any
    ) -> Payload:
        """Add a non-trade account activity (SPLIT, DIV, ACATC, ...) and return it."""
        return self.state.add_activity(activity_type, when=when, **fields)

    def reorganize(
        self,
        activity_type: str,
        old: str,
        old_qty: Number,
        new: str,
        new_qty: Number,
        *,
        when: datetime | None = None,
    ) -> tuple[Payload, Payload]:
        """Book a reorganization as Alpaca does (``NC``, ``MA``, ``SPLIT``…): an entry removing
        the old position (negative ``qty``) and one adding the new, the same day; the positions
        follow (the new one at the old one's cost)."""
        held = self.state.positions.get(old)
        cost = held.cost_basis if held is not None else Decimal(0)
        removal = self.add_activity(activity_type, when=when, symbol=old, qty=f"-{old_qty}")
        addition = self.add_activity(activity_type, when=when, symbol=new, qty=str(new_qty))
        self.set_position(old, 0, 0)
        self.set_position(new, new_qty, cost / to_decimal(new_qty) if cost else 1)
        return removal, addition

    def set_fill_policy(
        self, policy: FillPolicy | str, symbol: str | None = None, *, reason: str | None = None
    ) -> None:
        """Set how new orders are routed, for one symbol or (``symbol=None``) by default."""
        chosen = FillPolicy(policy)
        if symbol is None:
            self.state.default_policy = chosen
            if reason is not None:
                self.state.default_reject_reason = reason
        else:
            self.state.symbol_policies[symbol.upper()] = (chosen, reason)

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        after_handler: bool = False,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``method path`` with HTTP ``status``.

        With ``after_handler`` the request is processed first (state changes stick) and only
        the response is replaced. ``path`` is the full path, e.g. ``"/v2/orders"``.
        """
        self._failures.append(
            _Failure(
                method=method.upper(),
                path=path,
                status=status,
                times=times,
                after_handler=after_handler,
                message=message or f"fake failure {status}",
            )
        )

    def fail_next_submit(
        self, status: int = 504, *, after_store: bool = True, times: int = 1
    ) -> None:
        """Make the next ``POST /v2/orders`` fail with ``status``, by default after storing it."""
        self.fail_next(
            "POST",
            "/v2/orders",
            status,
            times=times,
            after_handler=after_store,
            message="gateway timeout" if status == 504 else None,
        )

    # ------------------------------------------------------- order control

    async def fill(
        self, id_or_client_order_id: str, qty: Number | None = None, price: Number | None = None
    ) -> list[Payload]:
        """Execute ``qty`` (default: the rest) at ``price`` and deliver the event(s).

        Without ``price`` a limit order fills at its limit, a market order at the quote or
        last price. Positions, cash and FILL activities are updated.
        """
        order = self.order(id_or_client_order_id)
        fill_price = None if price is None else to_decimal(price)
        if fill_price is None:
            fill_price = order.limit_price or self.state.reference_price(order.symbol, order.side)
        if fill_price is None:
            raise ValueError(f"no price given and none known for {order.symbol}")
        events = self.state.fill(order, None if qty is None else to_decimal(qty), fill_price)
        await self._emit(events)
        return events

    async def cancel(self, id_or_client_order_id: str) -> list[Payload]:
        """Cancel an open order from the broker side and deliver ``canceled``."""
        events = self.state.cancel(self.order(id_or_client_order_id))
        await self._emit(events)
        return events

    async def expire(self, id_or_client_order_id: str) -> list[Payload]:
        """Expire an open order and deliver ``expired``."""
        events = self.state.expire(self.order(id_or_client_order_id))
        await self._emit(events)
        return events

    async def expire_day_orders(self) -> list[Payload]:
        """Expire every open DAY order, as at the close."""
        events: list[Payload] = []
        for order in self.orders:
            if order.is_open and order.time_in_force == "day":
                events += self.state.expire(order)
        await self._emit(events)
        return events

    async def reject(self, id_or_client_order_id: str, reason: str = "rejected") -> list[Payload]:
        """Reject an open order and deliver ``rejected`` (the reason stays on the order)."""
        events = self.state.reject(self.order(id_or_client_order_id), reason)
        await self._emit(events)
        return events

    async def send_trade_update(self, order_id: str, event: str, **fields: Any) -> Payload:
        """Deliver an arbitrary event (``pending_cancel``, ``restated``...) for an order as is."""
        order = self.order(order_id)
        payload = self.state.custom_event(order, event, **fields)
        await self._emit([payload])
        return payload

    async def flush(self) -> None:
        """Wait until every queued ``trade_updates`` event has been written to the sockets."""
        if self._trade_queue is not None:
            await self._trade_queue.join()

    # ----------------------------------------------------------- market data

    async def publish_quote(
        self,
        symbol: str,
        bid: Number,
        ask: Number,
        *,
        bid_size: Number = 100,
        ask_size: Number = 100,
        t: datetime | None = None,
        bid_exchange: str = "V",
        ask_exchange: str = "V",
        conditions: Iterable[str] = ("R",),
        tape: str = "C",
        feed: str | None = None,
    ) -> int:
        """Publish a quote to subscribed data sockets; return how many received it.

        The quote also becomes the fake's latest quote for matching.
        """
        self.set_quote(symbol, bid, ask, bid_size=bid_size, ask_size=ask_size)
        moment = _aware(t, self.state.now())

        def message(kind: ConnKind) -> Payload:
            if kind == "crypto":
                return {
                    "T": "q",
                    "S": symbol,
                    "bp": _wire_number(bid),
                    "bs": float(to_decimal(bid_size)),
                    "ap": _wire_number(ask),
                    "as": float(to_decimal(ask_size)),
                    "t": moment,
                }
            return {
                "T": "q",
                "S": symbol,
                "bx": bid_exchange,
                "bp": float(to_decimal(bid)),
                "bs": _wire_number(bid_size),
                "ax": ask_exchange,
                "ap": float(to_decimal(ask)),
                "as": _wire_number(ask_size),
                "c": list(conditions),
                "z": tape,
                "t": moment,
            }

        delivered = await self._publish("quotes", symbol, message, feed)
        await self._emit(self.state.on_market_data(symbol.upper()))
        return delivered

    async def publish_trade(
        self,
        symbol: str,
        price: Number,
        size: Number = 100,
        *,
        t: datetime | None = None,
        trade_id: int | None = None,
        exchange: str = "V",
        conditions: Iterable[str] = ("@",),
        tape: str = "C",
        taker_side: str = "B",
        feed: str | None = None,
    ) -> int:
        """Publish a trade print; it also becomes the last price. Return the recipients."""
        self.set_price(symbol, price)
        moment = _aware(t, self.state.now())
        ident = trade_id if trade_id is not None else len(self.data_messages) + 1

        def message(kind: ConnKind) -> Payload:
            if kind == "crypto":
                return {
                    "T": "t",
                    "S": symbol,
                    "p": float(to_decimal(price)),
                    "s": float(to_decimal(size)),
                    "t": moment,
                    "i": ident,
                    "tks": taker_side,
                }
            return {
                "T": "t",
                "S": symbol,
                "i": ident,
                "x": exchange,
                "p": float(to_decimal(price)),
                "s": _wire_number(size),
                "c": list(conditions),
                "z": tape,
                "t": moment,
            }

        delivered = await self._publish("trades", symbol, message, feed)
        await self._emit(self.state.on_market_data(symbol.upper()))
        return delivered

    async def publish_bar(
        self,
        symbol: str,
        open: Number,
        high: Number,
        low: Number,
        close: Number,
        volume: Number,
        *,
        t: datetime | None = None,
        trade_count: int = 1,
        vwap: Number | None = None,
        kind: Literal["b", "u", "d"] = "b",
        feed: str | None = None,
    ) -> int:
        """Publish a minute (``b``), updated (``u``) or daily (``d``) bar; return recipients."""
        moment = _aware(t, self.state.now())
        body = {
            "T": kind,
            "S": symbol,
            "o": float(to_decimal(open)),
            "h": float(to_decimal(high)),
            "l": float(to_decimal(low)),
            "c": float(to_decimal(close)),
            "v": _wire_number(volume),
            "t": moment,
            "n": trade_count,
            "vw": float(to_decimal(vwap if vwap is not None else close)),
        }
        return await self._publish(BAR_CHANNELS[kind], symbol, lambda _kind: body, feed)

    async def send_raw_data_frame(self, frame: bytes | str, *, path: str | None = None) -> int:
        """Send raw bytes (binary) or text to every open data socket (or those on ``path``)."""
        sent = 0
        for conn in self._data_conns(path):
            sent += await conn.send_frame(frame)
        return sent

    async def send_raw_trading_frame(self, frame: bytes | str) -> None:
        """Send raw bytes (binary) or text to every open trading socket, after queued events."""
        assert self._trade_queue is not None, "FakeAlpaca is not started"
        self._trade_queue.put_nowait(("raw", frame))
        await self._trade_queue.join()

    # ------------------------------------------------------- stream faults

    async def drop_trading_stream(self) -> int:
        """Abort every trading socket's TCP connection (no close frame); return the count."""
        return self._drop(c for c in self._conns if c.kind == "trading")

    async def drop_data_stream(self, path: str | None = None) -> int:
        """Abort every data socket (or those on ``path``) without a close frame."""
        return self._drop(self._data_conns(path))

    def auth_error_on_data(self, code: int | None = 406, *, times: int | None = None) -> None:
        """Answer data-socket auth with error ``code`` (then close); ``None`` clears it.

        ``times`` limits how many auth attempts fail (``None``: until cleared).
        """
        self._data_auth_error = None if code is None else (code, times)

    def set_trading_silent(self, silent: bool = True) -> None:
        """Make trading sockets send nothing: no ``authorization`` reply, no events."""
        self._trading_silent = silent

    def set_data_silent(self, silent: bool = True, *, handshake: bool = False) -> None:
        """Stop delivering market data while keeping data sockets open.

        With ``handshake`` the sockets also send nothing at all: no ``connected``,
        ``authenticated`` or ``subscription`` replies.
        """
        self._data_silent = silent
        self._data_silent_handshake = silent and handshake

    # ------------------------------------------------------------- waiting

    async def wait_until(
        self, predicate: Callable[[], bool], *, within: float = 5.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` every 10 ms until it is true; ``TimeoutError`` after ``within`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() >= deadline:
                raise TimeoutError(f"timed out after {within}s waiting for {what}")
            await asyncio.sleep(0.01)

    async def wait_for_trade_listener(self, *, within: float = 5.0) -> None:
        """Wait until a trading socket is authenticated and listening to ``trade_updates``."""
        await self.wait_until(
            lambda: any(
                c.kind == "trading" and c.authenticated and "trade_updates" in c.streams
                for c in self._conns
            ),
            within=within,
            what="a trade_updates listener",
        )

    async def wait_for_data_subscription(
        self,
        symbol: str,
        channel: str = "quotes",
        *,
        path: str | None = None,
        within: float = 5.0,
    ) -> None:
        """Wait until a data socket (on ``path``) has subscribed ``symbol`` on ``channel``."""
        await self.wait_until(
            lambda: any(c.subscribed(channel, symbol) for c in self._data_conns(path)),
            within=within,
            what=f"a {channel} subscription to {symbol}",
        )

    async def wait_for_connections(self, path: str, count: int, *, within: float = 5.0) -> None:
        """Wait until ``count`` websockets in total have been accepted on ``path``."""
        await self.wait_until(
            lambda: self.connections[path] >= count,
            within=within,
            what=f"{count} connections on {path}",
        )

    # ------------------------------------------------------------- internals

    def _data_conns(self, path: str | None) -> list[Connection]:
        """Return the open data connections, optionally only those on ``path``."""
        return [c for c in self._conns if c.kind != "trading" and (path is None or c.path == path)]

    def _drop(self, conns: Iterable[Connection]) -> int:
        """Abort the given connections and forget them."""
        dropped = 0
        for conn in list(conns):
            conn.abort()
            if conn in self._conns:
                self._conns.remove(conn)
            dropped += 1
        return dropped

    async def _publish(
        self,
        channel: str,
        symbol: str,
        message: Callable[[ConnKind], Payload],
        feed: str | None,
    ) -> int:
        """Send a market-data message to every data socket subscribed to it."""
        if self._data_silent:
            return 0
        delivered = 0
        for conn in self._data_conns(None):
            if feed is not None and not conn.path.endswith("/" + feed):
                continue
            if conn.authenticated and conn.subscribed(channel, symbol):
                delivered += await conn.send([message(conn.kind)])
        return delivered

    async def _emit(self, events: list[Payload]) -> None:
        """Queue ``trade_updates`` events and wait until they are written to the sockets."""
        if not events:
            return
        assert self._trade_queue is not None, "FakeAlpaca is not started"
        for event in events:
            self._trade_queue.put_nowait(("event", event))
        await self._trade_queue.join()

    def _queue_events(self, events: list[Payload]) -> None:
        """Queue ``trade_updates`` events without waiting (used by REST handlers)."""
        assert self._trade_queue is not None, "FakeAlpaca is not started"
        for event in events:
            self._trade_queue.put_nowait(("event", event))

    async def _dispatch_loop(self) -> None:
        """Write queued trade events and raw frames to the trading sockets, in order."""
        assert self._trade_queue is not None
        while True:
            kind, item = await self._trade_queue.get()
            try:
                conns = [] if self._trading_silent else self._conns
                for conn in [c for c in conns if c.kind == "trading"]:
                    if kind == "raw":
                        await conn.send_frame(item)
                    elif (
                        conn.authenticated
                        and "trade_updates" in conn.streams
                        and await conn.send({"stream": "trade_updates", "data": item})
                    ):
                        self.delivered_trade_updates.append(item)
            except Exception:  # keep dispatching whatever one socket did
                log.exception("fake alpaca: dispatching a trade update failed")
            finally:
                self._trade_queue.task_done()

    # ------------------------------------------------------------------ REST

    def _add_routes(self, app: web.Application) -> None:
        """Register the REST and websocket routes."""
        r = app.router
        r.add_get(TRADING_PATH, self._trading_ws)
        for feed in STOCK_FEEDS:
            r.add_get(f"/v2/{feed}", self._data_ws)
        for location in CRYPTO_LOCATIONS:
            r.add_get(f"/v1beta3/crypto/{location}", self._data_ws)
        r.add_post("/v2/orders", self._post_order)
        r.add_get("/v2/orders", self._get_orders)
        r.add_delete("/v2/orders", self._cancel_all_orders)
        r.add_get("/v2/orders:by_client_order_id", self._get_order_by_client_id)
        r.add_get("/v2/orders/{order_id}", self._get_order)
        r.add_patch("/v2/orders/{order_id}", self._replace_order)
        r.add_delete("/v2/orders/{order_id}", self._cancel_order)
        r.add_get("/v2/positions", self._get_positions)
        r.add_delete("/v2/positions", self._close_all_positions)
        r.add_get("/v2/positions/{symbol:.+}", self._get_position)
        r.add_delete("/v2/positions/{symbol:.+}", self._close_position)
        r.add_get("/v2/account", self._get_account)
        r.add_get("/v2/account/configurations", self._get_account_configurations)
        r.add_get("/v2/account/activities", self._get_activities)
        r.add_get("/v2/account/activities/{activity_type}", self._get_activities)
        r.add_get("/v2/clock", self._get_clock)
        r.add_get("/v2/calendar", self._get_calendar)
        r.add_get("/v1/corporate-actions", self._get_corporate_actions)
        r.add_get("/v2/assets", self._get_assets)
        r.add_get("/v2/assets/{symbol:.+}", self._get_asset)

    @staticmethod
    def _is_ws_path(path: str) -> bool:
        """Tell whether ``path`` is one of the websocket endpoints."""
        if path == TRADING_PATH or path.startswith("/v1beta3/crypto/"):
            return True
        return path.startswith("/v2/") and path[4:] in STOCK_FEEDS

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Log, authenticate, inject scripted failures and render errors as Alpaca JSON."""
        if self._is_ws_path(request.path):
            return await handler(request)
        body = await request.read() if request.can_read_body else b""
        self.requests.append(RequestRecord(request.method, request.path, dict(request.query), body))
        if request.method == "POST" and request.path == "/v2/orders":
            self.submissions += 1
        if self.rest_delay:
            await asyncio.sleep(self.rest_delay)
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        if not key or not secret:
            return self._error(ApiError(401, CODE_UNAUTHORIZED, "request is not authorized"))
        if key != self.KEY or secret != self.SECRET:
            return self._error(ApiError(403, CODE_FORBIDDEN, "forbidden."))
        failure = self._take_failure(request)
        if failure is not None and not failure.after_handler:
            return failure.response()
        try:
            response = await handler(request)
        except ApiError as exc:
            response = self._error(exc)
        except web.HTTPException as exc:
            code = CODE_NOT_FOUND if exc.status == 404 else exc.status * 100_000
            response = self._error(ApiError(exc.status, code, exc.reason.lower()))
        return failure.response() if failure is not None else response

    def _take_failure(self, request: web.Request) -> _Failure | None:
        """Pop the first scripted failure that matches the request."""
        for failure in self._failures:
            if failure.method == request.method and failure.path == request.path:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _error(exc: ApiError) -> web.Response:
        """Render an ``ApiError`` as Alpaca's JSON error body."""
        return web.json_response(exc.body(), status=exc.status, dumps=dumps)

    @staticmethod
    def _json(payload: Any, status: int = 200) -> web.Response:
        """Render a JSON response."""
        return web.json_response(payload, status=status, dumps=dumps)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[bytes, Payload, Payload]:
        """Return the raw body, the JSON as sent and the JSON with ``Decimal`` floats."""
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
            exact = json.loads(raw, parse_float=Decimal) if raw else {}
        except ValueError as exc:
            raise ApiError(400, 40010000, "request body format is invalid") from exc
        if not isinstance(body, dict):
            raise ApiError(400, 40010000, "request body format is invalid")
        return raw, body, exact

    async def _post_order(self, request: web.Request) -> web.Response:
        """Handle ``POST /v2/orders``."""
        raw, body, exact = await self._read_body(request)
        order = self.state.parse_order(body, raw, exact)
        self.state.store(order)
        snapshot = order.to_json()
        self._queue_events(self.state.route(order))
        return self._json(snapshot)

    async def _get_orders(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/orders``."""
        return self._json([o.to_json() for o in self.state.list_orders(request.query)])

    async def _get_order_by_client_id(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/orders:by_client_order_id``."""
        cid = request.query.get("client_order_id")
        if not cid:
            raise bad_request("client_order_id is required")
        return self._json(self.state.get_order_by_client_id(cid).to_json())

    async def _get_order(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/orders/{id}``."""
        return self._json(self.state.get_order(request.match_info["order_id"]).to_json())

    async def _cancel_order(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /v2/orders/{id}``: 204 and a ``canceled`` event."""
        order = self.state.get_order(request.match_info["order_id"])
        self._queue_events(self.state.cancel(order))
        return web.Response(status=204)

    async def _cancel_all_orders(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /v2/orders``: 207 with one entry per canceled order."""
        results = []
        for order in self.orders:
            if order.is_open:
                self._queue_events(self.state.cancel(order))
                results.append({"id": order.id, "status": 200, "body": order.to_json()})
        return self._json(results, status=207)

    async def _replace_order(self, request: web.Request) -> web.Response:
        """Handle ``PATCH /v2/orders/{id}``."""
        raw, body, exact = await self._read_body(request)
        order = self.state.get_order(request.match_info["order_id"])
        new, events = self.state.replace(order, exact, raw, body)
        snapshot = new.to_json()
        self._queue_events(events + self.state.route(new))
        return self._json(snapshot)

    async def _get_positions(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/positions``."""
        return self._json(self.state.positions_json())

    async def _get_position(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/positions/{symbol_or_asset_id}``."""
        position = self.state.find_position(request.match_info["symbol"])
        return self._json(self.state.position_json(position))

    def _close(self, position: Position, qty: Decimal) -> FakeOrder:
        """Submit the market order that closes ``qty`` of a position."""
        body = {
            "symbol": position.symbol,
            "qty": fmt(qty),
            "side": "sell" if position.qty > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
        }
        order = self.state.parse_order(body, dumps(body).encode(), body)
        self.state.store(order)
        return order

    async def _close_position(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /v2/positions/{symbol}`` (``qty`` or ``percentage`` optional)."""
        position = self.state.find_position(request.match_info["symbol"])
        qty = abs(position.qty)
        if "qty" in request.query:
            qty = to_decimal(request.query["qty"])
        elif "percentage" in request.query:
            qty = (qty * to_decimal(request.query["percentage"]) / 100).quantize(Decimal("1e-9"))
        order = self._close(position, qty)
        snapshot = order.to_json()
        self._queue_events(self.state.route(order))
        return self._json(snapshot)

    async def _close_all_positions(self, request: web.Request) -> web.Response:
        """Handle ``DELETE /v2/positions``: 207 with one entry per position."""
        if request.query.get("cancel_orders") == "true":
            for order in self.orders:
                if order.is_open:
                    self._queue_events(self.state.cancel(order))
        results = []
        for position in list(self.state.positions.values()):
            order = self._close(position, abs(position.qty))
            results.append({"symbol": position.symbol, "status": 200, "body": order.to_json()})
            self._queue_events(self.state.route(order))
        return self._json(results, status=207)

    async def _get_account(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/account``."""
        return self._json(self.state.account_json())

    async def _get_account_configurations(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/account/configurations``."""
        return self._json(
            {
                "dtbp_check": "entry",
                "trade_confirm_email": "all",
                "suspend_trade": False,
                "no_shorting": not self.state.allow_short,
                "fractional_trading": True,
                "max_margin_multiplier": "1",
                "max_options_trading_level": 0,
                "pdt_check": "entry",
                "ptp_no_exception_entry": False,
            }
        )

    async def _get_activities(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/account/activities[/{activity_type}]``."""
        activity_type = request.match_info.get("activity_type")
        return self._json(self.state.list_activities(request.query, activity_type))

    async def _get_clock(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/clock``."""
        return self._json(self.state.clock_json())

    async def _get_calendar(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/calendar``."""
        return self._json(self.state.calendar_json(request.query))

    async def _get_corporate_actions(self, request: web.Request) -> web.Response:
        """Handle market-data ``GET /v1/corporate-actions`` (splits only)."""
        return self._json(self.state.corporate_actions_json(request.query))

    async def _get_assets(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/assets`` (``status`` and ``asset_class`` filters)."""
        status = request.query.get("status")
        asset_class = request.query.get("asset_class")
        assets = [
            a.to_json()
            for a in self.state.assets.values()
            if (status is None or a.status == status)
            and (asset_class is None or a.asset_class == asset_class)
        ]
        return self._json(assets)

    async def _get_asset(self, request: web.Request) -> web.Response:
        """Handle ``GET /v2/assets/{symbol_or_asset_id}``."""
        return self._json(self.state.asset(request.match_info["symbol"]).to_json())

    # ------------------------------------------------------------ websockets

    async def _accept(self, request: web.Request, kind: ConnKind) -> Connection:
        """Upgrade the request and register the connection."""
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024, autoping=True)
        await ws.prepare(request)
        content_type = request.headers.get("Content-Type", "")
        conn = Connection(
            path=request.path,
            kind=kind,
            ws=ws,
            request=request,
            use_msgpack=content_type.startswith("application/msgpack"),
        )
        self._conns.append(conn)
        self.connections[request.path] += 1
        return conn

    async def _serve(self, conn: Connection, on_message: Callable[[Connection, Any], Any]) -> None:
        """Read client frames until the socket closes, then unregister it."""
        try:
            async for message in conn.ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    payload = conn.decode(message)
                except (ValueError, msgpack.UnpackException):
                    payload = None
                await on_message(conn, payload)
        finally:
            if conn in self._conns:
                self._conns.remove(conn)

    async def _trading_ws(self, request: web.Request) -> web.StreamResponse:
        """Serve the ``/stream`` trading websocket (JSON in binary frames, like paper)."""
        if self.single_trading_connection and any(c.kind == "trading" for c in self._conns):
            return web.Response(status=429, text="connection limit exceeded")
        conn = await self._accept(request, "trading")
        await self._serve(conn, self._on_trading_message)
        return conn.ws

    async def _on_trading_message(self, conn: Connection, payload: Any) -> None:
        """Handle ``authenticate`` and ``listen`` on the trading socket."""
        if not isinstance(payload, dict):
            await conn.send({"stream": "error", "data": {"error_message": "invalid syntax"}})
            return
        self.trading_messages.append(payload)
        if self._trading_silent:
            return
        action = payload.get("action")
        data = payload.get("data") or {}
        if action in {"authenticate", "auth"}:
            ok = data.get("key_id") == self.KEY and data.get("secret_key") == self.SECRET
            conn.authenticated = ok
            status = "authorized" if ok else "unauthorized"
            await conn.send(
                {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}
            )
            if not ok:
                await conn.ws.close()
        elif action == "listen":
            if not conn.authenticated:
                await conn.send(
                    {
                        "stream": "authorization",
                        "data": {"status": "unauthorized", "action": "listen"},
                    }
                )
                return
            wanted = data.get("streams") or []
            conn.streams = {s for s in wanted if s == "trade_updates"}
            await conn.send({"stream": "listening", "data": {"streams": sorted(conn.streams)}})
        else:
            await conn.send({"stream": "error", "data": {"error_message": "unrecognized action"}})

    async def _data_ws(self, request: web.Request) -> web.StreamResponse:
        """Serve a market-data websocket (msgpack with the SDK's Content-Type, else JSON)."""
        kind: ConnKind = "crypto" if request.path.startswith("/v1beta3/crypto/") else "stock"
        conn = await self._accept(request, kind)
        if not self._data_silent_handshake:
            await conn.send([{"T": "success", "msg": "connected"}])
        await self._serve(conn, self._on_data_message)
        return conn.ws

    async def _data_error(self, conn: Connection, code: int, *, close: bool = False) -> None:
        """Send ``[{"T": "error", ...}]`` and optionally close the socket."""
        await conn.send([{"T": "error", "code": code, "msg": DATA_ERRORS.get(code, "error")}])
        if close:
            await conn.ws.close()

    async def _on_data_message(self, conn: Connection, payload: Any) -> None:
        """Handle ``auth``, ``subscribe`` and ``unsubscribe`` on a data socket."""
        self.data_messages.append((conn.path, payload))
        if not isinstance(payload, dict):
            await self._data_error(conn, 400)
            return
        action = payload.get("action")
        if self._data_silent_handshake:
            if action == "auth":
                conn.authenticated = True
            elif action == "subscribe":
                self._apply_subscription(conn, payload)
            return
        if action == "auth":
            await self._data_auth(conn, payload)
        elif action in {"subscribe", "unsubscribe"}:
            if not conn.authenticated:
                await self._data_error(conn, 401)
                return
            self._apply_subscription(conn, payload)
            channels = CRYPTO_CHANNELS if conn.kind == "crypto" else STOCK_CHANNELS
            reply: Payload = {"T": "subscription"}
            for channel in channels:
                reply[channel] = sorted(conn.subscriptions.get(channel, set()))
            await conn.send([reply])
        else:
            await self._data_error(conn, 400)

    async def _data_auth(self, conn: Connection, payload: Payload) -> None:
        """Authenticate a data socket, honouring scripted errors and the connection limit."""
        if conn.authenticated:
            await self._data_error(conn, 403)
            return
        if self._data_auth_error is not None:
            code, times = self._data_auth_error
            if times is not None:
                self._data_auth_error = (code, times - 1) if times > 1 else None
            await self._data_error(conn, code, close=True)
            return
        if payload.get("key") != self.KEY or payload.get("secret") != self.SECRET:
            await self._data_error(conn, 402, close=True)
            return
        if self.single_data_connection and any(
            c.authenticated and c.path == conn.path for c in self._data_conns(conn.path)
        ):
            await self._data_error(conn, 406, close=True)
            return
        conn.authenticated = True
        await conn.send([{"T": "success", "msg": "authenticated"}])

    def _apply_subscription(self, conn: Connection, payload: Payload) -> None:
        """Add or remove symbols per channel; record subscribe messages."""
        subscribe = payload.get("action") == "subscribe"
        if subscribe:
            self.subscribe_messages.append((conn.path, payload))
        channels = CRYPTO_CHANNELS if conn.kind == "crypto" else STOCK_CHANNELS
        for channel in channels:
            symbols = payload.get(channel)
            if not isinstance(symbols, list):
                continue
            current = conn.subscriptions.setdefault(channel, set())
            if subscribe:
                current.update(str(s) for s in symbols)
            else:
                current.difference_update(str(s) for s in symbols)
        if conn.kind == "stock":
            # Alpaca subscribes corrections and cancel errors along with trades.
            trades = set(conn.subscriptions.get("trades", set()))
            conn.subscriptions["corrections"] = set(trades)
            conn.subscriptions["cancelErrors"] = set(trades)
