"""The wash-sale lockouts the rebalance is given: a name with a lot bought within 30 days may
not be sold at a loss in part (IRC §1091(a); issue #12 §4: "no loss sale of a name bought in
the last 30 days")."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from daemon.index_manager import lockouts_of
from ledger.engine import Ledger
from ledger.model import Action, Trade
from strategies.index.book import Holding
from strategies.wash_guard import WashGuard

TODAY = date(2024, 6, 3)


def _holding(*ages: int) -> tuple[WashGuard, dict[str, Holding]]:
    """Return the guard and holding of XYZ lots bought `ages` days before TODAY at $100."""
    ledger = Ledger()
    for seq, ago in enumerate(ages, 1):
        day = TODAY - timedelta(days=ago)
        ledger.apply(
            Trade(seq, day, "a", Action.BUY, "XYZ", Decimal(10), Decimal(100), lot_id=f"L{seq}")
        )
    guard = WashGuard.for_ledger(lambda: ledger)
    return guard, {"XYZ": Holding("XYZ", tuple(ledger.parcels("a", "XYZ")))}


def test_an_old_lot_beside_one_bought_within_30_days_is_locked() -> None:
    """Selling the old lot at a loss alone would be washed by the new one: locked."""
    guard, holdings = _holding(400, 10)
    locked = lockouts_of(guard, ["XYZ"], holdings, TODAY)
    assert "XYZ" in locked.no_loss_sale
    assert "L2" in locked.no_loss_sale["XYZ"]


def test_lots_all_older_than_30_days_are_not_locked() -> None:
    """No purchase within the window: the loss lots may be sold."""
    guard, holdings = _holding(400, 31)
    assert lockouts_of(guard, ["XYZ"], holdings, TODAY).no_loss_sale == {}


def test_a_single_lot_bought_within_30_days_is_not_locked_by_itself() -> None:
    """A lot's own purchase never replaces it (IRS Pub. 550: the shares sold are not their
    own replacement), so a lone recent lot may still be sold."""
    guard, holdings = _holding(10)
    assert lockouts_of(guard, ["XYZ"], holdings, TODAY).no_loss_sale == {}


def test_a_holding_outside_the_index_is_never_in_the_rebalances_book() -> None:
    """A fund bought before direct indexing (or kept by the ETF-pair strategy in the same
    account) is the user's: the rebalance never sees it, so never sells it at a gain to move
    toward the target (review: $300k of VTI sold for the tracking error)."""
    from adapters.base import LotRelief
    from daemon.index_manager import holdings_of
    from ledger.conventions import LotMethod

    ledger = Ledger()
    ledger.apply(Trade(1, date(2020, 1, 2), "a", Action.BUY, "VTI", Decimal(1000), Decimal(60)))
    ledger.apply(Trade(2, date(2020, 1, 2), "a", Action.BUY, "AAPL", Decimal(10), Decimal(100)))
    relief = LotRelief(specific_lots=True, method=LotMethod.FIFO)
    prices = {"VTI": Decimal(300), "AAPL": Decimal(150)}

    held = holdings_of(ledger, "a", prices, relief, TODAY, universe={"AAPL", "MSFT"})

    assert set(held) == {"AAPL"}
