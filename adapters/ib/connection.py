"""Keep one ib_async connection to TWS or IB Gateway up, and say what state it is in.

Only `IB.connectAsync`, the ``*Async`` requests and events are used: never `util.run` or
`util.patchAsyncio` (nest_asyncio), which cannot work inside the daemon's running loop
(shared/reference/libraries.md §2).

States: *down* (no socket), *up* (socket and API ready) and, while up, whether TWS is connected
to IB's servers (error 1100 says it lost them; 1101 and 1102 that they are back, 1101 with its
market data lost). Orders leave only while up and linked (`can_trade`).

Reconnection: when the socket drops (the nightly Gateway restart, a network fault), a task
connects again with capped exponential backoff (``[ib] reconnect_max_seconds``, jittered), for
as long as it takes: the Gateway refuses connections while it restarts. Each success is
reported to `on_up`, which resubscribes market data and asks the daemon to reconcile.

Error codes (https://ibkrcampus.com/campus/ibkr-api-page/twsapi-doc/#api-error-codes):
1100 lost, 1101 restored with data lost, 1102 restored with data kept, 1300 socket port reset;
2104/2106/2158 (and 2107/2108/2119) are farm-OK notices, logged at debug; 2103/2105/2157 farms
broken, at info; 504 not connected and 502 cannot connect, at warning; 326 client id in use,
at error; 354/10089/10090/10168 (no market-data subscription) at warning. Order errors (201
rejected ...) are the order tracker's (`adapters.ib.orders`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from ib_async import IB, Contract, ExecutionFilter
from ib_async.ib import StartupFetch

from adapters.base import BrokerError
from adapters.error_records import ErrorRecordCounter
from adapters.ib.config import IBConfig

log = structlog.get_logger("tlh.ib")

# ib_async's own startup sync: positions only (it always asks for them). The orders and
# executions are synchronised by `Connection._sync_orders`, which knows whether it completed.
STARTUP_FETCH = StartupFetch.POSITIONS
NOTICE_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158})
FARM_DOWN_CODES = frozenset({2103, 2105, 2157})
LINK_LOST = 1100
LINK_RESTORED_DATA_LOST = 1101
LINK_RESTORED = 1102
PORT_RESET = 1300
NOT_CONNECTED = 504
CANNOT_CONNECT = 502
CLIENT_ID_IN_USE = 326
MARKET_DATA_REFUSED = frozenset({354, 10089, 10090, 10168})
"""No market-data subscription (or delayed data not enabled) for a requested symbol."""
DECODER_LOGGER = "ib_async.Decoder"
T = TypeVar("T")


def _report_malformed(count: int, message: str) -> None:
    log.warning("ib_malformed_message", count=count, message=message)


@dataclass(slots=True)
class ConnectionStats:
    """What happened to the connection."""

    connects: int = 0
    drops: int = 0
    failed_attempts: int = 0
    link_losses: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    last_error: str = ""


class Connection:
    """One API connection to TWS or IB Gateway, reconnected with backoff when it drops."""

    def __init__(
        self,
        ib: IB,
        config: IBConfig,
        *,
        on_up: Callable[[str], Awaitable[None]],
        on_down: Callable[[], None],
        on_link_restored: Callable[[bool], None],
    ) -> None:
        self.ib = ib
        self.config = config
        self.stats = ConnectionStats()
        # ib_async.decoder.Decoder.interpret logs what a handler raised on this logger and
        # drops that message; the connection carries on.
        self.decoder_errors = ErrorRecordCounter((DECODER_LOGGER,), _report_malformed)
        self.linked = False  # TWS is connected to IB's servers (no 1100 pending)
        self.orders_synced = False  # the orders and executions in memory are complete
        self._on_up = on_up
        self._on_down = on_down
        self._on_link_restored = on_link_restored
        self._lock = asyncio.Lock()
        self._supervising = False
        self._connecting = False
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error

    # -- state -----------------------------------------------------------------------------

    @property
    def up(self) -> bool:
        """Return whether the API connection is up."""
        return self.ib.isConnected() and not self._connecting

    @property
    def can_trade(self) -> bool:
        """Return whether orders may leave now: connected, and TWS linked to IB."""
        return self.up and self.linked

    def require_up(self, what: str) -> None:
        """Raise a transient `BrokerError` naming `what` when the connection is down."""
        if not self.up:
            raise BrokerError(
                f"{what}: not connected to TWS/IB Gateway at {self.config.host}:{self.config.port}",
                transient=True,
            )

    async def request(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """Send one ib_async request (`make()`) and await its answer; not being connected,
        a timeout or a socket dropped meanwhile is a transient `BrokerError`."""
        self.require_up(what)
        try:
            return await asyncio.wait_for(make(), self.config.request_timeout)
        except TimeoutError:
            raise BrokerError(
                f"{what}: no answer from TWS/IB Gateway within {self.config.request_timeout:g}s",
                transient=True,
            ) from None
        except ConnectionError as exc:
            raise BrokerError(f"{what}: connection lost ({exc})", transient=True) from None

    # -- connecting ------------------------------------------------------------------------

    async def ensure(self) -> None:
        """Connect unless connected; raise `BrokerError` (transient unless the account is
        not one the login manages)."""
        async with self._lock:
            if not self.ib.isConnected():
                await self._connect_once()

    async def _connect_once(self) -> None:
        """Connect, check the account, and synchronise the orders (`_sync_orders`)."""
        c, ib = self.config, self.ib
        self._connecting = True
        try:
            await ib.connectAsync(
                c.host,
                c.port,
                clientId=c.client_id,
                timeout=c.connect_timeout,
                readonly=c.readonly,
                raiseSyncErrors=True,
                fetchFields=STARTUP_FETCH,
            )
            accounts = ib.managedAccounts()
            if c.account not in accounts:
                ib.disconnect()
                raise BrokerError(
                    f"[ib] account {c.account} is not managed by this login "
                    f"(managed: {', '.join(accounts) or 'none'})"
                )
            if not c.readonly:
                await self._sync_orders()
        except (OSError, TimeoutError) as exc:
            ib.disconnect()
            self.stats.failed_attempts += 1
            raise BrokerError(
                f"cannot connect to TWS/IB Gateway at {c.host}:{c.port} "
                f"(client id {c.client_id}): {exc!r:.200}",
                transient=True,
            ) from None
        finally:
            self._connecting = False
        self.stats.connects += 1
        self.linked = True
        log.info(
            "ib_connected",
            host=c.host,
            port=c.port,
            client_id=c.client_id,
            server_version=ib.client.serverVersion(),
            readonly=c.readonly,
            connects=self.stats.connects,
        )

    async def _sync_orders(self) -> None:
        """Bring in the working orders of every client id and the completed orders, then the
        day's executions (after the orders, so that they attach to them); set `orders_synced`
        when all three answered.

        From then on ib_async's events keep that state current, which the order tracker's
        look-up before placing an order relies on (`adapters.ib.orders`); ib_async also needs
        the working orders to report live fills and commissions of orders placed before this
        connection. A part that does not answer (ib_async issue #54: executions timing out
        on some TWS versions) is logged, and the look-up then asks TWS each time.
        """
        ib, timeout = self.ib, self.config.request_timeout
        self.orders_synced = False
        parts: list[object] = list(
            await asyncio.gather(
                asyncio.wait_for(ib.reqAllOpenOrdersAsync(), timeout),
                asyncio.wait_for(ib.reqCompletedOrdersAsync(False), timeout),
                return_exceptions=True,
            )
        )
        executions = ExecutionFilter(acctCode=self.config.account)
        try:
            await asyncio.wait_for(ib.reqExecutionsAsync(executions), timeout)
        except TimeoutError as exc:
            parts.append(exc)
        failed = [p for p in parts if isinstance(p, BaseException)]
        for part in failed:
            if not isinstance(part, TimeoutError):
                raise part
        self.orders_synced = not failed
        if failed:
            log.warning("ib_order_sync_incomplete", timeouts=len(failed), fallback="ask TWS")

    def supervise(self) -> None:
        """Reconnect from now on whenever the connection drops (and now, if it is down)."""
        self._supervising = True
        self.decoder_errors.install()
        if not self.ib.isConnected():
            self._start_reconnecting()

    async def close(self) -> None:
        """Stop reconnecting and disconnect."""
        self._closing = True
        self._supervising = False
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.ib.disconnect()
        self.decoder_errors.remove()

    # -- events ----------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        if self._connecting or self._closing or not self._supervising:
            return
        self.stats.drops += 1
        self.linked = False
        log.warning("ib_disconnected", drops=self.stats.drops)
        self._on_down()
        self._start_reconnecting()

    def _start_reconnecting(self) -> None:
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.create_task(self._reconnect(), name="ib-reconnect")

    async def _reconnect(self) -> None:
        low, high = self.config.backoff
        attempt = 0
        while not self._closing:
            attempt += 1
            delay = min(high, low * 2 ** min(attempt - 1, 30)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
            try:
                await self.ensure()
            except BrokerError as exc:
                log.warning(
                    "ib_reconnect_failed",
                    attempt=attempt,
                    error=str(exc)[:200],
                    next_in=round(min(high, low * 2 ** min(attempt, 30)), 1),
                )
                continue
            except Exception:  # never let the supervisor die of a surprise
                log.exception("ib_reconnect_error", attempt=attempt)
                continue
            break
        if self._closing:
            return
        try:
            await self._on_up(f"reconnected to TWS/IB Gateway (connection #{self.stats.connects})")
        except Exception:
            log.exception("ib_after_reconnect_failed")

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        self.stats.errors[code] += 1
        self.stats.last_error = f"{code}: {message}"[:200]
        fields: dict[str, Any] = {"code": code, "req_id": req_id, "message": message[:200]}
        if contract is not None:
            fields["symbol"] = contract.symbol
        if code in NOTICE_CODES:
            log.debug("ib_notice", **fields)
        elif code in FARM_DOWN_CODES:
            log.info("ib_farm_down", **fields)
        elif code == LINK_LOST:
            self.linked = False
            self.stats.link_losses += 1
            log.warning("ib_link_lost", **fields)
            self._on_down()
        elif code in (LINK_RESTORED, LINK_RESTORED_DATA_LOST):
            self.linked = True
            log.info("ib_link_restored", data_lost=code == LINK_RESTORED_DATA_LOST, **fields)
            self._on_link_restored(code == LINK_RESTORED_DATA_LOST)
        elif code in (NOT_CONNECTED, CANNOT_CONNECT, PORT_RESET):
            log.warning("ib_not_connected", **fields)
        elif code in MARKET_DATA_REFUSED:
            log.warning("ib_market_data_refused", **fields)
        elif code == CLIENT_ID_IN_USE:
            log.error("ib_client_id_in_use", client_id=self.config.client_id, **fields)
        else:
            log.info("ib_error", **fields)
