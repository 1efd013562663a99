"""The status snapshot (`daemon.snapshot.build_snapshot`, issue #10 §3 and §5) of a journal
built through the real engine: open lots, harvests with their losses and replacements, wash-sale
windows and the daemon's state.

Household (tests/daemon/daemonkit.py): 40 VTI bought 2023-11-01 at $200 ($8,000 basis) in a
taxable account; substitutes VTI -> SCHB -> ITOT; VTI ~ VTSAX and SCHB ~ SWTSX identical. The
clock stands at Monday 2024-03-04 10:00 New York. A sale at a $180 bid with no fees realises
a short-term loss of $800, which at the default 24 % short-term rate saves $192.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from daemonkit import TAXABLE, Rig, Rigs, make_settings

from daemon.observation import NOT_PAUSED, HarvestRecord, PauseState, StatusSnapshot, WashWindow
from daemon.snapshot import build_snapshot

SALE_DAY = date(2024, 3, 4)
REOPENS = date(2024, 4, 4)  # the 31st day after the sale: the first outside the window


async def snapshot(rig: Rig, **overrides: Any) -> StatusSnapshot:
    """Return the snapshot of the rig's daemon as the running daemon builds it."""
    options: dict[str, Any] = {
        "bids": {},
        "now": rig.clock.now(),
        "pause": NOT_PAUSED,
        "connected": True,
        "trading_enabled": True,
        "orders_in_flight": len(rig.orders.open_intents),
    }
    return await build_snapshot(rig.settings, rig.repo, rig.ledger, **{**options, **overrides})


async def harvest_vti(rig: Rig) -> str:
    """Hold the VTI lot, quote SCHB, let a $180 bid harvest it; return the sale's id."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00, 180.04)
    return rig.harvest_id("VTI", lot)


async def test_a_harvest_shows_its_realised_loss_tax_saved_and_replacement(
    rigs: Rigs, db_url: str
) -> None:
    """#10 §3/§5: each harvest with its loss (the ledger's sale rows: $8,000 basis - $7,200
    proceeds) and the tax it saves at the `[tax]` short-term rate, as `daemon/backtest.py`
    sums them; the replacement is what its replacement buy bought (SQLite and PostgreSQL)."""
    rig = await rigs.open(db_url)
    sale_id = await harvest_vti(rig)

    snap = await snapshot(rig)

    assert snap.harvests == (
        HarvestRecord(
            intent_id=sale_id,
            day=SALE_DAY,
            account=TAXABLE,
            symbol="VTI",
            quantity=Decimal(40),
            loss=Decimal("800.00"),
            estimated_tax_saved=Decimal("192.00"),
            replacement="SCHB",
        ),
    )
    assert (snap.harvested_loss_ytd, snap.estimated_tax_saved_ytd) == (
        Decimal("800.00"),
        Decimal("192.00"),
    )
    assert snap.harvests_today == 1
    assert snap.harvests_in(2023) == ()


async def test_a_harvest_sold_in_parts_is_one_harvest(rigs: Rigs) -> None:
    """A sale above `max_order_notional` leaves as several orders (daemon/orders.py
    `split_quantity`); the snapshot counts the harvest once, with every part's loss."""
    rig = await rigs.open(settings=make_settings(risk={"max_order_notional": 5000}))
    sale_id = await harvest_vti(rig)
    assert len(rig.broker.stored_at_submit) > 2  # two sale orders and their replacements

    (harvest,) = (await snapshot(rig)).harvests

    assert (harvest.quantity, harvest.loss, harvest.replacement) == (
        Decimal(40),
        Decimal("800.00"),
        "SCHB",
    )
    assert harvest.intent_id != sale_id  # parts get ids of their own; the first names it


async def test_a_harvest_into_cash_has_no_replacement(rigs: Rigs) -> None:
    """With no substitute and `harvest.allow_cash`, the sale's proceeds stay in cash."""
    rig = await rigs.open(settings=make_settings(substitutes=[], harvest={"allow_cash": True}))
    await rig.hold("VTI", "40", "200")
    await rig.quote("VTI", 180.00, 180.04)

    (harvest,) = (await snapshot(rig)).harvests

    assert (harvest.loss, harvest.replacement) == (Decimal("800.00"), None)


async def test_open_lots_are_priced_at_the_bid_when_known(rig: Rig) -> None:
    """#10 §5 "open lots with unrealized gain/loss": market value at the bid less the
    adjusted basis; a lot without a bid (`tlh status`) has none, and no portfolio value."""
    await rig.hold("VTI", "40", "200")

    (priced,) = (await snapshot(rig, bids={"VTI": Decimal("195.10")})).open_lots
    unpriced = await snapshot(rig)

    assert (priced.basis, priced.market_value, priced.unrealized) == (
        Decimal("8000"),
        Decimal("7804.00"),
        Decimal("-196.00"),
    )
    assert (await snapshot(rig, bids={"VTI": Decimal("195.10")})).unrealized_loss == Decimal(
        "196.00"
    )
    assert [(lot.symbol, lot.unrealized) for lot in unpriced.open_lots] == [("VTI", None)]
    assert unpriced.portfolio_value is None


async def test_wash_windows_lock_the_sold_and_the_bought_symbols_for_30_days(rig: Rig) -> None:
    """IRC §1091(a), 30 days either side (/work/shared/reference/wash-sale-rules.md §1): after
    the harvest VTI and its identical VTSAX may not be bought, and SCHB (with SWTSX) may not be
    sold at a loss, until the 31st day after the trades (`WashGuard` blocks the 30th)."""
    await harvest_vti(rig)

    windows = (await snapshot(rig)).wash_windows

    assert set(windows) == {
        WashWindow("VTI", TAXABLE, "no_buy", SALE_DAY, REOPENS),
        WashWindow("VTSAX", TAXABLE, "no_buy", SALE_DAY, REOPENS),
        WashWindow("SCHB", TAXABLE, "no_loss_sale", SALE_DAY, REOPENS),
        WashWindow("SWTSX", TAXABLE, "no_loss_sale", SALE_DAY, REOPENS),
    }


async def test_wash_windows_close_after_30_days(rig: Rig) -> None:
    """The windows of a sale 31 days ago are over (IRC §1091(a): the 61-day period)."""
    await harvest_vti(rig)
    rig.advance(days=31)

    assert (await snapshot(rig, now=rig.clock.now())).wash_windows == ()


@pytest.mark.parametrize(
    ("connected", "paused", "kill_switch", "state"),
    [
        (False, True, True, "disconnected"),
        (True, True, True, "halted"),
        (None, True, False, "paused"),
        (True, False, True, "halted"),
        (True, False, False, "running"),
        (None, False, False, "running"),
    ],
)
async def test_the_state_names_the_first_thing_that_stops_orders(
    rigs: Rigs, connected: bool | None, paused: bool, kill_switch: bool, state: str
) -> None:
    """#10 §3 status: disconnected, else halted (the `[risk]` kill switch, the hard stop of
    every order), else paused (`tlh pause`), else running; the kill switch or a pause means
    no new order may leave (#10 §4 review)."""
    rig = await rigs.open(settings=make_settings(risk={"kill_switch": kill_switch}))

    snap = await snapshot(rig, connected=connected, pause=PauseState(paused=paused))

    assert snap.state == state
    assert snap.trading_enabled is not (kill_switch or paused)


async def test_halted_symbols_and_journal_entries_come_from_the_database(rig: Rig) -> None:
    """`tlh halts` halts are the snapshot's; the journal counts every entry."""
    await rig.hold("VTI", "40", "200")
    await rig.repo.set_halt("VTI", "a person looked")
    await rig.repo.set_halt("VTI", "again", account=TAXABLE)

    snap = await snapshot(rig)

    assert (snap.halted_symbols, snap.journal_entries) == (("VTI",), 1)
