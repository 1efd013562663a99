"""Concurrent writers and readers (libraries.md §5: without BEGIN IMMEDIATE, updates are lost)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from adapters.storage.records import JournalEntry
from adapters.storage.repository import Repository
from ledger.model import Action

WRITERS = 6
ROUNDS = 20


async def test_concurrent_read_modify_write_loses_no_update(repo: Repository) -> None:
    """Six tasks each increment a counter 20 times in their own transactions: 120, not fewer.

    Each task reads, yields to the others mid-transaction, then writes. On SQLite this needs
    BEGIN IMMEDIATE (a deferred BEGIN silently loses updates or fails with "database is
    locked"); on PostgreSQL the repository's writer lock gives the same guarantee.
    """
    await repo.set_state("counter", "0")

    async def increment() -> None:
        for _ in range(ROUNDS):
            async with repo.transaction() as tx:
                value = int(await tx.get_state("counter") or "0")
                await asyncio.sleep(0)  # let the other writers run inside this transaction
                await tx.set_state("counter", str(value + 1))

    await asyncio.gather(*(increment() for _ in range(WRITERS)))

    assert await repo.get_state("counter") == str(WRITERS * ROUNDS)


async def test_concurrent_appends_get_distinct_ascending_seqs(repo: Repository) -> None:
    """Parallel journal appends never share a seq, and each batch's seqs ascend."""

    async def append(writer: int) -> list[int]:
        entries = [
            JournalEntry.trade(
                account="taxable-1",
                action=Action.BUY,
                symbol="VTI",
                quantity=Decimal(n + 1),
                price=Decimal(1),
                trade_date=date(2026, 3, 2),
                source=f"w{writer}",
                external_id=f"w{writer}-{n}",
            )
            for n in range(25)
        ]
        return await repo.append_journal(entries)

    batches = await asyncio.gather(*(append(w) for w in range(WRITERS)))

    seqs = [s for batch in batches for s in batch]
    assert len(set(seqs)) == WRITERS * 25
    assert all(batch == sorted(batch) for batch in batches)
    # Each batch commits as a block: no other writer's rows in between its seqs.
    assert all(batch[-1] - batch[0] == len(batch) - 1 for batch in batches)
    assert [r.seq for r in await repo.load_journal()] == sorted(seqs)


async def test_readers_do_not_wait_for_an_open_write_transaction(repo: Repository) -> None:
    """While a write transaction is open, reads return at once and see only committed data."""
    await repo.set_state("mode", "committed")

    async with repo.transaction() as tx:
        await tx.set_state("mode", "uncommitted")
        seen = await asyncio.wait_for(repo.get_state("mode"), timeout=2)

    assert seen == "committed"
    assert await repo.get_state("mode") == "uncommitted"
