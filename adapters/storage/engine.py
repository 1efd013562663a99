"""Async engines for SQLite (aiosqlite, the default) and PostgreSQL (asyncpg).

SQLite connections run in WAL mode with a 5 s busy timeout and foreign keys on. SQLAlchemy, not
the `sqlite3` module, emits BEGIN, and write transactions begin with ``BEGIN IMMEDIATE`` so that
they take the write lock up front: with the driver's default or a deferred BEGIN, concurrent
read-modify-write transactions silently lose updates or fail with "database is locked"
(`shared/reference/libraries.md` §5). Read-only connections from `read_connection` begin
deferred instead, so that readers never wait for the writer.

Every command's first connection goes through `open_connection`, which turns a database that
cannot be opened (server unreachable, folder missing, unknown database, bad password) into one
`DatabaseUnavailableError` naming the database (password hidden) and the cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
_DEFERRED = "tlh_deferred_begin"
_PG_WRITE_LOCK = 0x746C68_0001  # advisory lock key ("tlh", writer); scoped to one database
_URL_HINT = "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DB"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class DatabaseURLError(ValueError):
    """The database URL cannot be parsed or names an unsupported backend or driver."""


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be opened; the message names it (password hidden) and the cause."""

    def __init__(self, database: str, reason: str) -> None:
        super().__init__(f"cannot open database {database}: {reason}")
        self.database = database
        self.reason = reason


def safe_url(url: str | URL) -> str:
    """Return `url` for display, its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def sqlite_url(path: str | Path) -> URL:
    """Return the async SQLite URL of the database file at `path`."""
    return URL.create("sqlite+aiosqlite", database=str(path))


def normalize_url(url: str | URL) -> URL:
    """Return `url` with its async driver: ``sqlite://`` → aiosqlite, ``postgresql://`` → asyncpg.

    Raise `DatabaseURLError` for a malformed URL or another backend or driver.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"cannot parse database URL {str(url)!r}; {_URL_HINT}") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseURLError(f"unsupported database {parsed.drivername!r}; {_URL_HINT}")
    return parsed.set(drivername=driver)


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """Create an async engine for `url` (SQLite or PostgreSQL), set up as the module describes.

    Extra keyword arguments go to `sqlalchemy.ext.asyncio.create_async_engine`.
    """
    url = normalize_url(url)
    if url.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "connect", configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return an ORM session factory for `engine` whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def open_connection(engine: AsyncEngine) -> AsyncConnection:
    """Return a new, started connection of `engine`; the caller closes it.

    Raise `DatabaseUnavailableError` when the database cannot be opened.
    """
    url = engine.url
    folder = _sqlite_folder(url)
    if folder is not None and not folder.is_dir():
        # Said before the driver tries: aiosqlite's worker thread outlives a failed connect.
        raise DatabaseUnavailableError(safe_url(url), f"folder {folder} does not exist")
    try:
        return await engine.connect()
    except (OSError, DBAPIError) as exc:
        if folder is not None:
            # Let aiosqlite's worker thread finish stopping while the loop still runs: it
            # reports to the loop, and one that has closed makes it print a traceback.
            await asyncio.sleep(0.1)
        raise DatabaseUnavailableError(safe_url(url), _reason(exc)) from None


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Yield a new connection of `engine` (see `open_connection`), closed on exit."""
    conn = await open_connection(engine)
    try:
        yield conn
    finally:
        await conn.close()


def _sqlite_folder(url: URL) -> Path | None:
    """Return the folder of a SQLite database file, None for PostgreSQL or in memory."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None  # a URI: sqlite resolves it
    return Path(database).parent


def _reason(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Yield a connection for reads only; on SQLite its transaction begins deferred.

    The transaction is rolled back on exit. Do not write through this connection: a deferred
    transaction that later writes can fail with "database is locked".
    """
    async with connection(engine) as conn:
        await conn.execution_options(**{_DEFERRED: True})
        yield conn


async def take_write_lock(conn: AsyncConnection) -> None:
    """Serialize this write transaction with every other one that takes the lock.

    On SQLite the transaction's ``BEGIN IMMEDIATE`` already holds the single write lock; on
    PostgreSQL take a transaction-scoped advisory lock. Call it right after beginning.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK})


def configure_sqlite_connection(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Set up a new SQLite DBAPI connection: WAL, busy timeout, foreign keys, NORMAL sync.

    The driver's implicit transactions are turned off: SQLAlchemy emits BEGIN itself (see
    `_sqlite_on_begin`), and `fast_write` issues its own BEGIN IMMEDIATE.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    deferred = conn.get_execution_options().get(_DEFERRED, False)
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
