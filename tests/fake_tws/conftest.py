"""Fixtures for the fake TWS tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeTWS

SYMBOLS = ("AAPL", "MSFT", "SPY", "VOO", "IVV")


@pytest.fixture
async def tws() -> AsyncIterator[FakeTWS]:
    """Yield a started fake TWS knowing a few US stocks and ETFs, stopped afterwards."""
    async with FakeTWS(symbols=SYMBOLS) as server:
        yield server
