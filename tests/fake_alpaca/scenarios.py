"""Wire the real alpaca-py SDK to a :class:`FakeAlpaca` and run its streams in the test loop.

The streams run the way the daemon will run them (libraries.md §1.5): handlers are registered
before the SDK's private ``_run_forever()`` coroutine is started as a task in the running loop,
and they are stopped with ``await stream.stop_ws()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from alpaca.data.enums import DataFeed
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.data.live.websocket import DataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream

from .server import FakeAlpaca

M = TypeVar("M")


def trading_client(fake: FakeAlpaca, *, raw_data: bool = False) -> TradingClient:
    """Return a ``TradingClient`` pointed at the fake (call it via ``asyncio.to_thread``)."""
    return TradingClient(
        fake.KEY, fake.SECRET, paper=True, raw_data=raw_data, url_override=fake.rest_url
    )


def trading_stream(fake: FakeAlpaca, *, raw_data: bool = False) -> TradingStream:
    """Return a ``TradingStream`` pointed at the fake's ``/stream``."""
    return TradingStream(
        fake.KEY, fake.SECRET, paper=True, raw_data=raw_data, url_override=fake.trading_ws_url
    )


def stock_stream(
    fake: FakeAlpaca,
    *,
    feed: str = "iex",
    raw_data: bool = False,
    data_timeout: float | None = None,
) -> StockDataStream:
    """Return a ``StockDataStream`` pointed at the fake's ``/v2/{feed}``."""
    return StockDataStream(
        fake.KEY,
        fake.SECRET,
        raw_data=raw_data,
        feed=DataFeed.SIP if feed == "sip" else DataFeed.IEX,
        url_override=fake.data_ws_url(feed),
        data_timeout=data_timeout,
    )


def crypto_stream(fake: FakeAlpaca, *, raw_data: bool = False) -> CryptoDataStream:
    """Return a ``CryptoDataStream`` pointed at the fake's ``/v1beta3/crypto/us``."""
    return CryptoDataStream(
        fake.KEY, fake.SECRET, raw_data=raw_data, url_override=fake.crypto_ws_url
    )


async def sdk(model: type[M], call: Callable[..., object], *args: Any) -> M:
    """Run a blocking SDK call in a worker thread and check it returned a parsed ``model``."""
    result = await asyncio.to_thread(call, *args)
    if not isinstance(result, model):
        raise TypeError(f"expected {model.__name__}, the SDK returned {type(result).__name__}")
    return result


async def sdk_list(model: type[M], call: Callable[..., object], *args: Any) -> list[M]:
    """Run a blocking SDK call that returns a list of ``model`` in a worker thread."""
    result = await asyncio.to_thread(call, *args)
    if not isinstance(result, list) or not all(isinstance(item, model) for item in result):
        raise TypeError(f"expected list[{model.__name__}], the SDK returned {result!r:.200}")
    return cast(list[M], result)


@asynccontextmanager
async def running(
    stream: TradingStream | DataStream, *, stop_timeout: float = 5.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``stream._run_forever()`` as a task in this loop; stop it cleanly on exit.

    Register handlers before entering. On exit ``stop_ws()`` is followed by ``close()``:
    ``stop_ws()`` alone is only noticed when the SDK's 5 s ``recv`` timeout expires.
    """
    task = asyncio.create_task(stream._run_forever(), name=f"sdk-{type(stream).__name__}")
    try:
        yield task
    finally:
        await stream.stop_ws()
        await stream.close()
        await asyncio.wait_for(task, stop_timeout)


class Collector:
    """Collect what an SDK stream hands to its handler; ``handle`` is the async handler."""

    def __init__(self) -> None:
        """Start with nothing collected."""
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    async def handle(self, item: Any) -> None:
        """Store one item (pass this bound method to ``subscribe_*``)."""
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, count: int, *, within: float = 5.0) -> list[Any]:
        """Wait until at least ``count`` items arrived and return them all."""
        async with asyncio.timeout(within):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.items
