"""Fixtures of the daemon specifications: rigs that are always shut down after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from daemonkit import Rig, Rigs


@pytest.fixture
async def rigs(sqlite_url: str) -> AsyncIterator[Rigs]:
    """Yield a rig factory over a fresh SQLite file; every rig it opened is closed after."""
    factory = Rigs(sqlite_url)
    try:
        yield factory
    finally:
        for rig in factory.opened:
            await rig.close()


@pytest.fixture
async def rig(rigs: Rigs) -> Rig:
    """Return a started daemon with the default household on a fresh SQLite file."""
    return await rigs.open()
