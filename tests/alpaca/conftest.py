"""Fixtures of the Alpaca adapter tests: the fake Alpaca, and daemons that are always stopped.

`fake_alpaca` (tests/fake_alpaca) is importable because the project conftest (tests/conftest.py)
puts `tests/` on `sys.path` under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alpacakit import Daemons, make_broker
from fake_alpaca import FakeAlpaca

from adapters.alpaca.broker import AlpacaBroker


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a started fake Alpaca on a free 127.0.0.1 port, market open, stopped afterwards."""
    async with FakeAlpaca() as server:
        server.set_market_open(True)
        yield server


@pytest.fixture
async def broker(fake: FakeAlpaca) -> AsyncIterator[AlpacaBroker]:
    """Yield the adapter pointed at the fake, closed afterwards."""
    adapter = make_broker(fake)
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.fixture
async def daemons(fake: FakeAlpaca, sqlite_url: str) -> AsyncIterator[Daemons]:
    """Yield a daemon factory over the fake and a fresh SQLite file.

    A test that also takes `db_url` names it before `daemons`: fixtures are torn down in
    reverse order, so its database then outlives the daemons killed here.
    """
    factory = Daemons(fake, sqlite_url)
    try:
        yield factory
    finally:
        for running in reversed(factory.started):
            await running.kill()
