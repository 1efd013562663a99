"""Fixtures of the rebalance-order specifications: the daemon rigs of `tests/daemon`
(`daemonkit`: a real daemon on a real SQLite file over the simulated broker), always shut
down after the test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from daemonkit import Rigs


@pytest.fixture
async def rigs(sqlite_url: str) -> AsyncIterator[Rigs]:
    """Yield a rig factory over a fresh SQLite file; every rig it opened is closed after."""
    factory = Rigs(sqlite_url)
    try:
        yield factory
    finally:
        for rig in factory.opened:
            await rig.close()
