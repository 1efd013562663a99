"""Fixtures of the IB end-to-end tests: the fake TWS, and daemons that are always stopped.

`fake_tws` (tests/fake_tws) is importable because the project conftest (tests/conftest.py)
puts `tests/` on `sys.path` under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_tws import FakeTWS
from ibdaemonkit import SYMBOLS, Daemons


@pytest.fixture
async def tws() -> AsyncIterator[FakeTWS]:
    """Yield a started fake TWS knowing the test's stocks and ETFs, stopped afterwards."""
    async with FakeTWS(symbols=SYMBOLS) as server:
        yield server


@pytest.fixture
async def daemons(tws: FakeTWS, sqlite_url: str) -> AsyncIterator[Daemons]:
    """Yield a daemon factory over the fake and a fresh SQLite file."""
    factory = Daemons(tws, sqlite_url)
    try:
        yield factory
    finally:
        for running in reversed(factory.started):
            await running.kill()
