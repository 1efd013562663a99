"""Fixtures for the fake Plaid tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakePlaid


@pytest.fixture
def fake_plaid() -> Iterator[FakePlaid]:
    """Yield a fake Plaid serving on a free 127.0.0.1 port (its own thread), stopped after."""
    server = FakePlaid()
    server.start()
    try:
        yield server
    finally:
        server.stop()
