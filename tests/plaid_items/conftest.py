"""Fixtures of the Plaid tests: the fake Plaid server, a journal in a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import stamina

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.repository import Repository
from tests.fake_plaid.conftest import fake_plaid  # noqa: F401 - the fixture, for these tests


@pytest.fixture
async def repo(sqlite_url: str) -> AsyncIterator[Repository]:
    """Yield a repository on a migrated SQLite file."""
    engine = create_engine(sqlite_url)
    await upgrade_database(engine)
    try:
        yield Repository(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """Retry without waiting (stamina's test mode), at most 4 attempts."""
    with stamina.set_testing(True, attempts=4):
        yield
