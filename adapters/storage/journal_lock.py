"""One process owns a journal: an exclusive lock taken at start and held for the process's life.

SQLite: an exclusive ``flock`` on the file ``<database>.lock`` beside the database. PostgreSQL:
a session advisory lock (scoped to the database) on a dedicated connection. The OS or the server
releases either when its holder dies, even by ``kill -9``, so a lock never outlives its process.
The holder (pid, host, start time) is written into the lock file, or into the lock connection's
``application_name`` (visible to every session in ``pg_stat_activity``), so that a second
process can name it. The lock file is never deleted: a process that opened the old file would
hold a lock nobody else sees.

Readers (`tlh lots`, `tlh status`, `tlh tax report`, `tlh halts list`) do not take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from adapters.storage.engine import (
    DatabaseUnavailableError,
    create_engine,
    normalize_url,
    open_connection,
    safe_url,
)

# ("tlh", owner); the writers' transaction lock is 0x746C68_0001 (adapters.storage.engine).
PG_OWNER_KEY = 0x746C68_0002
VERIFY_TIMEOUT = 10.0  # seconds `JournalLock.verify` waits for the lock's connection
_PG_APP_NAME_MAX = 63  # NAMEDATALEN - 1: the server truncates longer application names
_HOLDER_QUERY = text(
    "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid = :hi AND l.objid = :lo"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass(frozen=True, slots=True)
class Holder:
    """The process that owns a journal."""

    pid: int
    host: str
    started: str  # ISO 8601, UTC, seconds

    @classmethod
    def this_process(cls) -> Holder:
        """Return this process as a holder, started now."""
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(os.getpid(), socket.gethostname(), started)

    def describe(self) -> str:
        """Return e.g. ``pid 4242 on nas, since 2026-12-06T05:49:44Z``."""
        return f"pid {self.pid} on {self.host}, since {self.started}"

    def to_json(self) -> str:
        """Return the holder as the lock file holds it."""
        return json.dumps({"pid": self.pid, "host": self.host, "started": self.started})

    @classmethod
    def from_json(cls, raw: str) -> Holder | None:
        """Parse a lock file's content; None when it is empty or not a holder."""
        try:
            data = json.loads(raw)
            return cls(int(data["pid"]), str(data["host"]), str(data["started"]))
        except (ValueError, TypeError, KeyError):
            return None

    def to_app_name(self) -> str:
        """Return the holder as a PostgreSQL application name (at most 63 characters)."""
        fixed = f"tlh {self.pid}@ {self.started}"
        host = self.host[: max(_PG_APP_NAME_MAX - len(fixed), 0)]
        return f"tlh {self.pid}@{host} {self.started}"

    @classmethod
    def from_app_name(cls, name: str) -> Holder | None:
        """Parse `to_app_name`'s output; None for another application's name."""
        prefix, _, rest = name.partition(" ")
        who, _, started = rest.partition(" ")
        pid, _, host = who.partition("@")
        if prefix != "tlh" or not pid.isdigit() or not started:
            return None
        return cls(int(pid), host, started)


class JournalLockedError(RuntimeError):
    """Another process owns the journal."""

    def __init__(self, database: str, holder: Holder | None) -> None:
        who = holder.describe() if holder is not None else "another process"
        super().__init__(
            f"database {database} is in use by another tlh process ({who}); "
            "only one daemon may own a journal"
        )
        self.holder = holder


class JournalLockLostError(RuntimeError):
    """The journal lock is gone while its process runs: another daemon may take the journal."""


class JournalLock:
    """A held journal lock; `release` it when the process stops (its death releases it too)."""

    def __init__(
        self,
        *,
        fd: int | None = None,
        engine: AsyncEngine | None = None,
        conn: AsyncConnection | None = None,
    ) -> None:
        self._fd = fd
        self._engine = engine
        self._conn = conn

    async def verify(self) -> None:
        """Raise `JournalLockLostError` when the lock is no longer held.

        A flock lasts as long as its descriptor. A PostgreSQL session lock lasts as long as
        its connection, which a server restart or a network fault can end: then another
        process may own the journal, and this one must stop (systemd restarts it).
        """
        if self._conn is None:
            return
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT):
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
        except Exception as exc:
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise JournalLockLostError(
                f"lost the journal lock: its database connection failed ({cause})"
            ) from None

    async def release(self) -> None:
        """Release the lock; calling it again does nothing."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor releases the flock
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # a lost connection has released it already
                await conn.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()


async def lock_journal(url: str | URL) -> JournalLock:
    """Take the journal lock of the database at `url` for this process.

    Raise `JournalLockedError` naming the holder when another process has it, and
    `DatabaseUnavailableError` when the database (or the lock file's folder) cannot be opened.
    An in-memory SQLite database needs no lock: no other process can open it.
    """
    url = normalize_url(url)
    if url.get_backend_name() == "postgresql":
        return await _lock_postgres(url)
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return JournalLock()
    return await _lock_sqlite_file(url, Path(database))


async def _lock_sqlite_file(url: URL, database: Path) -> JournalLock:
    path = _lock_file(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DatabaseUnavailableError(safe_url(url), _os_reason(exc, path)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = await _read_holder(fd)
        finally:
            os.close(fd)
        raise JournalLockedError(safe_url(url), holder) from None
    except OSError as exc:
        os.close(fd)
        raise DatabaseUnavailableError(safe_url(url), _os_reason(exc, path)) from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, Holder.this_process().to_json().encode(), 0)
    return JournalLock(fd=fd)


def _lock_file(database: Path) -> Path:
    """Return the lock file of `database`: one per database file, whichever symbolic link or
    relative path names it (hard links are not followed; SQLite warns against them)."""
    resolved = database.resolve()
    return resolved.with_name(resolved.name + ".lock")


async def _read_holder(fd: int) -> Holder | None:
    # The holder writes itself right after taking the lock: give it a moment to do so.
    for _ in range(20):
        holder = Holder.from_json(os.pread(fd, 4096, 0).decode(errors="replace"))
        if holder is not None:
            return holder
        await asyncio.sleep(0.05)
    return None


async def _lock_postgres(url: URL) -> JournalLock:
    name = Holder.this_process().to_app_name()
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"server_settings": {"application_name": name}}
    )
    try:
        conn = await open_connection(engine)
    except BaseException:
        await engine.dispose()
        raise
    try:
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_OWNER_KEY})
        ).scalar_one()
        if not got:
            hi, lo = divmod(PG_OWNER_KEY, 1 << 32)
            names = (await conn.execute(_HOLDER_QUERY, {"hi": hi, "lo": lo})).scalars().all()
            holder = next(filter(None, map(Holder.from_app_name, names)), None)
            raise JournalLockedError(safe_url(url), holder)
        # A session lock outlives the transaction; an idle open transaction would hold back
        # the server's vacuum for the daemon's whole life.
        await conn.commit()
    except BaseException:
        await conn.close()
        await engine.dispose()
        raise
    return JournalLock(engine=engine, conn=conn)


def _os_reason(exc: OSError, path: Path) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"folder {path.parent} does not exist"
    return f"{path}: {exc.strerror or exc}"
