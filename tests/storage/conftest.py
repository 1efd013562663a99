"""Fixtures for storage tests: a migrated engine per backend and a repository on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.engine import create_engine
from adapters.storage.fast_write import dispose_fast_writer
from adapters.storage.migrate import upgrade_database
from adapters.storage.repository import Repository

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class TickingClock:
    """A clock that advances one second each time it is read."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a fresh database upgraded to the newest revision."""
    engine = create_engine(db_url)
    await upgrade_database(engine)
    try:
        yield engine
    finally:
        dispose_fast_writer(engine)
        await engine.dispose()


@pytest.fixture
def clock() -> TickingClock:
    """Return a deterministic clock for the repository."""
    return TickingClock()


@pytest.fixture
def repo(engine: AsyncEngine, clock: TickingClock) -> Repository:
    """Return a repository on the migrated test database."""
    return Repository(engine, clock=clock)
