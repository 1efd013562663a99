"""Swap back after the wash-sale window (issue: optional; never above a short-term gain limit)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.sim.broker import SimBroker
from adapters.storage.records import IntentKind, IntentStatus
from daemon.app import Daemon, build_daemon
from daemon.events import Quote
from daemon.settings import (
    HarvestSettings,
    PriceSettings,
    RecurringPurchase,
    Settings,
    SubstituteGroup,
)
from ledger.engine import Ledger
from ledger.model import AccountType, Action, Parcel, Trade
from strategies.swap_back import decide_swap_back, window_over
from strategies.wash_guard import WashGuard

LOSS_DAY = date(2024, 3, 1)
NO_HISTORY = WashGuard.for_ledger(Ledger)  # a household with no other purchase


def parcel(qty: str, basis: str, start: date) -> Parcel:
    return Parcel(
        "SCHB-1",
        "taxable",
        AccountType.TAXABLE,
        "SCHB",
        Decimal(qty),
        Decimal(basis),
        start,
        start,
        datetime(2024, 3, 1, tzinfo=UTC),
        1,
    )


def test_the_window_is_over_only_after_30_days() -> None:
    """IRC §1091(a): a purchase 30 days after the loss sale still washes it; 31 does not."""
    assert not window_over(LOSS_DAY, LOSS_DAY + timedelta(days=30))
    assert window_over(LOSS_DAY, LOSS_DAY + timedelta(days=31))


def test_no_swap_back_above_the_short_term_gain_limit() -> None:
    """Selling the replacement must not realize a short-term gain above the limit."""
    d = decide_swap_back(
        [parcel("100", "6000", LOSS_DAY)],
        bid=Decimal("63"),
        loss_sale_day=LOSS_DAY,
        today=LOSS_DAY + timedelta(days=40),
        max_short_term_gain=Decimal("200"),
        guard=NO_HISTORY,
    )
    assert not d.go
    assert d.short_term_gain == Decimal("300")


def test_swap_back_within_the_limit_after_the_window() -> None:
    """A small short-term gain (within the limit) does not stop the swap back."""
    d = decide_swap_back(
        [parcel("100", "6000", LOSS_DAY)],
        bid=Decimal("61"),
        loss_sale_day=LOSS_DAY,
        today=LOSS_DAY + timedelta(days=40),
        max_short_term_gain=Decimal("200"),
        guard=NO_HISTORY,
    )
    assert d.go


def test_a_short_term_loss_offsets_in_the_net_gain() -> None:
    """The limit applies to the net short-term gain of the lots sold."""
    d = decide_swap_back(
        [parcel("100", "6000", LOSS_DAY), parcel("100", "6500", LOSS_DAY)],
        bid=Decimal("62"),
        loss_sale_day=LOSS_DAY,
        today=LOSS_DAY + timedelta(days=40),
        max_short_term_gain=Decimal("0"),
        guard=NO_HISTORY,
    )
    assert d.go
    assert d.short_term_gain == Decimal("-100")


class Rig:
    """A daemon on the simulator with a clock the test moves, and the decisions it logged."""

    def __init__(self, daemon: Daemon, clock: dict[str, datetime]) -> None:
        self.daemon, self.clock = daemon, clock
        self.decisions: list[tuple[str, dict[str, object]]] = []

    async def quotes(self, day: date, **bids: float) -> None:
        self.clock["now"] = datetime(day.year, day.month, day.day, 20, tzinfo=UTC)
        for symbol, bid in bids.items():
            q = Quote(symbol, bid, round(bid + 0.02, 2), self.clock["now"])
            self.daemon.broker.set_quote(q)  # type: ignore[attr-defined]
            await self.daemon.engine.handle(q)
        await self.daemon.engine.drain()

    def swap_back_skips(self) -> list[object]:
        """Return the reasons of the swap backs not made."""
        return [d["reason"] for name, d in self.decisions if name == "swap_back_skip"]


@pytest.fixture
async def rig(sqlite_url: str, request: pytest.FixtureRequest):
    """The harvest of 40 VTI (bought at $250) into SCHB on `LOSS_DAY`, swap back on; the
    parameter may set the short-term gain `limit` and `[[recurring]]` purchases."""
    options = getattr(request, "param", {})
    clock = {"now": datetime(2024, 1, 2, 20, tzinfo=UTC)}
    settings = Settings(
        substitutes=(SubstituteGroup(symbols=("VTI", "SCHB")),),
        harvest=HarvestSettings(
            swap_back=True, swap_back_max_st_gain_usd=options.get("limit", Decimal(200))
        ),
        prices=PriceSettings(confirm_quotes=0),  # each test quote is meant as it is
        accounts={"taxable": AccountType.TAXABLE, "ira": AccountType.IRA},
        recurring=options.get("recurring", ()),
    )
    broker = SimBroker(lambda: clock["now"])
    r = Rig(None, clock)  # type: ignore[arg-type]
    r.daemon = await build_daemon(
        settings,
        broker,
        lambda: clock["now"],
        database_url=sqlite_url,
        on_decision=lambda name, details: r.decisions.append((name, details)),
    )
    await r.daemon.engine.start()
    await r.daemon.engine.import_trades(
        [Trade(1, date(2024, 1, 2), "taxable", Action.BUY, "VTI", Decimal(40), Decimal(250))],
        source="test",
    )
    broker.set_position("taxable", "VTI", Decimal(40))
    await r.quotes(LOSS_DAY, SCHB=60.0, VTI=220.0)  # SCHB priced: harvest VTI -> SCHB
    yield r
    await r.daemon.close()


async def kinds(rig: Rig) -> list[IntentKind]:
    out = []
    for kind in IntentKind:
        out += [i.kind for i in await rig.daemon.repo.intents_of_kind(kind, (IntentStatus.FILLED,))]
    return out


async def test_swap_back_after_the_window(rig: Rig) -> None:
    """31 days after the harvest the replacement is sold and the original bought back."""
    await rig.quotes(LOSS_DAY + timedelta(days=31), VTI=221.0, SCHB=60.1)
    assert await rig.daemon.engine.swap_back_check(LOSS_DAY + timedelta(days=31)) == 1
    await rig.daemon.engine.drain()
    # Each buy of a sale's proceeds is followed by a top-up of what its fill left in cash.
    assert sorted(await kinds(rig)) == sorted(
        [
            IntentKind.HARVEST_SELL,
            IntentKind.REPLACEMENT_BUY,
            IntentKind.REPLACEMENT_BUY,
            IntentKind.SWAP_BACK_SELL,
            IntentKind.SWAP_BACK_BUY,
            IntentKind.SWAP_BACK_BUY,
        ]
    )
    assert rig.daemon.ledger.position("taxable", "SCHB") == 0
    assert rig.daemon.ledger.position("taxable", "VTI") > 0
    assert not any(row.washed for row in rig.daemon.ledger.sales)


async def test_no_swap_back_inside_the_window(rig: Rig) -> None:
    """Buying the original back within 30 days would wash the harvested loss."""
    await rig.quotes(LOSS_DAY + timedelta(days=30), VTI=221.0, SCHB=60.1)
    assert await rig.daemon.engine.swap_back_check(LOSS_DAY + timedelta(days=30)) == 0


@pytest.mark.parametrize("rig", [{"limit": Decimal(0)}], indirect=True)
async def test_no_swap_back_when_it_realizes_a_short_term_gain(rig: Rig) -> None:
    """With a zero limit, a replacement that has gained stays put."""
    await rig.quotes(LOSS_DAY + timedelta(days=31), VTI=230.0, SCHB=66.0)
    assert await rig.daemon.engine.swap_back_check(LOSS_DAY + timedelta(days=31)) == 0
    assert rig.daemon.ledger.position("taxable", "SCHB") > 0


SWAP_DAY = LOSS_DAY + timedelta(days=40)
IRA_PLAN = {"recurring": (RecurringPurchase(account="ira", symbol="SCHB", schedule="0 0 15 * *"),)}
"""The IRA buys SCHB on the 15th of each month: expected on 2024-04-15, 5 days after SWAP_DAY."""


async def ira_bought_schb(rig: Rig, day: date) -> None:
    """Journal the IRA's purchase of 10 SCHB on `day` (another account of the household)."""
    await rig.daemon.engine.import_trades(
        [Trade(2, day, "ira", Action.BUY, "SCHB", Decimal(10), Decimal(58))], source="test"
    )


async def test_no_swap_back_sale_at_a_loss_after_an_identical_purchase_in_another_account(
    rig: Rig,
) -> None:
    """IRC §1091(a), Rev. Rul. 2008-5: selling SCHB at a loss 10 days after the IRA bought
    SCHB would wash the loss (for good); the swap back is a sale like a harvest and passes the
    same guard (strategies/swap_back.py), so it is not made, and why."""
    await ira_bought_schb(rig, SWAP_DAY - timedelta(days=10))
    await rig.quotes(SWAP_DAY, VTI=205.0, SCHB=55.0)

    assert await rig.daemon.engine.swap_back_check(SWAP_DAY) == 0

    [reason] = rig.swap_back_skips()
    assert str(reason).startswith(
        "wash_guard: identical shares bought within 30 days would replace the sold ones: "
    )
    assert "in ira bought 2024-03-31" in str(reason)
    assert rig.daemon.ledger.position("taxable", "SCHB") > 0


@pytest.mark.parametrize("rig", [IRA_PLAN], indirect=True)
async def test_no_swap_back_sale_at_a_loss_into_an_expected_recurring_purchase(
    rig: Rig,
) -> None:
    """Issue #11 §3: the IRA buys SCHB on the 15th of each month (`[[recurring]]`); a swap
    back selling SCHB at a loss on 2024-04-10 would be washed by it, so it is not made."""
    await rig.quotes(SWAP_DAY, VTI=205.0, SCHB=55.0)

    assert await rig.daemon.engine.swap_back_check(SWAP_DAY) == 0

    [reason] = rig.swap_back_skips()
    assert str(reason).startswith("wash_guard: recurring purchase of SCHB in ira (recurring[0])")
    assert rig.daemon.ledger.position("taxable", "SCHB") > 0


@pytest.mark.parametrize("rig", [IRA_PLAN], indirect=True)
async def test_a_swap_back_sale_at_a_gain_is_not_held_by_the_wash_guard(rig: Rig) -> None:
    """A sale at a gain washes nothing (§1091 disallows losses only): neither the IRA's
    purchase of SCHB 10 days before nor its recurring purchase expected in 5 days stops a
    swap back whose sale realizes a gain."""
    await ira_bought_schb(rig, SWAP_DAY - timedelta(days=10))
    await rig.quotes(SWAP_DAY, VTI=221.0, SCHB=61.0)

    assert await rig.daemon.engine.swap_back_check(SWAP_DAY) == 1
    assert rig.swap_back_skips() == []
