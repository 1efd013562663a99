"""An entry the ledger rejects is never journaled, and a journal that holds one still works.

Issue #13 A.6; the rule is in the developers' guide ("an entry the ledger rejects is never
written") and the behaviour of replay in `daemon/journal_replay.py`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from bad_journal import write_bad_journal
from daemonkit import T0, TAXABLE, Rigs

from daemon.events import Fill, OrderSide


def _sale_beyond_ledger() -> Fill:
    """A sale of 50 VTI by an order tlh never placed, while the ledger holds 40."""
    return Fill(
        client_order_id="order:abc",
        execution_id="abc:50",
        account=TAXABLE,
        symbol="VTI",
        side=OrderSide.SELL,
        quantity=Decimal(50),
        price=Decimal("180"),
        at=T0,
        broker_order_id="abc",
        cumulative_quantity=Decimal(50),
    )


async def test_a_sale_the_ledger_cannot_relieve_is_not_journaled_and_halts(
    rigs: Rigs,
) -> None:
    """A fill the ledger would reject, whichever path brings it to the order manager, is
    not written: its symbol is halted (in memory and persisted) and the ledger is intact."""
    rig = await rigs.open()
    await rig.hold("VTI", "40", "200")

    await rig.orders.on_fill(_sale_beyond_ledger(), "sim")

    assert [r for r in await rig.fills() if r.symbol == "VTI"] == []
    assert rig.ledger.position(TAXABLE, "VTI") == 40
    assert "VTI" in rig.engine.halted
    assert [h.symbol for h in await rig.repo.active_halts()] == ["VTI"]
    assert "VTI" not in rig.engine.triggers  # no harvest of a halted symbol


async def test_a_journal_holding_a_rejected_entry_starts_halting_that_symbol(
    rigs: Rigs,
) -> None:
    """The daemon starts on a journal holding an entry the ledger rejects: the entry is
    skipped, later entries of the symbol and of others apply, and the symbol is halted."""
    first = await rigs.open(start=False)
    await write_bad_journal(first.repo)
    await first.close()

    rig = await rigs.open(first.url)

    assert rig.ledger.position(TAXABLE, "VTI") == 45
    assert rig.ledger.position(TAXABLE, "SCHB") == 10
    assert [r.symbol for r in rig.engine.rejected] == ["VTI"]
    assert "VTI" in rig.engine.halted
    (halt,) = await rig.repo.active_halts()
    assert halt.symbol == "VTI"
    assert "rejected by the ledger" in halt.reason


async def test_a_cleared_halt_of_a_rejected_entry_stays_cleared(rigs: Rigs) -> None:
    """Each rejected entry halts its symbol once: after a person clears the halt, the next
    start skips the entry again without halting anew."""
    first = await rigs.open(start=False)
    await write_bad_journal(first.repo)
    await first.close()
    second = await rigs.open(first.url)
    assert await second.repo.clear_halt("VTI", account=TAXABLE) == 1
    await second.close()

    third = await rigs.open(first.url)

    assert await third.repo.active_halts() == []
    assert "VTI" not in third.engine.halted
    assert third.ledger.position(TAXABLE, "VTI") == 45


@pytest.mark.parametrize("cumulative", [Decimal(15), None])
async def test_the_same_execution_from_two_sources_is_journaled_once(
    rigs: Rigs, cumulative: Decimal | None
) -> None:
    """One execution delivered twice under unrelated ids is journaled once when the broker
    gives the order's cumulative quantity (the execution's identity); without it, the
    external id is the only identity, and the ledger's check still stops an oversale."""
    rig = await rigs.open()
    await rig.hold("VTI", "15", "200")
    stream = Fill(
        client_order_id="order:o1",
        execution_id="stream-id",
        account=TAXABLE,
        symbol="VTI",
        side=OrderSide.SELL,
        quantity=Decimal(15),
        price=Decimal("180"),
        at=T0,
        broker_order_id="o1",
        cumulative_quantity=cumulative,
    )
    activity = Fill(**{**_fields(stream), "execution_id": "activity-id"})

    await rig.orders.on_fill(stream, "sim")
    await rig.orders.on_fill(activity, "sim")

    sales = [r for r in await rig.fills() if r.symbol == "VTI"]
    assert [r.quantity for r in sales] == [15]
    assert rig.ledger.position(TAXABLE, "VTI") == 0
    assert ("VTI" in rig.engine.halted) is (cumulative is None)


def _fields(fill: Fill) -> dict[str, object]:
    return {name: getattr(fill, name) for name in fill.__dataclass_fields__}
