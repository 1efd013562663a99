"""A daemon started in the test's own event loop over a real broker adapter, to stop or kill.

Shared by the Alpaca and IB kits (tests/alpaca/alpacakit.py, tests/ib_daemon/ibdaemonkit.py):
the same daemon (`daemon.app.build_daemon`), only the adapter differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import select

from adapters.base import Broker
from adapters.storage.records import Intent, IntentKind, JournalRecord
from adapters.storage.schema import intents
from daemon.app import Daemon
from daemon.engine import HarvestEngine

B = TypeVar("B", bound=Broker)


@dataclass
class RunningDaemon(Generic[B]):
    """A started daemon over the adapter `broker`, with its `engine.run` task."""

    daemon: Daemon
    broker: B
    url: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    closed: bool = False

    @property
    def engine(self) -> HarvestEngine:
        """The harvest engine."""
        return self.daemon.engine

    async def close(self) -> None:
        """Stop the daemon gracefully."""
        if self.closed:
            return
        self.closed = True
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
        await self.daemon.close()

    async def kill(self) -> None:
        """Kill the daemon mid-flight: its run task is cancelled wherever it stands.

        A real crash ends the process, and the OS closes its database connections. Here the
        process lives on: a write transaction the cancellation cut off leaves its connection
        checked out, holding SQLite's write lock, until SQLAlchemy's pool reclaims it when it
        is garbage collected; collect now, as the process's end would.
        """
        if self.closed:
            return
        self.closed = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.daemon.close()
        gc.collect()
        await asyncio.sleep(0)  # let the reclaimed connections' close complete

    def alive(self) -> bool:
        """Return whether the engine's run task is still running."""
        return self.task is not None and not self.task.done()

    async def journal(self) -> list[JournalRecord]:
        """Return the journal in seq order."""
        return await self.daemon.repo.load_journal()

    async def intents(self, kind: IntentKind) -> list[Intent]:
        """Return the stored intents of one kind (open or not)."""
        async with self.daemon.db.connect() as conn:
            rows = (
                await conn.execute(select(intents.c.intent_id).where(intents.c.kind == kind.value))
            ).all()
        found = [await self.daemon.repo.get_intent(r.intent_id) for r in rows]
        return [i for i in found if i is not None]
