"""Fixtures of the IB adapter tests: the fake TWS, and adapters that are always closed.

`fake_tws` (tests/fake_tws) is importable because the project conftest (tests/conftest.py)
puts `tests/` on `sys.path` under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fake_tws import FakeTWS
from ibkit import Events, make_broker

from adapters.ib.broker import IBBroker

SYMBOLS = ("VTI", "SCHB", "ITOT", "VOO", "BRK B")


@pytest.fixture
async def tws() -> AsyncIterator[FakeTWS]:
    """Yield a started fake TWS knowing a few US stocks and ETFs, stopped afterwards."""
    async with FakeTWS(symbols=SYMBOLS) as server:
        yield server


@pytest.fixture
async def brokers(tws: FakeTWS) -> AsyncIterator[Callable[..., IBBroker]]:
    """Yield a factory of adapters over `tws`; each one built is closed afterwards."""
    built: list[IBBroker] = []

    def factory(**kwargs: Any) -> IBBroker:
        broker = make_broker(tws, **kwargs)
        built.append(broker)
        return broker

    try:
        yield factory
    finally:
        for broker in reversed(built):
            await broker.close()


@pytest.fixture
async def connected(brokers: Callable[..., IBBroker]) -> tuple[IBBroker, Events]:
    """Return an adapter connected to the fake, delivering to a recording sink."""
    broker = brokers()
    events = Events()
    await broker.connect(events)
    return broker, events
