"""Updating an intent from the caller's copy of it (`Repository.update_intent(current=...)`).

The order manager keeps the intents it follows in memory, written through, so an update need
not read the row first; the stored status still guards the write (adapters/storage/repository.py).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.fast_write import fast_writer
from adapters.storage.records import Intent, IntentKind, IntentStatus
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
