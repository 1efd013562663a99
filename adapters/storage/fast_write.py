"""Short write transactions on a SQLite file without leaving the event loop's thread.

Through aiosqlite every statement is a round trip to the driver's thread and back through the
event loop, which costs about a millisecond per statement on a loop busy with a market-data
stream. The few writes that sit between a decision and an order leaving (the outbox's intent)
cannot afford four of them. For those, `FastWriter` runs the whole transaction synchronously
through the standard `sqlite3` driver on a connection of its own, on the loop's thread: it
blocks the loop for the fraction of a millisecond the transaction takes (WAL,
``synchronous=NORMAL``, no fsync on commit) and needs no thread hop at all.

It never waits for a lock while blocking the loop: it runs only while no async write
transaction of this process is open (`WriteTracker`), and it gives up at once when another
process holds SQLite's write lock (a 0 ms busy timeout), so the caller falls back to the async
path, which waits without blocking. PostgreSQL and in-memory SQLite databases have no fast
writer (`fast_writer` returns None).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.engine import _sqlite_on_begin, _sqlite_on_connect

T = TypeVar("T")


class WriteTracker:
    """Count the async write transactions of one engine that are open in this process."""

    def __init__(self) -> None:
        self.open = 0

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Count one open write transaction for the duration of the block."""
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1


class FastWriter:
    """Run short write transactions synchronously on a SQLite file (see the module)."""

    def __init__(self, database: str, tracker: WriteTracker) -> None:
        self._tracker = tracker
        self._engine: Engine = create_engine(f"sqlite:///{database}")
        event.listen(self._engine, "connect", _on_connect)
        event.listen(self._engine, "begin", _sqlite_on_begin)
        self._conn: Connection | None = None  # kept open: no pool checkout and reset per call
        self.transactions = 0
        self.fallbacks = 0

    def run(self, work: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """Run `work` in one write transaction now; return (True, result), or (False, None)
        when it cannot run without waiting for a lock (nothing was written then)."""
        if self._tracker.open:
            self.fallbacks += 1
            return False, None
        conn = self._conn
        if conn is None:
            conn = self._conn = self._engine.connect()
        try:
            with conn.begin():
                result = work(conn)
        except OperationalError as exc:
            if not _locked(exc):
                raise
            self.fallbacks += 1
            return False, None
        self.transactions += 1
        return True, result

    def dispose(self) -> None:
        """Close the writer's connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()


_trackers: weakref.WeakKeyDictionary[Engine, WriteTracker] = weakref.WeakKeyDictionary()
_writers: weakref.WeakKeyDictionary[Engine, FastWriter] = weakref.WeakKeyDictionary()


def write_tracker(engine: AsyncEngine) -> WriteTracker:
    """Return the open-write-transaction count shared by every repository over `engine`."""
    key = engine.sync_engine
    tracker = _trackers.get(key)
    if tracker is None:
        tracker = _trackers[key] = WriteTracker()
    return tracker


def fast_writer(engine: AsyncEngine) -> FastWriter | None:
    """Return the fast writer of `engine`'s SQLite file (one per engine), or None."""
    key = engine.sync_engine
    writer = _writers.get(key)
    if writer is None:
        url = engine.url
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or (
                url.query.get("mode") == "memory"):
            return None
        writer = _writers[key] = FastWriter(database, write_tracker(engine))
    return writer


def dispose_fast_writer(engine: AsyncEngine) -> None:
    """Close `engine`'s fast writer, if it has one (call it next to `engine.dispose()`)."""
    writer = _writers.pop(engine.sync_engine, None)
    if writer is not None:
        writer.dispose()


def _on_connect(dbapi_connection: object, connection_record: object) -> None:
    _sqlite_on_connect(dbapi_connection, connection_record)
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute("PRAGMA busy_timeout=0")  # never wait on the loop's thread
        # Leave checkpoints (an fsync of the database file) to the async connections' commits.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


def _locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text
