"""Wire the real ib_async ``IB()`` to a :class:`FakeTWS` and wait on its events.

Used by the fake's own tests and available to the IB adapter's tests: connect the way a daemon
does (``connectAsync`` inside the running loop) and wait on events, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ib_async import IB, Contract, Stock, Ticker

from .server import FakeTWS


@asynccontextmanager
async def connected(
    tws: FakeTWS, client_id: int = 1, *, on_error: list[tuple[Any, ...]] | None = None
) -> AsyncIterator[IB]:
    """Connect a real ``IB()`` to the fake (errors collected from the start), disconnect after."""
    ib = IB()
    if on_error is not None:
        ib.errorEvent += lambda *args: on_error.append(args)
    await ib.connectAsync(tws.host, tws.port, clientId=client_id, timeout=4)
    try:
        yield ib
    finally:
        ib.disconnect()


def expect(event: Any, predicate: Callable[..., bool] = lambda *a: True) -> asyncio.Future[Any]:
    """Return a future resolved with the args of the first emission of ``event`` matching."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def handler(*args: Any) -> None:
        if not future.done() and predicate(*args):
            future.set_result(args)

    event += handler
    return future


async def within(future: asyncio.Future[Any], seconds: float = 5.0) -> Any:
    """Wait for ``future`` with a bound (a hang fails the test instead of stalling it)."""
    return await asyncio.wait_for(future, seconds)


async def qualify(ib: IB, *symbols: str) -> list[Contract]:
    """Qualify US stocks on SMART through ``qualifyContractsAsync``; fail on any unknown one."""
    result = await ib.qualifyContractsAsync(*(Stock(s, "SMART", "USD") for s in symbols))
    contracts = [c for c in result if isinstance(c, Contract)]
    assert len(contracts) == len(symbols), result
    return contracts


async def streaming(ib: IB, tws: FakeTWS, symbol: str) -> Ticker:
    """Qualify ``symbol``, subscribe to its market data and wait until the fake streams it."""
    [contract] = await qualify(ib, symbol)
    ticker = ib.reqMktData(contract)
    await tws.wait_for_subscription(symbol)
    return ticker


async def quoted(ib: IB, tws: FakeTWS, ticker: Ticker, bid: float, ask: float) -> None:
    """Publish a quote and wait until ``ticker`` shows it."""
    arrived = expect(ticker.updateEvent, lambda t: t.bid == bid and t.ask == ask)
    assert ticker.contract is not None
    await tws.publish_quote(ticker.contract.symbol, bid, ask)
    await within(arrived)
