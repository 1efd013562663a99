"""Protocol-level fake TWS / IB Gateway on 127.0.0.1 for the real, unmodified ib_async.

``FakeTWS`` is an async context manager serving the TWS API socket protocol at server version
178 (``wire.SERVER_VERSION``) on a free ``127.0.0.1`` port. Tests drive and inspect it through
its Python API; it runs in the test's own event loop, as ib_async does.

Faithful to real TWS where ib_async depends on it (ib_async 2.1.0 ``wrapper.py``; TWS API
reference, https://interactivebrokers.github.io/tws-api/):

* ``openOrder`` precedes any ``execDetails``/``commissionReport`` of an order, so the client has
  linked the permId (``Wrapper.openOrder`` fills ``permId2Trade``) before the commission report
  arrives; ``Wrapper.commissionReport`` emits its event only for a trade found by permId.
* Live order messages go to the connection of the clientId that placed the order
  (``executions_commissions.html``: commission reports of all clients need the master client).
* ``completedOrder`` carries neither orderId nor clientId, only permId and orderRef
  (``Decoder.completedOrder``; ib_async keys such trades by permId).
* ``reqExecutions`` delivers, per execution of the current day matching the filter,
  ``execDetails`` then ``commissionReport``, then ``execDetailsEnd`` (``executions_commissions
  .html``, "Requesting Executions"). A dropped connection wipes ib_async's trades
  (``Wrapper.reset``); its startup fetch rebuilds them from these answers.
* A rejected order gets error 201 with the orderId as reqId (ib_async then marks the trade
  Cancelled); a cancel gets ``orderStatus`` Cancelled then notice 202; a clientId already
  connected gets error 326 and the socket is closed (``message_codes.html``).
* ``reqMktData`` answers ``marketDataType`` then the last quote as ``tickPrice`` bid/ask with
  sizes (ib_async's ``priceSizeTick``); after ``reqMarketDataType(3 or 4)`` the tick types are
  the delayed 66/67 (a real TWS would stream live data to an entitled account even then); a
  snapshot request ends with ``tickSnapshotEnd`` and keeps no subscription.
* State lives in ``TWSState`` and survives dropped connections and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from . import wire
from .state import (
    DEFAULT_ACCOUNT,
    ERROR_TEXTS,
    NY,
    REQUEST_NAMES,
    FakeExecution,
    FakeOrder,
    FillPolicy,
    Instrument,
    Number,
    Position,
    QuoteTick,
    RequestRecord,
    TWSState,
    to_decimal,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LIVE_TICKS = (1, 2)  # bid, ask (IB tick types)
DELAYED_TICKS = (66, 67)  # delayed bid, delayed ask
GREETING_CODES = (2104, 2106, 2158)
READ_ONLY_TEXT = (
    "Error validating request.-'bN' : cause - The API interface is currently in Read-Only mode."
)


@dataclass(eq=False)
class Session:
    """One accepted API connection and its subscriptions."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_id: int | None = None
    ready: bool = False
    market_data_type: int = 1
    tickers: dict[int, Instrument] = field(default_factory=dict)
    req_ids: dict[str, list[int]] = field(default_factory=dict)
    positions_subscribed: bool = False
    account_updates: str | None = None

    def write(self, data: bytes) -> None:
        """Queue bytes unless the socket is closing."""
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        """Wait until the write buffer drained (ignore a vanished peer)."""
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        self.writer.transport.abort()

    def tick_types(self) -> tuple[int, int]:
        """Return the bid/ask tick types of this session's market-data type."""
        return DELAYED_TICKS if self.market_data_type in (3, 4) else LIVE_TICKS


class FakeTWS:
    """A fake TWS/IB Gateway: start with ``async with FakeTWS(symbols=[...]) as tws``.

    Connect with ``IB().connectAsync(tws.host, tws.port, clientId=...)``.
    """

    def __init__(
        self,
        *,
        symbols: Iterable[str] = (),
        accounts: Iterable[str] = (DEFAULT_ACCOUNT,),
        greeting_codes: Iterable[int] = GREETING_CODES,
        exec_zone: str = "US/Eastern",
    ) -> None:
        self.state = TWSState(accounts=tuple(accounts))
        for symbol in symbols:
            self.state.add_instrument(symbol)
        self.greeting_codes = tuple(greeting_codes)
        self.exec_zone = exec_zone
        self.market_data_entitled = True
        self.connectivity = True
        self.read_only_api = False
        # TWS's Trade Log setting "Show trades for ..." (days): how far back reqExecutions
        # reaches (TWS API, "Executions and Commissions": by default since midnight).
        self.trade_log_days = 1
        #: Called with each message as it is read, before it is handled (benchmark hook).
        self.on_request: Callable[[RequestRecord], None] | None = None
        self._resting: dict[str, list[FakeOrder]] = {}
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._port = 0
        self._clock: datetime | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[int, Callable[[Session, list[str]], None]] = {
            1: self._req_mkt_data,
            2: self._cancel_mkt_data,
            3: self._place_order,
            4: self._cancel_order,
            5: self._req_open_orders,
            6: self._req_account_updates,
            7: self._req_executions,
            8: self._req_ids,
            9: self._req_contract_details,
            16: self._req_all_open_orders,
            17: self._req_managed_accts,
            49: self._req_current_time,
            59: self._req_market_data_type,
            61: self._req_positions,
            62: self._req_account_summary,
            64: self._cancel_positions,
            76: self._req_account_updates_multi,
            58: self._req_global_cancel,
            99: self._req_completed_orders,
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on ``127.0.0.1:port`` (0: a free port, kept across restarts)."""
        if not port:
            with socket.socket() as probe:
                probe.bind((HOST, 0))
                port = probe.getsockname()[1]
        self._port = port
        self._server = await asyncio.start_server(self._on_client, HOST, port)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        await self.go_down()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> FakeTWS:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def host(self) -> str:
        """Return the address the fake listens on."""
        return HOST

    @property
    def port(self) -> int:
        """Return the port the fake listens on (the same after a restart)."""
        return self._port

    @property
    def is_up(self) -> bool:
        """Tell whether the fake accepts connections."""
        return self._server is not None

    async def drop_connections(self) -> int:
        """Abort every API connection (TCP reset); keep listening. Return how many."""
        dropped = len(self.sessions)
        for session in list(self.sessions):
            session.abort()
        await self._wait_changed(lambda: not self.sessions, 5.0)
        return dropped

    async def go_down(self) -> None:
        """Stop listening and drop every connection: connects are refused until ``come_up``."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.drop_connections()
        if server is not None:
            await server.wait_closed()
        await self._notify()

    async def come_up(self) -> None:
        """Listen again on the same port, with all state kept."""
        if self._server is None:
            self._server = await asyncio.start_server(self._on_client, HOST, self._port)
        await self._notify()

    async def restart(self, down_for: float) -> None:
        """Simulate the nightly restart: down for ``down_for`` seconds, then up, state kept."""
        await self.go_down()
        await asyncio.sleep(down_for)
        await self.come_up()

    # ----------------------------------------------------------------- state set-up

    def add_contract(self, symbol: str, con_id: int | None = None, **fields: str) -> Instrument:
        """Make ``symbol`` known to reqContractDetails/reqMktData/placeOrder (conId allocated)."""
        return self.state.add_instrument(symbol, con_id, **fields)

    def con_id(self, symbol: str) -> int:
        """Return the conId of a known symbol."""
        return self.state.instruments[symbol].con_id

    def set_position(
        self, symbol: str, qty: Number, avg_cost: Number, account: str | None = None
    ) -> Position:
        """Set a position (the contract is registered if unknown)."""
        self.state.instrument(symbol)
        pos = self.state.position(account or self.state.accounts[0], symbol)
        pos.qty, pos.avg_cost = to_decimal(qty), to_decimal(avg_cost)
        return pos

    def set_fill_policy(self, policy: FillPolicy, symbol: str | None = None) -> None:
        """Set how placed orders are answered, for all symbols or one."""
        if symbol is None:
            self.state.fill_policy = policy
        else:
            self.state.symbol_policies[symbol] = policy

    def set_time(self, moment: datetime | None) -> None:
        """Freeze the fake's clock (aware datetime) or return to the wall clock with ``None``."""
        self._clock = moment

    def now(self) -> datetime:
        """Return the fake's current time (UTC)."""
        return self._clock.astimezone(UTC) if self._clock else datetime.now(UTC)

    def set_read_only_api(self, read_only: bool) -> None:
        """Mimic the "Read-Only API" setting: every placeOrder gets error 321."""
        self.read_only_api = read_only

    def set_market_data_entitled(self, entitled: bool) -> None:
        """Without a subscription live/frozen requests get error 354; delayed ones still work."""
        self.market_data_entitled = entitled

    def add_execution(
        self,
        symbol: str,
        side: str,
        shares: Number,
        price: Number,
        *,
        moment: datetime,
        order_ref: str = "",
        account: str | None = None,
        commission: Number = "1.00",
    ) -> FakeExecution:
        """Seed an execution (e.g. yesterday's, which reqExecutions must not return)."""
        inst = self.state.instrument(symbol)
        perm_id = self.state.new_perm_id()
        qty = to_decimal(shares)
        ex = FakeExecution(
            exec_id=self.state.new_exec_id(perm_id),
            order_id=0,
            client_id=0,
            perm_id=perm_id,
            account=account or self.state.accounts[0],
            instrument=inst,
            side="BOT" if side.upper() in ("BUY", "BOT") else "SLD",
            shares=qty,
            price=to_decimal(price),
            time=moment,
            exchange="ISLAND",
            cum_qty=qty,
            avg_price=to_decimal(price),
            order_ref=order_ref,
            commission=to_decimal(commission),
            realized_pnl=None,
        )
        self.state.executions.append(ex)
        return ex

    # ----------------------------------------------------------------- inspection

    @property
    def orders(self) -> list[FakeOrder]:
        """Return every order received, oldest first."""
        return list(self.state.orders)

    @property
    def executions(self) -> list[FakeExecution]:
        """Return every execution, oldest first."""
        return list(self.state.executions)

    @property
    def requests(self) -> list[RequestRecord]:
        """Return every message received from clients, oldest first."""
        return list(self.state.requests)

    def requests_named(self, name: str) -> list[RequestRecord]:
        """Return the received messages of one kind (``"placeOrder"``, ``"reqExecutions"`` …)."""
        return [r for r in self.state.requests if r.name == name]

    def positions(self, account: str | None = None) -> dict[str, Position]:
        """Return the non-flat positions of an account by symbol."""
        acct = account or self.state.accounts[0]
        return {s: p for (a, s), p in self.state.positions.items() if a == acct and p.qty != 0}

    def order(self, key: str | int) -> FakeOrder:
        """Find an order by orderRef (str) or by permId/orderId (int; permId wins)."""
        for o in reversed(self.state.orders):
            if (isinstance(key, str) and o.order_ref == key) or o.perm_id == key:
                return o
        for o in reversed(self.state.orders):
            if o.order_id == key:
                return o
        raise KeyError(key)

    def connected_clients(self) -> list[int]:
        """Return the clientIds of the ready sessions."""
        return [s.client_id for s in self.sessions if s.ready and s.client_id is not None]

    def subscribed_symbols(self) -> set[str]:
        """Return the symbols with a live market-data subscription on any session."""
        return {i.symbol for s in self.sessions for i in s.tickers.values()}

    async def wait_until(self, predicate: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds after a request or connection change."""
        await self._wait_changed(predicate, within)

    async def wait_for_request(
        self, name: str, count: int = 1, *, within: float = 5.0
    ) -> RequestRecord:
        """Wait for the ``count``-th request named ``name``; return it."""
        await self._wait_changed(lambda: len(self.requests_named(name)) >= count, within)
        return self.requests_named(name)[count - 1]

    async def wait_for_clients(self, count: int = 1, *, within: float = 5.0) -> None:
        """Wait until ``count`` sessions finished the API handshake."""
        await self._wait_changed(lambda: len(self.connected_clients()) >= count, within)

    async def wait_for_subscription(self, symbol: str, *, within: float = 5.0) -> None:
        """Wait until some session streams ``symbol``."""
        await self._wait_changed(lambda: symbol in self.subscribed_symbols(), within)

    # ----------------------------------------------------------------- pushing data

    async def publish_quote(
        self,
        symbol: str,
        bid: Number,
        ask: Number,
        bid_size: Number = 100,
        ask_size: Number = 100,
    ) -> int:
        """Set the quote of ``symbol`` and stream it to subscribers; return frames written."""
        tick = QuoteTick(symbol, float(bid), float(ask), float(bid_size), float(ask_size))
        return await self.publish_ticks((tick,))

    async def publish_ticks(self, ticks: Iterable[QuoteTick]) -> int:
        """Stream many quotes in one write per session (bulk path for benchmarks).

        Each quote becomes a bid and an ask ``tickPrice`` frame per subscription; the return
        value counts those frames. Quotes of unsubscribed symbols only update the state.
        """
        batch = list(ticks)
        quotes = self.state.quotes
        for tick in batch:
            quotes[tick.symbol] = tick
        written = 0
        if not self.connectivity:
            return written
        for session in self.sessions:
            if not session.req_ids:
                continue
            types = session.tick_types()
            req_ids = session.req_ids
            chunks = [
                wire.quote_frames(req_id, types, tick)
                for tick in batch
                for req_id in req_ids.get(tick.symbol, ())
            ]
            if chunks:
                session.write(b"".join(chunks))
                written += 2 * len(chunks)
        if self._resting:
            for symbol in {t.symbol for t in batch} & self._resting.keys():
                self._cross(symbol)
        await self._drain_all()
        return written

    def encode_ticks(self, ticks: Iterable[QuoteTick], client_id: int) -> bytes:
        """Pre-encode quotes for one client's subscriptions (send later with ``send_bytes``)."""
        session = self._session_of(client_id)
        types = session.tick_types()
        return b"".join(
            wire.quote_frames(req_id, types, tick)
            for tick in ticks
            for req_id in session.req_ids.get(tick.symbol, ())
        )

    async def send_error(self, code: int, message: str | None = None, *, req_id: int = -1) -> int:
        """Send error/notice ``code`` to every ready session; return how many got it."""
        data = wire.error(req_id, code, message or ERROR_TEXTS.get(code, f"error {code}"))
        return await self.send_bytes(data)

    async def lose_connectivity(self) -> int:
        """Send 1100 (TWS lost its link to IB): the socket stays up, market data pauses."""
        self.connectivity = False
        return await self.send_error(1100)

    async def restore_connectivity(self, *, data_lost: bool = False) -> int:
        """Send 1102 (restored, data kept) or 1101 (restored, data lost).

        On 1101 TWS has dropped every market-data and account subscription: the client must
        request them again (IB API "Message Codes" 1101).
        """
        self.connectivity = True
        if data_lost:
            for session in self.sessions:
                session.tickers.clear()
                session.req_ids.clear()
                session.account_updates = None
        return await self.send_error(1101 if data_lost else 1102)

    async def send_fields(self, *fields: wire.Field) -> int:
        """Send one framed message made of arbitrary fields (malformed ones included)."""
        return await self.send_bytes(wire.frame(*fields))

    async def send_bytes(self, data: bytes, client_id: int | None = None) -> int:
        """Write raw bytes to every ready session (or one client's); return how many."""
        targets = [s for s in self.sessions if s.ready and client_id in (None, s.client_id)]
        for session in targets:
            session.write(data)
        await self._drain_all()
        return len(targets)

    # ----------------------------------------------------------------- order control

    async def fill(
        self, key: FakeOrder | str | int, qty: Number | None = None, price: Number | None = None
    ) -> FakeExecution:
        """Fill a working order (all that remains by default) at ``price`` or its policy price."""
        order = key if isinstance(key, FakeOrder) else self.order(key)
        if order.is_done:
            raise ValueError(f"order {order.perm_id} is {order.status}")
        fill_qty = order.remaining if qty is None else to_decimal(qty)
        fill_price = self._fill_price(order) if price is None else to_decimal(price)
        if fill_price is None:
            raise ValueError(f"no price to fill order {order.perm_id}: pass price=")
        ex = self._execute(order, fill_qty, fill_price)
        await self._drain_all()
        return ex

    async def cancel(self, key: FakeOrder | str | int) -> FakeOrder:
        """Cancel a working order from the server side (e.g. a DAY order at the close)."""
        order = key if isinstance(key, FakeOrder) else self.order(key)
        self._cancel(order)
        await self._drain_all()
        return order

    # ----------------------------------------------------------------- connection handling

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer)
        self.sessions.append(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if await self._handshake(session):
                await self._serve(session)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.sessions.remove(session)
            if task is not None:
                self._tasks.discard(task)
            if not writer.is_closing():
                writer.transport.abort()
            await self._notify()

    async def _handshake(self, session: Session) -> bool:
        """Read ``API\\0`` + version range; answer server version and connection time."""
        if await session.reader.readexactly(4) != b"API\0":
            return False
        versions = wire.split_fields(await self._read_frame(session))[0].split(" ")[0]
        low, _, high = versions.lstrip("v").partition("..")
        if not int(low) <= wire.SERVER_VERSION <= int(high or low):
            return False
        stamp = self.now().astimezone(NY)
        session.write(wire.frame(wire.SERVER_VERSION, f"{stamp:%Y%m%d %H:%M:%S} US/Eastern"))
        return True

    @staticmethod
    async def _read_frame(session: Session) -> bytes:
        size = struct.unpack(">I", await session.reader.readexactly(4))[0]
        return await session.reader.readexactly(size)

    async def _serve(self, session: Session) -> None:
        while True:
            fields = wire.split_fields(await self._read_frame(session))
            if not fields:
                continue
            msg_id = int(fields[0])
            name = REQUEST_NAMES.get(msg_id, f"msg{msg_id}")
            record = RequestRecord(session.client_id, msg_id, name, tuple(fields))
            self.state.requests.append(record)
            if self.on_request is not None:
                self.on_request(record)
            if msg_id == 71:
                if not self._start_api(session, int(fields[2])):
                    session.writer.close()  # flush error 326, then close
                    return
            elif session.ready and msg_id in self._handlers:
                try:
                    self._handlers[msg_id](session, fields)
                except (IndexError, ValueError):
                    log.exception("fake TWS could not handle %s", fields)
                    session.write(
                        wire.error(-1, 320, "Server error when reading an API client request.")
                    )
            await session.drain()
            await self._notify()

    def _start_api(self, session: Session, client_id: int) -> bool:
        """Answer startApi: nextValidId and managedAccounts, or error 326 for a taken clientId."""
        if client_id in self.connected_clients():
            session.write(wire.error(-1, 326, ERROR_TEXTS[326]))
            return False
        session.client_id = client_id
        session.ready = True
        session.write(wire.frame(wire.NEXT_VALID_ID, 1, self._next_valid_id()))
        session.write(wire.frame(wire.MANAGED_ACCTS, 1, ",".join(self.state.accounts)))
        for code in self.greeting_codes:
            session.write(wire.error(-1, code, ERROR_TEXTS.get(code, "")))
        return True

    def _next_valid_id(self) -> int:
        used = [o.order_id for o in self.state.orders]
        return max([self.state.next_order_id, *(i + 1 for i in used)])

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait_changed(self, predicate: Callable[[], bool], within: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)

    async def _drain_all(self) -> None:
        for session in list(self.sessions):
            await session.drain()

    def _session_of(self, client_id: int) -> Session:
        for session in self.sessions:
            if session.ready and session.client_id == client_id:
                return session
        raise KeyError(f"no session for clientId {client_id}")

    def _order_sessions(self, order: FakeOrder) -> list[Session]:
        """Return the sessions that receive live messages about ``order`` (its own client)."""
        return [s for s in self.sessions if s.ready and s.client_id == order.client_id]

    # ----------------------------------------------------------------- contracts and data

    def _find_instrument(self, con_id: str, symbol: str) -> Instrument | None:
        if con_id and int(con_id):
            return self.state.by_con_id(int(con_id))
        return self.state.instruments.get(symbol)

    def _req_contract_details(self, session: Session, f: list[str]) -> None:
        # [9, 8, reqId, conId, symbol, secType, lastTrade, strike, right, multiplier, exchange,
        #  primaryExchange, currency, localSymbol, tradingClass, includeExpired, secIdType, ...]
        req_id = int(f[2])
        inst = self._find_instrument(f[3], f[4])
        sec_type, currency = f[5], f[12]
        if (
            inst is None
            or (sec_type and sec_type != inst.sec_type)
            or (currency and currency != inst.currency)
        ):
            session.write(wire.error(req_id, 200, ERROR_TEXTS[200]))
            return
        session.write(wire.contract_details(req_id, inst, f[10] or "SMART"))
        session.write(wire.frame(wire.CONTRACT_DATA_END, 1, req_id))

    def _req_market_data_type(self, session: Session, f: list[str]) -> None:
        session.market_data_type = int(f[2])

    def _req_mkt_data(self, session: Session, f: list[str]) -> None:
        # [1, 11, reqId, conId, symbol, secType, ..., exchange(10), ..., dnc flag(15), ...]
        req_id = int(f[2])
        inst = self._find_instrument(f[3], f[4])
        if inst is None:
            session.write(wire.error(req_id, 200, ERROR_TEXTS[200]))
            return
        if session.market_data_type in (1, 2) and not self.market_data_entitled:
            session.write(wire.error(req_id, 354, ERROR_TEXTS[354]))
            return
        session.write(wire.frame(wire.MARKET_DATA_TYPE, 1, req_id, session.market_data_type))
        quote = self.state.quotes.get(inst.symbol)
        if quote is not None:
            session.write(wire.quote_frames(req_id, session.tick_types(), quote))
        if f[17] == "1":  # snapshot: the current quote, then tickSnapshotEnd, no subscription
            session.write(wire.frame(wire.TICK_SNAPSHOT_END, 1, req_id))
            return
        session.tickers[req_id] = inst
        session.req_ids.setdefault(inst.symbol, []).append(req_id)

    def _cancel_mkt_data(self, session: Session, f: list[str]) -> None:
        inst = session.tickers.pop(int(f[2]), None)
        if inst is not None:
            ids = session.req_ids.get(inst.symbol, [])
            ids.remove(int(f[2]))
            if not ids:
                del session.req_ids[inst.symbol]

    # ----------------------------------------------------------------- orders

    def _place_order(self, session: Session, f: list[str]) -> None:
        # [3, orderId, conId, symbol, secType, lastTrade, strike, right, multiplier, exchange,
        #  primaryExchange, currency, localSymbol, tradingClass, secIdType, secId, action,
        #  totalQuantity, orderType, lmtPrice, auxPrice, tif, ocaGroup, account, openClose,
        #  origin, orderRef, transmit, ...]  (ib_async Client.placeOrder)
        order_id = int(f[1])
        assert session.client_id is not None
        if self.read_only_api:
            session.write(wire.error(order_id, 321, READ_ONLY_TEXT))
            return
        existing = self._client_order(session, order_id)
        if existing is not None and not existing.is_done:
            self._modify(existing, f)
            return
        inst = self._find_instrument(f[2], f[3])
        if inst is None:
            session.write(wire.error(order_id, 200, ERROR_TEXTS[200]))
            return
        order = FakeOrder(
            order_id=order_id,
            client_id=session.client_id,
            perm_id=self.state.new_perm_id(),
            account=f[23] or self.state.accounts[0],
            instrument=inst,
            action=f[16],
            qty=to_decimal(f[17]),
            order_type=f[18],
            lmt_price=to_decimal(f[19]) if f[19] else None,
            tif=f[21],
            order_ref=f[26],
            raw_fields=tuple(f),
        )
        self.state.orders.append(order)
        policy = self.state.policy_for(inst.symbol)
        if policy.mode == "reject":
            order.status = "Inactive"
            self._complete(order, "Rejected")
            session.write(wire.error(order_id, policy.reject_code, policy.reject_reason))
            return
        order.status = "Submitted"
        session.write(wire.open_order(order))
        session.write(wire.order_status(order))
        price = self._fill_price(order)
        if policy.mode == "marketable":
            self._resting.setdefault(inst.symbol, []).append(order)
            self._cross(inst.symbol)
        elif price is not None and policy.mode == "fill":
            self._execute(order, order.qty, price)
        elif price is not None and policy.mode == "partial":
            self._execute(order, min(policy.partial_qty, order.qty), price)

    def _cross(self, symbol: str) -> None:
        """Fill the resting "marketable" orders of ``symbol`` whose limit crosses the quote."""
        quote = self.state.quotes.get(symbol)
        waiting = self._resting.get(symbol, [])
        for order in list(waiting):
            if order.is_done:
                waiting.remove(order)
                continue
            if quote is None:
                continue
            buy = order.action == "BUY"
            price = to_decimal(quote.ask if buy else quote.bid)
            limit = order.lmt_price
            if limit is None or (limit >= price if buy else limit <= price):
                self._execute(order, order.remaining, price)
                waiting.remove(order)
        if not waiting:
            self._resting.pop(symbol, None)

    def _client_order(self, session: Session, order_id: int) -> FakeOrder | None:
        """Find the latest order with ``order_id`` placed by this session's clientId."""
        for order in reversed(self.state.orders):
            if order.order_id == order_id and order.client_id == session.client_id:
                return order
        return None

    def _modify(self, order: FakeOrder, f: list[str]) -> None:
        order.qty = to_decimal(f[17])
        order.lmt_price = to_decimal(f[19]) if f[19] else None
        order.tif = f[21]
        for session in self._order_sessions(order):
            session.write(wire.open_order(order))
            session.write(wire.order_status(order))

    def _fill_price(self, order: FakeOrder) -> Decimal | None:
        """Return the policy's fill price: the limit, or the quote (None: no price known)."""
        policy = self.state.policy_for(order.symbol)
        quote = self.state.quotes.get(order.symbol)
        if (policy.price == "quote" or order.lmt_price is None) and quote is not None:
            return to_decimal(quote.ask if order.action == "BUY" else quote.bid)
        return order.lmt_price

    def _execute(self, order: FakeOrder, qty: Decimal, price: Decimal) -> FakeExecution:
        """Record a fill and send execDetails, orderStatus, openOrder (when done), commission."""
        policy = self.state.policy_for(order.symbol)
        side: Literal["BOT", "SLD"] = "BOT" if order.action == "BUY" else "SLD"
        cost = order.filled * order.avg_fill_price + qty * price
        order.filled += qty
        order.avg_fill_price = cost / order.filled
        order.last_fill_price = price
        realized = self.state.apply_fill(order.account, order.symbol, side, qty, price)
        commission = max(policy.commission_min, (policy.commission_per_share * qty)).quantize(
            Decimal("0.0001")
        )
        ex = FakeExecution(
            exec_id=self.state.new_exec_id(order.perm_id),
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            account=order.account,
            instrument=order.instrument,
            side=side,
            shares=qty,
            price=price,
            time=self.now(),
            exchange=policy.exchange,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            order_ref=order.order_ref,
            commission=commission,
            realized_pnl=None if realized is None else realized - commission,
        )
        self.state.executions.append(ex)
        if order.remaining <= 0:
            order.status = "Filled"
            self._complete(order, "Filled Size: " + wire.text(order.filled))
        for session in self._order_sessions(order):
            session.write(wire.exec_details(-1, ex, self.exec_zone))
            session.write(wire.order_status(order))
            if order.is_done:
                session.write(wire.open_order(order))
            session.write(wire.commission_report(ex))
        self._push_position(order.account, order.instrument)
        return ex

    def _complete(self, order: FakeOrder, status_text: str) -> None:
        order.completed_time = f"{self.now().astimezone(NY):%Y%m%d %H:%M:%S} US/Eastern"
        order.completed_status = status_text

    def _cancel(self, order: FakeOrder) -> None:
        if order.is_done:
            raise ValueError(f"order {order.perm_id} is {order.status}")
        order.status = "Cancelled"
        self._complete(order, "Cancelled by Trader")
        for session in self._order_sessions(order):
            session.write(wire.order_status(order))
            session.write(wire.error(order.order_id, 202, ERROR_TEXTS[202]))

    def _req_global_cancel(self, session: Session, f: list[str]) -> None:
        for order in self.state.orders:
            if not order.is_done:
                self._cancel(order)

    def _cancel_order(self, session: Session, f: list[str]) -> None:
        order_id = int(f[2])
        order = self._client_order(session, order_id)
        if order is None:
            session.write(wire.error(order_id, 135, f"Can't find order with id ={order_id}"))
        elif order.is_done:
            text = (
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status}."
            )
            session.write(wire.error(order_id, 10148, text))
        else:
            self._cancel(order)

    def _push_position(self, account: str, inst: Instrument) -> None:
        pos = self.state.position(account, inst.symbol)
        for session in self.sessions:
            if session.ready and session.positions_subscribed:
                session.write(wire.position(pos, inst))
            if session.ready and session.account_updates == account:
                session.write(wire.portfolio_value(pos, inst, self._mark(inst.symbol, pos)))

    def _mark(self, symbol: str, pos: Position) -> Decimal:
        quote = self.state.quotes.get(symbol)
        if quote is None:
            return pos.avg_cost
        return (to_decimal(quote.bid) + to_decimal(quote.ask)) / 2

    def _send_open_orders(self, session: Session, orders: Iterable[FakeOrder]) -> None:
        for order in orders:
            if not order.is_done:
                session.write(wire.open_order(order))
                session.write(wire.order_status(order))
        session.write(wire.frame(wire.OPEN_ORDER_END, 1))

    def _req_open_orders(self, session: Session, f: list[str]) -> None:
        mine = [o for o in self.state.orders if session.client_id in (0, o.client_id)]
        self._send_open_orders(session, mine)

    def _req_all_open_orders(self, session: Session, f: list[str]) -> None:
        self._send_open_orders(session, self.state.orders)

    def _req_completed_orders(self, session: Session, f: list[str]) -> None:
        api_only = f[1] == "1"
        for order in self.state.orders:
            if order.is_done and (order.client_id or not api_only):
                session.write(wire.completed_order(order))
        session.write(wire.frame(wire.COMPLETED_ORDERS_END))

    def _req_executions(self, session: Session, f: list[str]) -> None:
        # [7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side]
        req_id = int(f[2])
        client_id, acct, since, symbol, sec_type, exchange, side = f[3:10]
        today = self.now().astimezone(NY).date()
        after = _parse_filter_time(since, self.exec_zone)
        for ex in self.state.executions:
            if (
                0 <= (today - ex.time.astimezone(NY).date()).days < self.trade_log_days
                and (not client_id or int(client_id) in (0, ex.client_id))
                and (not acct or acct == ex.account)
                and (after is None or ex.time >= after)
                and (not symbol or symbol == ex.instrument.symbol)
                and (not sec_type or sec_type == ex.instrument.sec_type)
                and (not exchange or exchange == ex.exchange)
                and (not side or {"BUY": "BOT", "SELL": "SLD"}.get(side, side) == ex.side)
            ):
                session.write(wire.exec_details(req_id, ex, self.exec_zone))
                session.write(wire.commission_report(ex))
        session.write(wire.frame(wire.EXECUTION_DATA_END, 1, req_id))

    # ----------------------------------------------------------------- account

    def _req_positions(self, session: Session, f: list[str]) -> None:
        session.positions_subscribed = True
        for (_, symbol), pos in self.state.positions.items():
            if pos.qty != 0:
                session.write(wire.position(pos, self.state.instruments[symbol]))
        session.write(wire.frame(wire.POSITION_END, 1))

    def _cancel_positions(self, session: Session, f: list[str]) -> None:
        session.positions_subscribed = False

    def _account_values(self, account: str) -> list[tuple[str, str, str]]:
        value = sum(
            (
                p.qty * self._mark(s, p)
                for (a, s), p in self.state.positions.items()
                if a == account
            ),
            Decimal(0),
        )
        cash = self.state.cash
        return [
            ("AccountCode", account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", wire.text(cash + value), "USD"),
            ("TotalCashValue", wire.text(cash), "USD"),
            ("GrossPositionValue", wire.text(value), "USD"),
            ("AvailableFunds", wire.text(cash), "USD"),
            ("BuyingPower", wire.text(cash), "USD"),
        ]

    def _req_account_updates(self, session: Session, f: list[str]) -> None:
        # [6, 2, subscribe, acctCode]
        account = f[3] or self.state.accounts[0]
        if f[2] != "1":
            session.account_updates = None
            return
        session.account_updates = account
        for tag, value, currency in self._account_values(account):
            session.write(wire.frame(wire.ACCT_VALUE, 2, tag, value, currency, account))
        for (acct, symbol), pos in self.state.positions.items():
            if acct == account and pos.qty != 0:
                inst = self.state.instruments[symbol]
                session.write(wire.portfolio_value(pos, inst, self._mark(symbol, pos)))
        session.write(wire.frame(wire.ACCT_UPDATE_TIME, 1, f"{self.now():%H:%M}"))
        session.write(wire.frame(wire.ACCT_DOWNLOAD_END, 1, account))

    def _req_account_updates_multi(self, session: Session, f: list[str]) -> None:
        # [76, 1, reqId, account, modelCode, ledgerAndNLV]
        req_id, account, model = int(f[2]), f[3], f[4]
        for tag, value, currency in self._account_values(account or self.state.accounts[0]):
            session.write(
                wire.frame(
                    wire.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, tag, value, currency
                )
            )
        session.write(wire.frame(wire.ACCOUNT_UPDATE_MULTI_END, 1, req_id))

    def _req_account_summary(self, session: Session, f: list[str]) -> None:
        # [62, 1, reqId, group, tags]
        req_id, tags = int(f[2]), set(f[4].split(","))
        for account in self.state.accounts:
            for tag, value, currency in self._account_values(account):
                if tag in tags or "All" in f[4]:
                    session.write(
                        wire.frame(wire.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency)
                    )
        session.write(wire.frame(wire.ACCOUNT_SUMMARY_END, 1, req_id))

    def _req_ids(self, session: Session, f: list[str]) -> None:
        session.write(wire.frame(wire.NEXT_VALID_ID, 1, self._next_valid_id()))

    def _req_managed_accts(self, session: Session, f: list[str]) -> None:
        session.write(wire.frame(wire.MANAGED_ACCTS, 1, ",".join(self.state.accounts)))

    def _req_current_time(self, session: Session, f: list[str]) -> None:
        session.write(wire.frame(wire.CURRENT_TIME, 1, int(self.now().timestamp())))


def _parse_filter_time(value: str, local_zone: str) -> datetime | None:
    """Parse an ExecutionFilter time the ways TWS reads its date-times.

    ``yyyymmdd-hh:mm:ss`` is UTC, ``yyyymmdd hh:mm:ss Zone/Name`` is in that zone and
    ``yyyymmdd hh:mm:ss`` is in TWS's own time zone (the TWS API's date-time conventions, e.g.
    ``reqHistoricalData`` endDateTime).
    """
    value = value.strip()
    if not value:
        return None
    if "-" in value[:9]:
        moment = datetime.strptime(value[:17], "%Y%m%d-%H:%M:%S")
        return moment.replace(tzinfo=UTC)
    day, clock, *zone = value.split()
    moment = datetime.strptime(day + clock, "%Y%m%d%H:%M:%S")
    return moment.replace(tzinfo=ZoneInfo(zone[0] if zone else local_zone))
