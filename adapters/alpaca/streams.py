"""Run alpaca-py's websocket streams inside the daemon's event loop, and watch their health.

This is the only module that touches the SDK's private stream API (`_run_forever`, `_start_ws`,
`close`); an SDK change there breaks this file and nothing else. The rules it follows
(shared/reference/libraries.md §1.5):

* handlers are registered before `_run_forever()` starts (otherwise the SDK busy-waits);
* the SDK's blocking `subscribe_*`/`unsubscribe_*` are only called from a worker thread
  (called from the loop thread while the stream runs, they deadlock the loop);
* a stream is stopped with `stop_ws()`, then `close()` (`stop_ws()` alone takes up to 5 s),
  then by cancelling its task, which is the only way out of a handshake that never gets a reply.

The SDK reconnects dropped sockets by itself, but it waits for ever on a handshake reply,
gives up for good after error 409, logs and swallows everything else, and its `data_timeout`
cannot tell a closed market from a mute socket. So each stream gets a `StreamSupervisor`: it
learns from hooks when a connection attempt starts, is authorized or closes, and restarts the
stream (a fresh SDK object, with backoff) when it was not authorized within `auth_timeout`,
when its task ended, or, for market data, when no message came for `data_timeout` seconds while
the market is open. A data stream is *stale* from a disconnect or restart until its next
message; the broker holds harvesting on stale data.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.trading.stream import TradingStream

log = structlog.get_logger("tlh.alpaca.streams")

SDK_STREAM_LOGGERS = ("alpaca.trading.stream", "alpaca.data.live.websocket")


class StreamHooks(Protocol):
    """What a hooked SDK stream reports to its supervisor."""

    def connecting(self) -> None: ...
    def failed(self) -> None: ...
    def authorized(self) -> None: ...
    def closed(self) -> None: ...


class _Hooked:
    """Mixin: report connection attempts, authorizations and closes of an SDK stream."""

    _tlh_hooks: StreamHooks

    async def _start_ws(self) -> None:
        self._tlh_hooks.connecting()
        try:
            await super()._start_ws()  # type: ignore[misc]
        except BaseException:
            self._tlh_hooks.failed()
            raise
        self._tlh_hooks.authorized()

    async def close(self) -> None:
        try:
            await super().close()  # type: ignore[misc]
        finally:
            self._tlh_hooks.closed()


class HookedTradingStream(_Hooked, TradingStream):
    """The SDK's trade-updates stream, reporting to a supervisor."""

    def __init__(self, hooks: StreamHooks, *args: Any, **kwargs: Any) -> None:
        self._tlh_hooks = hooks
        super().__init__(*args, **kwargs)


class HookedStockStream(_Hooked, StockDataStream):
    """The SDK's stock market-data stream, reporting to a supervisor."""

    def __init__(self, hooks: StreamHooks, *args: Any, **kwargs: Any) -> None:
        self._tlh_hooks = hooks
        super().__init__(*args, **kwargs)


class HookedCryptoStream(_Hooked, CryptoDataStream):
    """The SDK's crypto market-data stream, reporting to a supervisor."""

    def __init__(self, hooks: StreamHooks, *args: Any, **kwargs: Any) -> None:
        self._tlh_hooks = hooks
        super().__init__(*args, **kwargs)


SdkStream = HookedTradingStream | HookedStockStream | HookedCryptoStream
StreamFactory = Callable[[StreamHooks], SdkStream]


@dataclass(slots=True)
class StreamHealth:
    """What a supervisor knows about its stream (times are `time.monotonic()` seconds)."""

    name: str
    started: bool = False
    authorized: bool = False
    authorizations: int = 0
    failed_handshakes: int = 0
    restarts: int = 0
    messages: int = 0
    stale: bool = True
    last_message: float | None = None
    authorized_at: float | None = None
    unauthorized_since: float | None = None
    last_restart_reason: str = ""


class StreamSupervisor:
    """Run one SDK stream as a task in this loop and restart it when it is unhealthy."""

    def __init__(
        self,
        name: str,
        factory: StreamFactory,
        *,
        auth_timeout: float,
        data_timeout: float | None = None,
        market_open: Callable[[], bool] = lambda: True,
        on_authorized: Callable[[int], None] | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
        check_every: float = 0.25,
    ) -> None:
        self._health = StreamHealth(name)
        self.seen = 0  # messages handed to our handlers (see note_message)
        self.stream: SdkStream | None = None
        self._factory = factory
        self._auth_timeout = auth_timeout
        self._data_timeout = data_timeout
        self._market_open = market_open
        self._on_authorized = on_authorized
        self._backoff = backoff
        self._check_every = check_every
        self._consecutive = 0
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._authorized = asyncio.Event()
        self._stopping = False

    # -- hooks (called by the SDK stream, in this loop) -------------------------------------

    def connecting(self) -> None:
        """Note that a connection attempt started."""
        self._set_down()

    def failed(self) -> None:
        """Note a failed connection attempt (the SDK retries with its own backoff)."""
        self._health.failed_handshakes += 1
        self._set_down()

    def authorized(self) -> None:
        """Note a successful handshake."""
        h = self._health
        h.authorized = True
        h.authorizations += 1
        h.authorized_at = self._now()
        h.unauthorized_since = None
        self._consecutive = 0
        self._authorized.set()
        log.info("alpaca_stream_authorized", stream=h.name, authorizations=h.authorizations)
        if self._on_authorized is not None:
            self._on_authorized(h.authorizations)

    def closed(self) -> None:
        """Note that the socket closed (an error, a drop, or a stop)."""
        self._set_down()

    def note_message(self) -> None:
        """Note one message handed to our handler: the stream is alive and its data current.

        Only counted here (it runs for every quote); `observe` turns the count into health.
        """
        self.seen += 1

    @property
    def health(self) -> StreamHealth:
        """Return the stream's health, up to date with the messages counted so far."""
        return self.observe()

    def observe(self) -> StreamHealth:
        """Return the stream's health, updated with the messages counted since last asked."""
        h = self._health
        if self.seen != h.messages:
            h.messages = self.seen
            h.last_message = self._now()
            h.stale = False
        return h

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the stream was started and not stopped."""
        return self._health.started and not self._stopping

    def start(self) -> None:
        """Start the stream and its watchdog (handlers must be registered by the factory)."""
        if self._health.started:
            return
        self._health.started = True
        self._stopping = False
        self._spawn()
        self._watchdog = asyncio.create_task(
            self._watch(), name=f"alpaca-{self._health.name}-watch"
        )

    async def wait_authorized(self, within: float) -> bool:
        """Wait until the stream is authorized; return False after `within` seconds."""
        try:
            await asyncio.wait_for(self._authorized.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop the watchdog and the stream."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await self._stop_current()
        self._health.started = False

    async def restart(self, reason: str) -> None:
        """Replace the stream by a fresh one after a backoff delay."""
        h = self._health
        h.restarts += 1
        h.last_restart_reason = reason
        self._consecutive += 1
        low, high = self._backoff
        delay = min(high, low * 2 ** (self._consecutive - 1)) * random.uniform(0.8, 1.2)
        log.warning(
            "alpaca_stream_restart",
            stream=h.name,
            reason=reason,
            restarts=h.restarts,
            delay=round(delay, 2),
        )
        await self._stop_current()
        await asyncio.sleep(delay)
        if not self._stopping:
            self._spawn()

    async def in_thread(self, call: Callable[..., object], *args: object, within: float) -> bool:
        """Run a blocking SDK call (subscribe/unsubscribe) in a worker thread; True if it ran."""
        try:
            await asyncio.wait_for(asyncio.to_thread(call, *args), within)
        except Exception as exc:  # the next (re)connect sends the full subscription anyway
            log.warning(
                "alpaca_stream_call_failed",
                stream=self._health.name,
                call=getattr(call, "__name__", "?"),
                error=type(exc).__name__,
            )
            return False
        return True

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return time.monotonic()  # the event loop's clock, without looking the loop up

    def _set_down(self) -> None:
        h = self.observe()  # messages counted so far came before this: they leave it stale
        h.authorized = False
        h.stale = True
        if h.unauthorized_since is None:
            h.unauthorized_since = self._now()
        self._authorized.clear()

    def _spawn(self) -> None:
        self.stream = self._factory(self)
        self._set_down()
        self._health.unauthorized_since = self._now()
        self._task = asyncio.create_task(
            self.stream._run_forever(), name=f"alpaca-{self._health.name}"
        )

    async def _stop_current(self) -> None:
        stream, task = self.stream, self._task
        self.stream, self._task = None, None
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.stop_ws()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.close(), 2.0)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)
        self._set_down()

    def diagnose(self) -> str | None:
        """Return why the stream needs a restart, or None while it is healthy."""
        h = self.observe()
        if self._task is None:
            return None
        if self._task.done():
            error = None if self._task.cancelled() else self._task.exception()
            return f"stream task ended ({type(error).__name__ if error else 'returned'})"
        now = self._now()
        if h.unauthorized_since is not None and now - h.unauthorized_since > self._auth_timeout:
            return f"not authorized within {self._auth_timeout:g}s"
        if self._data_timeout is not None and h.authorized and self._market_open():
            since = max(h.last_message or 0.0, h.authorized_at or 0.0)
            if now - since > self._data_timeout:
                h.stale = True
                return f"no data for {self._data_timeout:g}s while the market is open"
        return None

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._check_every)
            reason = self.diagnose()
            if reason is not None and not self._stopping:
                try:
                    await self.restart(reason)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alpaca_stream_restart_failed", stream=self._health.name)
