"""The order outbox: intents, their status transitions, and broker order events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.fast_write import fast_writer
from adapters.storage.records import Intent, IntentKind, IntentStatus, OrderEvent
from adapters.storage.repository import (
    IntentConflictError,
    IntentNotFoundError,
    IntentTransitionError,
    Repository,
    StaleIntentError,
)
from ledger.model import Action


def _sale(intent_id: str = "tlh-hs-1", **changes: object) -> Intent:
    intent = Intent(
        intent_id=intent_id,
        kind=IntentKind.HARVEST_SELL,
        account="taxable-1",
        symbol="VTI",
        side=Action.SELL,
        quantity=Decimal("12.000000001"),
        limit_price=Decimal("201.37"),
        lot_id="lot-3",
        reason="harvest: net loss 812.40",
        payload={"replacement": "SCHB", "lot_ids": ["lot-3"], "net_loss": "812.40"},
    )
    return replace(intent, **changes)  # type: ignore[arg-type]


async def test_an_intent_round_trips_with_every_field(repo: Repository) -> None:
    """A saved intent reads back equal, with decimals, enums, payload and UTC timestamps."""
    saved = await repo.save_intent(_sale())

    loaded = await repo.get_intent("tlh-hs-1")

    assert loaded == saved
    assert loaded is not None
    assert loaded.quantity == Decimal("12.000000001")
    assert loaded.side is Action.SELL
    assert loaded.status is IntentStatus.PENDING
    assert loaded.payload == {"replacement": "SCHB", "lot_ids": ["lot-3"], "net_loss": "812.40"}
    assert loaded.created_at is not None
    assert loaded.created_at.tzinfo is UTC
    assert loaded.updated_at == loaded.created_at


async def test_saving_the_same_intent_again_returns_the_stored_one(repo: Repository) -> None:
    """The client order id is deterministic: re-saving after a crash is a no-op."""
    first = await repo.save_intent(_sale())
    await repo.update_intent("tlh-hs-1", status=IntentStatus.SUBMITTED)

    again = await repo.save_intent(_sale())

    assert again.created_at == first.created_at
    assert again.status is IntentStatus.SUBMITTED


async def test_saving_a_different_order_under_a_used_id_is_refused(repo: Repository) -> None:
    """One client order id never names two different orders."""
    await repo.save_intent(_sale())

    with pytest.raises(IntentConflictError, match="quantity"):
        await repo.save_intent(_sale(quantity=Decimal(13)))


async def test_update_applies_changes_and_stamps_updated_at(repo: Repository) -> None:
    """Allowed changes are stored and `updated_at` moves forward."""
    saved = await repo.save_intent(_sale())

    updated = await repo.update_intent(
        "tlh-hs-1",
        status=IntentStatus.SUBMITTED,
        broker_order_id="b-77",
        filled_quantity=Decimal("0.5"),
        filled_notional=Decimal("100.685"),
    )

    assert updated == await repo.get_intent("tlh-hs-1")
    assert updated.broker_order_id == "b-77"
    assert updated.filled_notional == Decimal("100.685")
    assert saved.updated_at is not None
    assert updated.updated_at is not None
    assert updated.updated_at > saved.updated_at


async def test_a_transition_outside_the_state_table_is_refused(repo: Repository) -> None:
    """A filled order cannot go back to accepted; the stored intent is unchanged."""
    await repo.save_intent(_sale(status=IntentStatus.FILLED))

    with pytest.raises(IntentTransitionError):
        await repo.update_intent("tlh-hs-1", status=IntentStatus.ACCEPTED)

    stored = await repo.get_intent("tlh-hs-1")
    assert stored is not None
    assert stored.status is IntentStatus.FILLED


async def test_a_late_fill_after_cancel_is_accepted(repo: Repository) -> None:
    """Real-world edge: brokers can report a fill after confirming the cancel."""
    await repo.save_intent(_sale(status=IntentStatus.CANCELED))

    updated = await repo.update_intent("tlh-hs-1", status="filled")

    assert updated.status is IntentStatus.FILLED


async def test_update_with_a_stale_expected_status_is_refused(repo: Repository) -> None:
    """Compare-and-set: a writer that read an older status does not overwrite a newer one."""
    await repo.save_intent(_sale())
    await repo.update_intent("tlh-hs-1", status=IntentStatus.SUBMITTED)

    with pytest.raises(StaleIntentError):
        await repo.update_intent(
            "tlh-hs-1", expected_status=IntentStatus.PENDING, status=IntentStatus.DENIED
        )


async def test_identity_fields_and_unknown_intents_cannot_be_updated(repo: Repository) -> None:
    """Kind, side, quantity... are fixed at creation; an unknown id is an error."""
    await repo.save_intent(_sale())

    with pytest.raises(TypeError, match="quantity"):
        await repo.update_intent("tlh-hs-1", quantity=Decimal(1))
    with pytest.raises(IntentNotFoundError):
        await repo.update_intent("nope", status=IntentStatus.SUBMITTED)


async def test_open_intents_are_those_not_in_a_terminal_status(repo: Repository) -> None:
    """Startup recovery walks every intent that may still see broker activity, oldest first."""
    for n, status in enumerate(IntentStatus):
        await repo.save_intent(_sale(f"i-{n:02d}-{status.value}", status=status))

    open_ids = [i.intent_id for i in await repo.open_intents()]

    expected = [f"i-{n:02d}-{s.value}" for n, s in enumerate(IntentStatus) if not s.terminal]
    assert open_ids == expected
    assert {"pending", "submitted", "accepted", "partially_filled", "pending_cancel"} == {
        s.value for s in IntentStatus if not s.terminal
    }


async def test_finished_sales_without_a_follow_up_are_listed(repo: Repository) -> None:
    """A filled harvest sale whose replacement was never created is found after a restart."""
    await repo.save_intent(_sale("sold", status=IntentStatus.FILLED, filled_quantity=Decimal(12)))
    await repo.save_intent(
        _sale("replaced", status=IntentStatus.FILLED, filled_quantity=Decimal(1))
    )
    await repo.save_intent(_sale("unfilled", status=IntentStatus.CANCELED))
    await repo.save_intent(_sale("working", status=IntentStatus.ACCEPTED))
    await repo.save_intent(
        _sale(
            "buy",
            kind=IntentKind.REPLACEMENT_BUY,
            side=Action.BUY,
            symbol="SCHB",
            parent_intent_id="replaced",
            status=IntentStatus.DENIED,
        )
    )

    found = await repo.finished_harvests_without_replacement()

    assert [i.intent_id for i in found] == ["sold"]


async def test_order_events_are_appended_and_read_in_order(repo: Repository) -> None:
    """Every broker update is kept as received, per intent, in arrival order."""
    await repo.save_intent(_sale())
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    updates = [
        OrderEvent("tlh-hs-1", "accepted", at, raw='{"event":"new"}'),
        OrderEvent("tlh-hs-1", "partially_filled", at, Decimal("0.5"), Decimal("201.40")),
        OrderEvent("tlh-hs-1", "filled", at, Decimal("12.000000001"), Decimal("201.38")),
    ]

    ids = [await repo.append_order_event(u) for u in updates]
    stored = await repo.order_events("tlh-hs-1")

    assert ids == sorted(ids)
    assert [replace(e, event_id=None, recorded_at=None) for e in stored] == updates
    assert all(e.recorded_at is not None and e.recorded_at.tzinfo is UTC for e in stored)


async def test_an_order_event_for_an_unknown_intent_is_refused(repo: Repository) -> None:
    """Foreign keys are enforced (SQLite included): no orphan order events."""
    event = OrderEvent("missing", "filled", datetime(2026, 3, 2, tzinfo=UTC))

    with pytest.raises(IntegrityError):
        await repo.append_order_event(event)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_on_a_sqlite_file_an_order_event_is_one_synchronous_transaction(
    repo: Repository, engine: AsyncEngine
) -> None:
    """adapters/storage/repository.py `append_order_event`: the engine handles order updates
    between quotes, so on a SQLite file the event is committed by the fast writer (no round
    trip per statement), and reads back as written, ids ascending."""
    await repo.save_intent(_sale())
    writer = fast_writer(engine)
    assert writer is not None
    before = writer.transactions
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    updates = [
        OrderEvent("tlh-hs-1", "accepted", at),
        OrderEvent("tlh-hs-1", "filled", at, Decimal("12.000000001"), Decimal("201.38")),
    ]

    ids = [await repo.append_order_event(u) for u in updates]

    assert (writer.transactions - before, writer.fallbacks) == (2, 0)
    stored = await repo.order_events("tlh-hs-1")
    assert [e.event_id for e in stored] == ids == sorted(ids)
    assert [replace(e, event_id=None, recorded_at=None) for e in stored] == updates
