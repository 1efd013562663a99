"""The pause switch's own guarantees (issue #10 §4, `daemon/pause.py`): an older stored state
never overrides a newer one, a pause reaches the engine even when it cannot be stored, and a
following daemon reads the stored state at once.

The switch drives a recording engine over the rig's SQLite file; `GatedRepository` lets a test
hold a read of the stored state in flight, or fail its writes, as a busy or full database does.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from daemonkit import Rig

from adapters.storage.engine import AsyncEngine
from adapters.storage.repository import Repository
from daemon.pause import PAUSE_KEY, PauseSwitch, read_pause


class Engine:
    """Records what the switch tells it (`daemon.pause.Pausable`)."""

    def __init__(self) -> None:
        self.paused: bool | None = None
        self.stopped = asyncio.Event()  # set once told to pause

    def pause_new_orders(self, paused: bool) -> None:
        self.paused = paused
        if paused:
            self.stopped.set()


class GatedRepository(Repository):
    """A repository whose next read of the pause state, once `hold` is called, is held after
    reading until the returned event is set; and whose pause writes fail while `failing`."""

    def __init__(self, db: AsyncEngine) -> None:
        super().__init__(db)
        self.failing = False
        self.read_done = asyncio.Event()
        self._gate: asyncio.Event | None = None

    def hold(self) -> asyncio.Event:
        self._gate = asyncio.Event()
        return self._gate

    async def get_state(self, key: str) -> str | None:
        value = await super().get_state(key)
        if key == PAUSE_KEY and (gate := self._gate) is not None:
            self._gate = None
            self.read_done.set()
            await gate.wait()
        return value

    async def set_state(self, key: str, value: str) -> None:
        if key == PAUSE_KEY and self.failing:
            raise OSError("database or disk is full")
        await super().set_state(key, value)


@pytest.fixture
def repo(rig: Rig) -> GatedRepository:
    return GatedRepository(rig.daemon.db)


async def switch_over(repo: Repository, engine: Engine | None = None) -> PauseSwitch:
    switch = PauseSwitch(repo, lambda: datetime.now(UTC), engine=engine)
    await switch.load()
    return switch


async def test_a_reread_in_flight_does_not_undo_a_pause_set_meanwhile(
    repo: GatedRepository,
) -> None:
    """#10 §4 review: a `set(True)` (MQTT, HTTP) landing while the follower's re-read is in
    flight wins; the re-read read the state it replaced and must not resume orders."""
    engine = Engine()
    switch = await switch_over(repo, engine)
    gate = repo.hold()
    refresh = asyncio.create_task(switch.refresh())
    await repo.read_done.wait()

    setter = asyncio.create_task(switch.set(True, by="mqtt"))
    with contextlib.suppress(TimeoutError):  # unserialised, the set completes meanwhile
        await asyncio.wait_for(asyncio.shield(setter), 0.5)
    gate.set()
    await asyncio.gather(refresh, setter)

    assert switch.state.paused
    assert engine.paused is True
    assert (await read_pause(repo)).paused


async def test_a_pause_reaches_the_engine_when_it_cannot_be_stored(
    repo: GatedRepository,
) -> None:
    """#10 §4 review, the guide's safe defaults: the kill switch must not fail open; a pause
    the database refuses still stops new orders, and the caller sees the error."""
    engine = Engine()
    switch = await switch_over(repo, engine)
    repo.failing = True

    with pytest.raises(OSError, match="disk is full"):
        await switch.set(True, by="cli")

    assert engine.paused is True
    assert switch.state.paused


async def test_a_pause_not_stored_is_stored_by_the_next_reread(repo: GatedRepository) -> None:
    """#10 §4 review: re-reading the stored (not paused) state must not undo a pause that could
    not be stored; the re-read stores it once the database takes writes again."""
    engine = Engine()
    switch = await switch_over(repo, engine)
    repo.failing = True
    with pytest.raises(OSError, match="disk is full"):
        await switch.set(True, by="http", reason="now")
    repo.failing = False

    await switch.refresh()

    assert engine.paused is True
    assert (await read_pause(repo)).reason == "now"


async def test_following_reads_the_stored_state_at_once(repo: GatedRepository) -> None:
    """#10 §4 review: `follow` re-reads at once, not a period later, so a `tlh pause` during
    the daemon's startup applies before trading begins."""
    engine = Engine()
    switch = await switch_over(repo, engine)
    await (await switch_over(repo)).set(True, by="cli")
    stop = asyncio.Event()

    follower = asyncio.create_task(switch.follow(stop, every=3600))
    try:
        await asyncio.wait_for(engine.stopped.wait(), 10)
    finally:
        stop.set()
        await follower

    assert switch.state.paused
