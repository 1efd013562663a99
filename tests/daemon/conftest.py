"""Fixtures of the daemon specifications: rigs that are always shut down after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from daemonkit import Rig, open_rig


class Rigs:
    """Open rigs on a database (a fresh SQLite file unless a URL is given); close them all."""

    def __init__(self, default_url: str) -> None:
        self.default_url = default_url
        self.opened: list[Rig] = []

    async def open(self, url: str | None = None, **options: Any) -> Rig:
        """Open (and start) a rig; see `daemonkit.open_rig` for the options."""
        start = options.pop("start", True)
        rig = await open_rig(url or self.default_url, start=False, **options)
        self.opened.append(rig)
        if start:
            await rig.engine.start()
        return rig

    async def restart(self, rig: Rig, **options: Any) -> Rig:
        """Close `rig` and start a new daemon on its database, broker and clock."""
        await rig.close()
        return await self.open(rig.url, settings=options.pop("settings", rig.settings),
                               broker=rig.broker, clock=rig.clock, seqs=rig.seqs, **options)


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
