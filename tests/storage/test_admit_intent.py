"""The outbox's admission write: a new intent and the state it was decided on, atomically.

`Repository.admit_intent` is the write that sits between a harvest decision and its order, so
on a SQLite file it runs on the event loop's thread in one synchronous transaction
(`adapters.storage.fast_write`) and falls back to the async path whenever that would wait.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.fast_write import fast_writer
from adapters.storage.records import Intent, IntentKind, IntentStatus
from adapters.storage.repository import Repository
from ledger.model import Action

KEY = "risk:2026-03-02"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _sale(intent_id: str = "tlh-hs-1") -> Intent:
    return Intent(
        intent_id=intent_id,
        kind=IntentKind.HARVEST_SELL,
        account="taxable-1",
        symbol="VTI",
        side=Action.SELL,
        quantity=Decimal("12.000000001"),
        limit_price=Decimal("201.37"),
        lot_id="lot-3",
        reason="harvest",
        payload={"replacement": "SCHB"},
    )


def _count_up(intent: Intent, value: str | None) -> tuple[Intent, str | None]:
    """Admit the intent SUBMITTED and count it: the state holds how many were admitted."""
    return replace(intent, status=IntentStatus.SUBMITTED), str(int(value or 0) + 1)


async def test_a_new_intent_is_stored_with_the_state_it_was_decided_on(
    repo: Repository,
) -> None:
    """The decision sees the stored state; the intent and the new state commit together."""
    await repo.set_state(KEY, "4")

    stored, created = await repo.admit_intent(_sale(), KEY, _count_up)

    assert created
    assert stored.status is IntentStatus.SUBMITTED
    assert stored.created_at is not None
    assert await repo.get_intent("tlh-hs-1") == stored
    assert await repo.get_state(KEY) == "5"


async def test_an_existing_intent_is_returned_and_nothing_is_decided_again(
    repo: Repository,
) -> None:
    """Admitting the same intent id twice (a retry, a restart) counts it once."""
    first, _ = await repo.admit_intent(_sale(), KEY, _count_up)

    def refuse(intent: Intent, value: str | None) -> tuple[Intent, str | None]:
        raise AssertionError("decide must not run for a stored intent")

    again, created = await repo.admit_intent(_sale(), KEY, refuse)

    assert not created
    assert again == first
    assert await repo.get_state(KEY) == "1"


async def test_a_denial_leaves_the_state_unchanged(repo: Repository) -> None:
    """`decide` may store the intent DENIED and leave the state alone (new value None)."""

    def deny(intent: Intent, value: str | None) -> tuple[Intent, str | None]:
        return replace(intent, status=IntentStatus.DENIED, reason="risk: limit"), None

    stored, created = await repo.admit_intent(_sale(), KEY, deny)

    assert created
    assert stored.status is IntentStatus.DENIED
    assert await repo.get_state(KEY) is None


async def test_a_failing_decision_writes_nothing(repo: Repository) -> None:
    """An exception inside `decide` rolls the whole admission back."""

    def explode(intent: Intent, value: str | None) -> tuple[Intent, str | None]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await repo.admit_intent(_sale(), KEY, explode)

    assert await repo.get_intent("tlh-hs-1") is None


@sqlite_only
async def test_on_a_sqlite_file_the_admission_is_one_synchronous_transaction(
    repo: Repository, engine: AsyncEngine
) -> None:
    """On SQLite the fast writer commits it, without a round trip per statement."""
    writer = fast_writer(engine)
    assert writer is not None

    await repo.admit_intent(_sale(), KEY, _count_up)

    assert (writer.transactions, writer.fallbacks) == (1, 0)


@sqlite_only
async def test_the_fast_writer_never_waits_behind_an_open_async_write(
    repo: Repository, engine: AsyncEngine
) -> None:
    """Inside one of this process's write transactions it steps aside (else the loop would
    block on a lock that only the loop can release); the admission still commits."""
    writer = fast_writer(engine)
    assert writer is not None

    async with repo.transaction() as tx:
        await tx.set_state("other", "x")
        assert writer.run(lambda conn: None) == (False, None)
    stored, created = await repo.admit_intent(_sale(), KEY, _count_up)

    assert created
    assert writer.fallbacks == 1
    assert await repo.get_intent(stored.intent_id) == stored


@sqlite_only
async def test_another_process_holding_the_write_lock_sends_it_down_the_async_path(
    repo: Repository, engine: AsyncEngine
) -> None:
    """A writer outside this process makes the fast path give up at once, not block the loop;
    the async path then waits for the lock and commits (libraries.md §5, BEGIN IMMEDIATE)."""
    writer = fast_writer(engine)
    assert writer is not None
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert writer.run(lambda conn: None) == (False, None)
    finally:
        other.execute("ROLLBACK")
        other.close()

    _, created = await repo.admit_intent(_sale(), KEY, _count_up)

    assert created
    assert await repo.get_state(KEY) == "1"
    assert writer.transactions == 1
