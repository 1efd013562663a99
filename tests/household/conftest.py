"""Fixtures of the household tests: the fake Alpaca (market open) and the fake Plaid."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_alpaca import FakeAlpaca

from tests.fake_plaid.conftest import fake_plaid  # noqa: F401 - the fixture, for these tests


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a started fake Alpaca on a free 127.0.0.1 port, market open, stopped afterwards."""
    async with FakeAlpaca() as server:
        server.set_market_open(True)
        yield server
