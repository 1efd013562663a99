"""Fixtures for the fake Alpaca tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeAlpaca


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a started fake Alpaca on a free 127.0.0.1 port, stopped afterwards."""
    async with FakeAlpaca() as server:
        yield server
