"""Short write (and read) transactions on a SQLite file without leaving the event loop's thread.

Through aiosqlite every statement is a round trip to the driver's thread and back through the
event loop, which costs about a millisecond per statement on a loop busy with a market-data
stream. The few writes that sit between a decision and an order leaving (the outbox's intent)
cannot afford four of them. For those, `FastWriter` runs the whole transaction synchronously
through the standard `sqlite3` driver on a connection of its own, on the loop's thread: it
blocks the loop for the fraction of a millisecond the transaction takes (WAL,
``synchronous=NORMAL``, no fsync on commit) and needs no thread hop at all.

The statements are SQLAlchemy Core statements, compiled once by the engine's own dialect, and
their parameters go through the same bind processors (exact decimals as text, UTC times), so
rows written here are the rows the async path writes. Work is written against `Statements`,
which both paths implement, so it exists once. Point reads the order manager makes between
orders (is this intent stored yet?) take the same route (`FastWriter.read`), their values
converted by the columns' own result processors: in WAL mode a reader waits for no writer,
and a read transaction begun now sees every commit so far, whichever connection made it.

It never waits for a lock while blocking the loop: it runs only while no async write
transaction of this process is open (`WriteTracker`), and it gives up at once when another
process holds SQLite's write lock (a 0 ms busy timeout), so the caller falls back to the async
path, which waits without blocking. PostgreSQL and in-memory SQLite databases have no fast
writer (`fast_writer` returns None).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.engine import configure_sqlite_connection

T = TypeVar("T")


class Statements(Protocol):
    """Run Core statements inside one open write transaction."""

    def rows(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query (values as the driver returns them)."""

    def run(self, stmt: Any, params: dict[str, Any]) -> None:
        """Execute a statement that returns no rows."""

    def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query, its values converted as the column types say."""


class CoreStatements:
    """`Statements` over a SQLAlchemy connection (the async path, through ``run_sync``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query."""
        return self._conn.execute(stmt, params).all()

    def run(self, stmt: Any, params: dict[str, Any]) -> None:
        """Execute a statement that returns no rows."""
        self._conn.execute(stmt, params)

    def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query, its values converted as the column types say."""
        return self._conn.execute(stmt, params).all()


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


class _Compiled:
    """One statement compiled for the `sqlite3` driver: SQL and its parameters in order."""

    __slots__ = ("binds", "results", "sql")

    def __init__(self, stmt: Any, keys: Sequence[str], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = str(compiled)
        self.binds = [
            (name, compiled.binds[name].type.bind_processor(dialect))
            for name in compiled.positiontup or ()
        ]
        # What SQLAlchemy's result applies to each selected column (None: nothing to do).
        self.results: list[Callable[[Any], Any] | None] | None = None
        if getattr(stmt, "is_select", False):
            self.results = [
                c.type._cached_result_processor(dialect, None) for c in stmt.selected_columns
            ]


class _RawStatements:
    """`Statements` over a `sqlite3` connection, with statements compiled once."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled] = {}

    def rows(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query."""
        return self._execute(stmt, params).fetchall()

    def run(self, stmt: Any, params: dict[str, Any]) -> None:
        """Execute a statement that returns no rows."""
        self._execute(stmt, params)

    def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Return every row of a query, its values converted as the column types say."""
        compiled, args = self._bind(stmt, params)
        rows = self._run(compiled.sql, args).fetchall()
        results = compiled.results
        assert results is not None, "fetch is for SELECT statements"
        if not any(results):
            return rows
        return [
            tuple(v if p is None else p(v) for p, v in zip(results, row, strict=True))
            for row in rows
        ]

    def _execute(self, stmt: Any, params: dict[str, Any]) -> sqlite3.Cursor:
        compiled, args = self._bind(stmt, params)
        return self._run(compiled.sql, args)

    def _run(self, sql: str, args: list[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, args)
        except sqlite3.Error as exc:
            # Raise what the async path raises (e.g. sqlalchemy.exc.IntegrityError).
            raise DBAPIError.instance(sql, args, exc, sqlite3.Error, dialect=self._dialect) from exc

    def _bind(self, stmt: Any, params: dict[str, Any]) -> tuple[_Compiled, list[Any]]:
        # Statements are module constants, so their id is a stable cache key.
        key = (id(stmt), tuple(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(stmt, tuple(params), self._dialect)
        args = [
            params[name] if process is None else process(params[name])
            for name, process in compiled.binds
        ]
        return compiled, args


class FastWriter:
    """Run short write (and read) transactions synchronously on a SQLite file (see the
    module)."""

    def __init__(self, database: str, dialect: Dialect, tracker: WriteTracker) -> None:
        self._database = database
        self._dialect = dialect
        self._tracker = tracker
        self._conn: sqlite3.Connection | None = None
        self._statements: _RawStatements | None = None
        self.transactions = 0
        self.reads = 0
        self.fallbacks = 0

    def run(self, work: Callable[[Statements], T]) -> tuple[bool, T | None]:
        """Run `work` in one write transaction now; return (True, result), or (False, None)
        when it cannot run without waiting for a lock (nothing was written then)."""
        if self._tracker.open:
            self.fallbacks += 1
            return False, None
        statements = self._open()
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
            self.fallbacks += 1
            return False, None
        try:
            result = work(statements)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.transactions += 1
        return True, result

    def read(self, work: Callable[[Statements], T]) -> tuple[bool, T | None]:
        """Run `work` in one read transaction now; return (True, result), or (False, None)
        when SQLite would have it wait (WAL readers wait for no writer, but may find the
        database busy for a moment, e.g. while another connection recovers it)."""
        statements = self._open()
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN")
            result = work(statements)
            conn.execute("COMMIT")
        except (sqlite3.OperationalError, DBAPIError) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            if isinstance(cause, sqlite3.OperationalError) and _locked(cause):
                self.fallbacks += 1
                return False, None
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.reads += 1
        return True, result

    def dispose(self) -> None:
        """Close the writer's connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._statements = None

    def _open(self) -> _RawStatements:
        if self._statements is None:
            # Used from the event loop's thread only, one transaction at a time; not tied to
            # the thread that opened it, so a loop restarted in another thread can use it.
            conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
            configure_sqlite_connection(conn)
            # Never wait on the loop's thread; leave checkpoints (an fsync of the database
            # file) to the async connections' commits.
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
            self._statements = _RawStatements(conn, self._dialect)
        return self._statements


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
        if (
            url.get_backend_name() != "sqlite"
            or database in ("", ":memory:")
            or (url.query.get("mode") == "memory")
        ):
            return None
        writer = _writers[key] = FastWriter(database, key.dialect, write_tracker(engine))
    return writer


def dispose_fast_writer(engine: AsyncEngine) -> None:
    """Close `engine`'s fast writer, if it has one (call it next to `engine.dispose()`)."""
    writer = _writers.pop(engine.sync_engine, None)
    if writer is not None:
        writer.dispose()


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
