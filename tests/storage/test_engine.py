"""Engine setup: SQLite pragmas and URL normalization."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from adapters.storage.engine import DatabaseURLError, create_engine, normalize_url, sqlite_url


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    """Every SQLite connection is in WAL mode, waits 5 s for locks, and enforces foreign keys."""
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()

    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "synchronous": 1,
    }


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///tlh.sqlite", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///tlh.sqlite", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_the_async_driver(given: str, driver: str) -> None:
    """Plain sqlite:// and postgresql:// URLs are given the async drivers tlh uses."""
    assert normalize_url(given).drivername == driver


@pytest.mark.parametrize(
    "bad", ["mysql://u@h/db", "postgresql+psycopg://u@h/db", "not a url", "::"]
)
def test_unsupported_or_malformed_urls_are_refused(bad: str) -> None:
    """Other backends, sync drivers and garbage fail with a message naming what works."""
    with pytest.raises(DatabaseURLError):
        normalize_url(bad)


def test_a_path_becomes_an_sqlite_url() -> None:
    """A plain file path is turned into the async SQLite URL of that file."""
    assert (
        str(sqlite_url("/var/lib/tlh/tlh.sqlite")) == "sqlite+aiosqlite:////var/lib/tlh/tlh.sqlite"
    )
    assert str(sqlite_url("state/tlh.sqlite")) == "sqlite+aiosqlite:///state/tlh.sqlite"
