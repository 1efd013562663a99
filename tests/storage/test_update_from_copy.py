"""Updating an intent from the caller's copy of it (`Repository.update_intent(current=...)`).

The order manager keeps the intents it follows in memory, written through, so an update need
not read the row first; the stored status still guards the write (adapters/storage/repository.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.fast_write import fast_writer
from adapters.storage.records import Intent, IntentKind, IntentStatus, JournalEntry
from adapters.storage.repository import IntentTransitionError, Repository
from ledger.model import Action

KEY = "risk:2026-03-02"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _sale() -> Intent:
    return Intent(
        intent_id="tlh-hs-1",
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


async def _stored(repo: Repository) -> Intent:
    def submitted(intent: Intent, value: str | None) -> tuple[Intent, str | None]:
        return replace(intent, status=IntentStatus.SUBMITTED), None

    saved, _ = await repo.admit_intent(_sale(), KEY, submitted)
    return saved


async def test_an_update_from_the_stored_copy_writes_and_returns_the_stored_row(
    repo: Repository,
) -> None:
    """What comes back is what a later read returns."""
    copy = await _stored(repo)

    updated = await repo.update_intent(
        copy.intent_id,
        current=copy,
        status=IntentStatus.FILLED,
        filled_quantity=Decimal("12.000000001"),
        filled_notional=Decimal("2416.44"),
        payload={**copy.payload, "lots": ["VTI-1"]},
    )

    assert updated == await repo.get_intent(copy.intent_id)
    assert updated.status is IntentStatus.FILLED
    assert updated.payload["lots"] == ["VTI-1"]


async def test_a_copy_whose_status_is_not_the_stored_one_is_read_over(
    repo: Repository,
) -> None:
    """A stale copy writes nothing of its own: the row is read and updated as it is stored."""
    copy = await _stored(repo)
    await repo.update_intent(copy.intent_id, status=IntentStatus.ACCEPTED, reason="accepted")

    updated = await repo.update_intent(copy.intent_id, current=copy, broker_order_id="b-1")

    assert updated == await repo.get_intent(copy.intent_id)
    assert (updated.status, updated.reason, updated.broker_order_id) == (
        IntentStatus.ACCEPTED,
        "accepted",
        "b-1",
    )


async def test_a_transition_the_state_table_forbids_is_refused_from_a_copy_too(
    repo: Repository,
) -> None:
    """records.TRANSITIONS holds whichever way the row is known."""
    copy = await _stored(repo)
    filled = await repo.update_intent(copy.intent_id, current=copy, status=IntentStatus.FILLED)

    with pytest.raises(IntentTransitionError):
        await repo.update_intent(copy.intent_id, current=filled, status=IntentStatus.SUBMITTED)


@sqlite_only
async def test_on_a_sqlite_file_an_update_from_a_copy_is_one_synchronous_transaction(
    repo: Repository, engine: AsyncEngine
) -> None:
    """No read and no round trip per statement: the fast writer commits it."""
    copy = await _stored(repo)
    writer = fast_writer(engine)
    assert writer is not None
    before = writer.transactions

    await repo.update_intent(copy.intent_id, current=copy, status=IntentStatus.ACCEPTED)

    assert (writer.transactions - before, writer.fallbacks) == (1, 0)


def _sale_fill(external_id: str = "ib:exec:0001") -> JournalEntry:
    return JournalEntry.trade(
        account="taxable-1",
        action=Action.SELL,
        symbol="VTI",
        quantity=Decimal("12.000000001"),
        price=Decimal("201.38"),
        trade_date=date(2026, 3, 2),
        source="ib:fill",
        external_id=external_id,
        lot_id="lot-3",
    )


def _counted() -> dict[str, Any]:
    return {"filled_quantity": Decimal("12.000000001"), "filled_notional": Decimal("2416.56")}


async def test_a_fill_is_journaled_and_counted_in_its_intent_together(
    repo: Repository,
) -> None:
    """daemon/orders.py `on_fill`: the journal entry and the order's journaled quantity commit
    together; what comes back is what later reads return."""
    copy = await _stored(repo)

    written = await repo.append_fill(_sale_fill(), copy, _counted)

    assert written is not None
    seqs, saved = written
    assert saved == await repo.get_intent(copy.intent_id)
    assert saved.filled_quantity == Decimal("12.000000001")
    assert [r.seq for r in await repo.load_journal()] == seqs
    assert (await repo.load_journal())[0].external_id == "ib:exec:0001"


async def test_a_journaled_external_id_writes_nothing_and_counts_nothing(
    repo: Repository,
) -> None:
    """The journal skips known external ids (a replayed execution); the intent is not counted
    again, and `count` is not even asked."""
    copy = await _stored(repo)
    first = await repo.append_fill(_sale_fill(), copy, _counted)
    assert first is not None

    def never() -> dict[str, Any]:
        raise AssertionError("count asked for a repeat")

    again = await repo.append_fill(_sale_fill(), first[1], never)

    assert again == ([], first[1])
    assert len(await repo.load_journal()) == 1
    assert await repo.get_intent(copy.intent_id) == first[1]


async def test_a_stale_copy_journals_nothing(repo: Repository) -> None:
    """A copy whose status is not the stored one writes nothing at all (the caller reads the
    row and journals the long way)."""
    copy = await _stored(repo)
    await repo.update_intent(copy.intent_id, status=IntentStatus.ACCEPTED)

    assert await repo.append_fill(_sale_fill(), copy, _counted) is None
    assert await repo.load_journal() == []


async def test_a_refusal_inside_the_count_rolls_the_entry_back(repo: Repository) -> None:
    """Rules: an entry the ledger rejects is never written; the refusal propagates."""
    copy = await _stored(repo)

    def refuse() -> dict[str, Any]:
        raise LookupError("the ledger holds no such shares")

    with pytest.raises(LookupError):
        await repo.append_fill(_sale_fill(), copy, refuse)

    assert await repo.load_journal() == []
    assert await repo.get_intent(copy.intent_id) == copy


@sqlite_only
async def test_on_a_sqlite_file_a_fill_is_one_synchronous_transaction(
    repo: Repository, engine: AsyncEngine
) -> None:
    """No round trip per statement: the fast writer commits the entry and the count."""
    copy = await _stored(repo)
    writer = fast_writer(engine)
    assert writer is not None
    before = writer.transactions

    await repo.append_fill(_sale_fill(), copy, _counted)

    assert (writer.transactions - before, writer.fallbacks) == (1, 0)
