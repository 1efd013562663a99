"""Point reads on a SQLite file run on the event loop's thread (`FastWriter.read`), and reads
of the outbox by age (`Repository.intents_of_kind(since=...)`).

A read on the fast writer's connection begins its own transaction, so it sees every commit
made before it, whichever connection made it (adapters/storage/fast_write.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.fast_write import fast_writer
from adapters.storage.records import Intent, IntentKind, IntentStatus
from adapters.storage.repository import Repository
from adapters.storage.schema import intents
from ledger.model import Action
from tests.storage.conftest import TickingClock

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _buy(intent_id: str = "tlh-rb-1") -> Intent:
    return Intent(
        intent_id=intent_id,
        kind=IntentKind.REPLACEMENT_BUY,
        account="taxable-1",
        symbol="SCHB",
        side=Action.BUY,
        quantity=Decimal("3.000000001"),
        limit_price=Decimal("50.07"),
        reason="replacement for VTI",
        payload={"budget": "150.2", "trade_date": "2026-03-02"},
    )


async def test_an_intent_read_is_the_row_the_async_driver_reads(
    repo: Repository, engine: AsyncEngine
) -> None:
    """Exact decimals, UTC times and the payload come back as the column types convert them."""
    saved = await repo.save_intent(_buy())
    async with engine.connect() as conn:
        row = (await conn.execute(select(intents))).one()

    read = await repo.get_intent(saved.intent_id)

    assert read == saved
    assert read is not None
    assert read.created_at == row.created_at


@sqlite_only
async def test_on_a_sqlite_file_a_point_read_sees_a_commit_made_since_the_last_one(
    repo: Repository, engine: AsyncEngine
) -> None:
    """The fast connection keeps no snapshot between reads: an intent stored through the async
    driver after a read that missed it is found by the next read, on the fast path."""
    writer = fast_writer(engine)
    assert writer is not None
    assert await repo.get_intent("tlh-rb-1") is None
    async with repo.transaction() as tx:  # the async driver's connection, not the fast one
        await tx.save_intent(_buy())
    before = writer.reads

    found = await repo.get_intent("tlh-rb-1")

    assert found is not None
    assert found.intent_id == "tlh-rb-1"
    assert (writer.reads - before, writer.fallbacks) == (1, 0)


@sqlite_only
async def test_on_a_sqlite_file_a_state_read_sees_a_value_changed_since(
    repo: Repository, engine: AsyncEngine
) -> None:
    """A state value read, changed through the async driver, and read again is the new one."""
    await repo.set_state("plan:1", "a")
    assert await repo.get_state("plan:1") == "a"
    async with repo.transaction() as tx:  # the async driver's connection, not the fast one
        await tx.set_state("plan:1", "b")

    assert await repo.get_state("plan:1") == "b"


async def test_intents_of_kind_since_returns_those_created_at_or_after_it(
    repo: Repository, clock: TickingClock
) -> None:
    """`since` bounds created_at from below, inclusive; the order stays oldest first."""
    old = await repo.save_intent(_buy("tlh-rb-old"))
    clock.now += timedelta(days=10)
    recent = await repo.save_intent(_buy("tlh-rb-recent"))
    newer = await repo.save_intent(replace(_buy("tlh-rb-newer"), status=IntentStatus.FILLED))
    assert recent.created_at is not None
    assert old.created_at is not None

    found = await repo.intents_of_kind(IntentKind.REPLACEMENT_BUY, since=recent.created_at)

    assert [i.intent_id for i in found] == [recent.intent_id, newer.intent_id]


@sqlite_only
async def test_on_a_sqlite_file_the_reads_of_recovery_and_the_state_writes_stay_on_the_loop(
    repo: Repository, engine: AsyncEngine
) -> None:
    """Recovery runs every session (`OrderManager.resume`): its reads of the outbox and of
    the open plans, and the index's daily state writes, take the fast path (no round trip to
    the driver's thread), and read what the async driver wrote."""
    writer = fast_writer(engine)
    assert writer is not None
    async with repo.transaction() as tx:
        await tx.save_intent(_buy("tlh-rb-open"))
        await tx.set_state("open_plan:p1", "{}")
    reads, writes = writer.reads, writer.transactions

    open_ids = [i.intent_id for i in await repo.open_intents()]
    unfollowed = await repo.finished_harvests_without_replacement()
    buys = await repo.intents_of_kind(IntentKind.REPLACEMENT_BUY, [IntentStatus.PENDING])
    plans = await repo.states("open_plan:")
    await repo.set_state("open_plan:p2", "{}")
    taken = await repo.delete_state("open_plan:p1")

    assert open_ids == ["tlh-rb-open"]
    assert unfollowed == []
    assert [b.intent_id for b in buys] == ["tlh-rb-open"]
    assert plans == {"open_plan:p1": "{}"}
    assert taken
    assert (writer.reads - reads, writer.transactions - writes, writer.fallbacks) == (4, 2, 0)


async def test_states_match_their_prefix_literally(repo: Repository) -> None:
    """A prefix is text, not a pattern: "_" and "%" in it match only themselves."""
    for key in ("a_b:1", "axb:1", "a%b:1", "a%bc:1", "a_b"):
        await repo.set_state(key, key)

    assert list(await repo.states("a_b:")) == ["a_b:1"]
    assert list(await repo.states("a%b")) == ["a%b:1", "a%bc:1"]


async def test_a_state_is_taken_once(repo: Repository) -> None:
    """`delete_state` says whether the value was there: of two takers, one gets it."""
    await repo.set_state("request:1", "build")

    assert await repo.delete_state("request:1")
    assert not await repo.delete_state("request:1")
    assert await repo.get_state("request:1") is None
