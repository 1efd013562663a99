"""Specification tests of the wash-sale rule: trigger, window, basis, matching order, identity.

Each test states one behaviour and the rule (or rules-file convention) it follows; see
/work/shared/reference/wash-sale-rules.md. Holding periods, accounts and lot relief have their
own files.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.conventions import WashSaleConventions
from ledger.engine import Ledger
from ledger.model import OpenLot, SaleRow, Trade
from tests.ledger.helpers import D, buy, run, sell, split, total

# The loss sale used throughout: 100 shares bought for $1,000, sold for $750 (a $250 loss).
BOUGHT = "2024-01-02"
SOLD = "2024-03-01"


def _day(base: str, offset: int) -> str:
    return (date.fromisoformat(base) + timedelta(days=offset)).isoformat()


def _lot(lots: list[OpenLot], lot_id: str) -> OpenLot:
    [lot] = [lot for lot in lots if lot.lot_id == lot_id]
    return lot


def _rows(rows: list[SaleRow], lot_id: str) -> list[SaleRow]:
    return [r for r in rows if r.lot_id == lot_id]


# -- Pub 550 examples -----------------------------------------------------------------------


def test_pub550_example_1_disallowed_loss_is_added_to_the_cheaper_replacement() -> None:
    """Pub 550, Wash Sales, Example 1: $250 loss disallowed, new basis $800 + $250 = $1,050."""
    ledger = run(
        buy(BOUGHT, "XYZ", "100", "10", lot="old"),
        sell(SOLD, "XYZ", "100", "7.50"),
        buy("2024-03-15", "XYZ", "100", "8", lot="new"),
    )
    [row] = ledger.sales
    assert (row.proceeds, row.adjusted_basis) == (D("750.00"), D("1000.00"))
    assert row.wash_sale_disallowed == D("250.00")
    assert row.gain_loss == D("0.00")
    assert row.replacement_lot_ids == ("new",)
    [new] = ledger.open_lots()
    assert (new.cost_basis, new.adjusted_basis) == (D("800.00"), D("1050.00"))


def test_pub550_example_2_disallowed_loss_is_added_to_the_dearer_replacement() -> None:
    """Pub 550, Wash Sales, Example 2: repurchase for $1,100, so the new basis is $1,350."""
    ledger = run(
        buy(BOUGHT, "XYZ", "100", "10"),
        sell(SOLD, "XYZ", "100", "7.50"),
        buy("2024-03-15", "XYZ", "100", "11", lot="new"),
    )
    [row] = ledger.sales
    assert row.wash_sale_disallowed == D("250.00")
    [new] = ledger.open_lots()
    assert (new.cost_basis, new.adjusted_basis) == (D("1100.00"), D("1350.00"))


def test_pub550_more_bought_than_sold_only_the_first_shares_bought_absorb_the_loss() -> None:
    """Pub 550, "More or less stock bought than sold" (more bought); Reg. §1.1091-1(c).

    100 shares bought 2013-09-24 sold 2014-02-03 at a $1,000 loss; 50 shares bought on each of
    Feb 10-13. The first 100 replacement shares (Feb 10 and Feb 11) take $500 each.
    """
    ledger = run(
        buy("2013-09-24", "XYZ", "100", "20", lot="sold"),
        sell("2014-02-03", "XYZ", "100", "10"),
        buy("2014-02-10", "XYZ", "50", "10", lot="feb10"),
        buy("2014-02-11", "XYZ", "50", "10", lot="feb11"),
        buy("2014-02-12", "XYZ", "50", "10", lot="feb12"),
        buy("2014-02-13", "XYZ", "50", "10", lot="feb13"),
    )
    lots = ledger.open_lots()
    assert [(lot.lot_id, lot.adjusted_basis) for lot in lots] == [
        ("feb10", D("1000.00")),
        ("feb11", D("1000.00")),
        ("feb12", D("500.00")),
        ("feb13", D("500.00")),
    ]
    assert [(r.replacement_lot_ids, r.quantity, r.wash_sale_disallowed) for r in ledger.sales] == [
        (("feb10", "feb11"), D("100"), D("1000.00"))
    ]
    assert total(ledger.sales, "gain_loss") == D("0.00")


def test_pub550_less_bought_than_sold_only_the_matched_shares_are_washed() -> None:
    """Pub 550, "More or less stock bought than sold" (less bought); Reg. §1.1091-1(c).

    75 shares bought 2014-01-06, within 30 days before the 2014-02-03 sale of 100 shares at a
    $1,000 loss: $750 is disallowed, $250 deductible; the sale is reported as two rows.
    """
    ledger = run(
        buy("2013-09-24", "XYZ", "100", "20", lot="sold"),
        buy("2014-01-06", "XYZ", "75", "12", lot="jan6"),
        sell("2014-02-03", "XYZ", "100", "10"),  # FIFO: the 2013 lot
    )
    rows = sorted(ledger.sales, key=lambda r: -r.quantity)
    assert [
        (r.quantity, r.proceeds, r.adjusted_basis, r.wash_sale_disallowed, r.gain_loss)
        for r in rows
    ] == [
        (D("75"), D("750.00"), D("1500.00"), D("750.00"), D("0.00")),
        (D("25"), D("250.00"), D("500.00"), D("0"), D("-250.00")),
    ]
    assert total(ledger.sales, "wash_sale_disallowed") == D("750.00")
    [jan6] = ledger.open_lots()
    assert (jan6.cost_basis, jan6.adjusted_basis) == (D("900.00"), D("1650.00"))


# -- the trigger and the window ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "washed"),
    [(30, True), (31, False), (-30, True), (-31, False), (0, True)],
    ids=["day+30", "day+31", "day-30", "day-31", "same-day"],
)
def test_the_window_is_30_calendar_days_either_side_inclusive(offset: int, washed: bool) -> None:
    """IRC §1091(a): the 61-day period from 30 days before to 30 days after the sale."""
    ledger = run(
        buy("2023-12-01", "XYZ", "100", "10", lot="old"),
        sell(SOLD, "XYZ", "100", "7.50", lot="old"),
        buy(_day(SOLD, offset), "XYZ", "100", "8", lot="new"),
    )
    [row] = _rows(ledger.sales, "old")
    assert row.wash_sale_disallowed == (D("250.00") if washed else D("0"))
    assert _lot(ledger.open_lots(), "new").adjusted_basis == (
        D("1050.00") if washed else D("800.00")
    )


def test_a_sale_at_a_gain_is_never_washed() -> None:
    """IRC §1091(a) disallows losses only; a gain is recognised whatever is bought around it."""
    ledger = run(
        buy(BOUGHT, "XYZ", "100", "10"),
        buy("2024-02-20", "XYZ", "100", "11", lot="before"),
        sell(SOLD, "XYZ", "100", "12"),
        buy("2024-03-05", "XYZ", "100", "11", lot="after"),
    )
    [row] = ledger.sales
    assert (row.gain_loss, row.wash_sale_disallowed, row.replacement_lot_ids) == (
        D("200.00"),
        D("0"),
        (),
    )
    assert [lot.adjusted_basis for lot in ledger.open_lots()] == [D("1100.00"), D("1100.00")]


# -- chains, matching order ------------------------------------------------------------------


def test_a_washed_replacement_sold_at_a_loss_washes_again_carrying_its_adjustment() -> None:
    """Reg. §1.1091-2 / IRC §1091(d): the replacement's basis is the old basis, adjusted.

    A $200 loss rolls into B (basis $900 + $200 = $1,100); B sold for $850 is a $250 loss
    (including the rolled $200), which rolls into C: $800 + $250 = $1,050.
    """
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        sell("2024-02-01", "XYZ", "100", "8"),
        buy("2024-02-10", "XYZ", "100", "9", lot="B"),
        sell("2024-03-01", "XYZ", "100", "8.50"),
        buy("2024-03-10", "XYZ", "100", "8", lot="C"),
    )
    a, b = ledger.sales
    assert (a.lot_id, a.wash_sale_disallowed, a.replacement_lot_ids) == ("A", D("200.00"), ("B",))
    assert (b.lot_id, b.cost_basis, b.adjusted_basis) == ("B", D("900.00"), D("1100.00"))
    assert (b.wash_sale_disallowed, b.replacement_lot_ids) == (D("250.00"), ("C",))
    [c] = ledger.open_lots()
    assert (c.lot_id, c.adjusted_basis) == ("C", D("1050.00"))
    # Nothing was deducted along the way: the whole $450 economic loss sits in C's basis.
    assert total(ledger.sales, "gain_loss") == D("0.00")


def test_a_replacement_share_serves_only_once() -> None:
    """Reg. §1.1091-1(e): a share whose acquisition caused one disallowance is disregarded
    for any other loss. One 100-share purchase washes the first of two 100-share losses."""
    ledger = run(
        buy("2023-11-01", "XYZ", "100", "10", lot="A"),
        buy("2023-11-02", "XYZ", "100", "10", lot="B"),
        buy("2024-01-20", "XYZ", "100", "8", lot="R"),
        sell("2024-02-01", "XYZ", "100", "8", lot="A"),
        sell("2024-02-05", "XYZ", "100", "8", lot="B"),
    )
    a, b = ledger.sales
    assert (a.lot_id, a.wash_sale_disallowed, a.replacement_lot_ids) == ("A", D("200.00"), ("R",))
    assert (b.lot_id, b.wash_sale_disallowed, b.gain_loss) == ("B", D("0"), D("-200.00"))
    assert _lot(ledger.open_lots(), "R").adjusted_basis == D("1000.00")


def test_losses_take_replacements_in_the_order_of_the_dispositions() -> None:
    """Reg. §1.1091-1(b): losses are matched in the order of the sales, so the earlier sale
    ($200 loss) gets the one later replacement, not the later, larger ($300) loss."""
    ledger = run(
        buy("2023-11-01", "XYZ", "100", "10", lot="A"),
        buy("2023-11-02", "XYZ", "100", "10", lot="B"),
        sell("2024-02-01", "XYZ", "100", "8", lot="A"),
        sell("2024-02-05", "XYZ", "100", "7", lot="B"),
        buy("2024-02-10", "XYZ", "100", "7", lot="R"),
    )
    a, b = ledger.sales
    assert (a.lot_id, a.wash_sale_disallowed) == ("A", D("200.00"))
    assert (b.lot_id, b.wash_sale_disallowed, b.gain_loss) == ("B", D("0"), D("-300.00"))
    assert _lot(ledger.open_lots(), "R").adjusted_basis == D("900.00")


def test_same_day_losses_take_replacements_in_the_recorded_order_of_sale() -> None:
    """Reg. §1.1091-1(b): same-day losses follow the order of disposition when it is known
    (here the source order of the rows); B, sold first though bought later, gets R."""
    ledger = run(
        buy("2023-11-01", "XYZ", "100", "10", lot="A"),
        buy("2023-11-02", "XYZ", "100", "10", lot="B"),
        sell("2024-02-01", "XYZ", "100", "7", lot="B"),
        sell("2024-02-01", "XYZ", "100", "8", lot="A"),
        buy("2024-02-10", "XYZ", "100", "7", lot="R"),
    )
    b, a = ledger.sales
    assert (b.lot_id, b.wash_sale_disallowed) == ("B", D("300.00"))
    assert (a.lot_id, a.wash_sale_disallowed, a.gain_loss) == ("A", D("0"), D("-200.00"))


def test_same_day_losses_with_times_take_replacements_in_the_order_of_their_times() -> None:
    """README convention 6 (order of sale): a timestamp, where the file gives one, is the order
    of sale; the file's order only breaks ties. A, sold at 10:00 though written after B (sold
    at 15:00), gets R."""
    ledger = run(
        buy("2023-11-01", "XYZ", "100", "10", lot="A"),
        buy("2023-11-02", "XYZ", "100", "10", lot="B"),
        sell("2024-02-01", "XYZ", "100", "7", lot="B")._replace(at=datetime(2024, 2, 1, 15)),
        sell("2024-02-01", "XYZ", "100", "8", lot="A")._replace(at=datetime(2024, 2, 1, 10)),
        buy("2024-02-10", "XYZ", "100", "7", lot="R"),
    )
    a, b = ledger.sales
    assert (a.lot_id, a.wash_sale_disallowed) == ("A", D("200.00"))
    assert (b.lot_id, b.wash_sale_disallowed, b.gain_loss) == ("B", D("0"), D("-300.00"))


def test_replacement_shares_are_matched_in_the_order_they_were_bought() -> None:
    """Pub 550, More or less stock bought than sold: replacement shares are matched "in the
    same order that you bought them, beginning with the first shares bought". The sale is one
    washed row naming its replacements in that order (issue #2: split only where part is
    washed)."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "60", "9", lot="first"),
        buy("2024-02-25", "XYZ", "60", "9", lot="second"),
        sell(SOLD, "XYZ", "100", "8", lot="A"),
    )
    assert [(r.replacement_lot_ids, r.quantity, r.wash_sale_disallowed) for r in ledger.sales] == [
        (("first", "second"), D("100"), D("200.00"))
    ]
    assert [(lot.lot_id, lot.quantity, lot.adjusted_basis) for lot in ledger.open_lots()] == [
        ("first", D("60"), D("660.00")),
        ("second", D("40"), D("440.00")),
        ("second", D("20"), D("180.00")),
    ]


def test_a_lot_washed_by_several_replacements_is_one_row_in_the_order_of_relief() -> None:
    """Issue #2: one row per lot a sale relieves, split only where part is washed. Lot A's
    loss, washed by two later purchases, is one row, still before lot B's."""
    ledger = run(
        buy("2024-01-02", "XYZ", "10", "10", lot="A"),
        buy("2024-01-03", "XYZ", "10", "10", lot="B"),
        sell("2024-02-12", "XYZ", "20", "8"),
        buy("2024-02-15", "XYZ", "5", "8", lot="R1"),
        buy("2024-02-16", "XYZ", "5", "8", lot="R2"),
        buy("2024-02-17", "XYZ", "10", "8", lot="R3"),
    )
    assert [
        (r.lot_id, r.quantity, r.wash_sale_disallowed, r.replacement_lot_ids) for r in ledger.sales
    ] == [
        ("A", D("10"), D("20.00"), ("R1", "R2")),
        ("B", D("10"), D("20.00"), ("R3",)),
    ]


# -- convention 2: a lot is not its own replacement --------------------------------------------


def test_selling_part_of_a_lot_is_not_washed_by_the_rest_of_that_lot() -> None:
    """Convention 2 (rules file), default `own_lot_replaces=False` (Fairmark; both calculators):
    the unsold shares of the very lot being sold, bought within 30 days, are no replacement."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        sell("2024-01-20", "XYZ", "50", "8"),
    )
    [row] = ledger.sales
    assert (row.wash_sale_disallowed, row.gain_loss) == (D("0"), D("-100.00"))
    [rest] = ledger.open_lots()
    assert rest.adjusted_basis == D("500.00")


def test_with_own_lot_replaces_the_rest_of_the_lot_washes_the_partial_sale() -> None:
    """Convention 2 (rules file), the literal reading of §1091: `own_lot_replaces=True`."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        sell("2024-01-20", "XYZ", "50", "8"),
        conventions=WashSaleConventions(own_lot_replaces=True),
    )
    [row] = ledger.sales
    assert (row.wash_sale_disallowed, row.replacement_lot_ids) == (D("100.00"), ("A",))
    [rest] = ledger.open_lots()
    assert (rest.lot_id, rest.quantity, rest.adjusted_basis) == ("A", D("50"), D("600.00"))


# -- substantially identical, crypto ----------------------------------------------------------


@pytest.mark.parametrize(
    ("identical", "washed"),
    [([["SPY", "VOO", "IVV"]], True), ([], False), ([["SPY", "IVV"]], False)],
    ids=["declared-identical", "no-groups", "other-group"],
)
def test_a_purchase_of_a_declared_identical_fund_washes(
    identical: list[list[str]], washed: bool
) -> None:
    """Pub 550, Substantially identical: no ruling on same-index ETFs, so the grouping is a
    policy input; SPY loss + VOO purchase washes only when they are declared identical."""
    ledger = run(
        buy("2024-01-02", "SPY", "100", "10"),
        sell(SOLD, "SPY", "100", "8"),
        buy("2024-03-10", "VOO", "100", "9", lot="voo"),
        identical=identical,
    )
    [row] = ledger.sales
    assert row.wash_sale_disallowed == (D("200.00") if washed else D("0"))
    assert _lot(ledger.open_lots(), "voo").adjusted_basis == (
        D("1100.00") if washed else D("900.00")
    )


def test_identical_groups_sharing_a_symbol_merge() -> None:
    """Substantial identity is transitive in tlh (`Identity`): groups [SPY, VOO] and
    [VOO, IVV] form one group, so an IVV purchase washes an SPY loss."""
    ledger = run(
        buy("2024-01-02", "SPY", "100", "10"),
        sell(SOLD, "SPY", "100", "8"),
        buy("2024-03-10", "IVV", "100", "9", lot="ivv"),
        identical=[["SPY", "VOO"], ["VOO", "IVV"]],
    )
    [row] = ledger.sales
    assert (row.wash_sale_disallowed, row.replacement_lot_ids) == (D("200.00"), ("ivv",))


def test_symbols_are_not_identical_to_each_other_by_default() -> None:
    """Pub 550: stock of one corporation is ordinarily not substantially identical to stock of
    another, so a loss on XYZ is not washed by buying ABC."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10"),
        sell(SOLD, "XYZ", "100", "8"),
        buy("2024-03-10", "ABC", "100", "8"),
    )
    [row] = ledger.sales
    assert row.wash_sale_disallowed == D("0")


@pytest.mark.parametrize(
    ("conventions", "disallowed"),
    [(None, D("0")), (WashSaleConventions(crypto_wash_sales=True), D("200.00"))],
    ids=["default-no-wash", "crypto_wash_sales"],
)
def test_crypto_is_outside_the_wash_sale_rule_by_default(
    conventions: WashSaleConventions | None, disallowed: Decimal
) -> None:
    """Rules file, Crypto: digital assets are not "stock or securities" for §1091 (sources
    through 2025); `WashSaleConventions(crypto_wash_sales=True)` opts in."""
    ledger = run(
        buy("2024-01-02", "BTC-USD", "2", "1000"),
        sell(SOLD, "BTC-USD", "2", "900"),
        buy("2024-03-10", "BTC-USD", "2", "950", lot="again"),
        conventions=conventions,
    )
    [row] = ledger.sales
    assert row.wash_sale_disallowed == disallowed
    assert row.gain_loss == D("-200.00") + disallowed
    assert _lot(ledger.open_lots(), "again").adjusted_basis == D("1900.00") + disallowed


# -- same day ---------------------------------------------------------------------------------


def test_a_loss_sale_and_a_repurchase_on_the_same_day_wash() -> None:
    """IRC §1091(a): the day of the sale is inside the 61-day period (Pub 550, same day)."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        sell(SOLD, "XYZ", "100", "8"),
        buy(SOLD, "XYZ", "100", "8", lot="R"),
    )
    [row] = ledger.sales
    assert (row.wash_sale_disallowed, row.replacement_lot_ids) == (D("200.00"), ("R",))
    assert _lot(ledger.open_lots(), "R").adjusted_basis == D("1000.00")


def test_a_same_day_round_trip_rolls_the_loss_into_the_later_lots_gain() -> None:
    """Fairmark's same-day round trip (rules file, Same day): loss of $200 on A, buy B and
    sell it later that day at a $100 gain; A's loss raises B's basis, so B shows -$100."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        sell(SOLD, "XYZ", "100", "8"),
        buy(SOLD, "XYZ", "100", "8", lot="B"),
        sell(SOLD, "XYZ", "100", "9"),
    )
    a, b = ledger.sales
    assert (a.lot_id, a.wash_sale_disallowed, a.gain_loss) == ("A", D("200.00"), D("0.00"))
    assert (b.lot_id, b.adjusted_basis, b.gain_loss) == ("B", D("1000.00"), D("-100.00"))
    assert ledger.open_lots() == []


def test_shares_held_at_a_loss_sale_replace_it_even_if_sold_later_the_same_day() -> None:
    """Convention 3 (rules file), tlh's choice as adlr's calculator since 2016: B, held when A
    is sold at a loss, is A's replacement although B is sold later that day."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "100", "8", lot="B"),
        sell(SOLD, "XYZ", "100", "8", lot="A"),
        sell(SOLD, "XYZ", "100", "9", lot="B"),
    )
    a, b = ledger.sales
    assert (a.wash_sale_disallowed, a.replacement_lot_ids) == (D("200.00"), ("B",))
    assert (b.adjusted_basis, b.gain_loss) == (D("1000.00"), D("-100.00"))


def test_a_lot_fully_sold_before_the_loss_sale_is_no_replacement() -> None:
    """Convention 4 (rules file), tlh's choice as Valloric's tracker: B, bought and sold before
    A's loss sale, does not become A's replacement retroactively."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "100", "8", lot="B"),
        sell("2024-02-25", "XYZ", "100", "9", lot="B"),
        sell(SOLD, "XYZ", "100", "8", lot="A"),
    )
    b, a = ledger.sales
    assert (b.lot_id, b.gain_loss) == ("B", D("100.00"))
    assert (a.lot_id, a.wash_sale_disallowed, a.gain_loss) == ("A", D("0"), D("-200.00"))


def test_a_lot_sold_earlier_the_same_day_is_no_replacement() -> None:
    """Convention 4, measured at the moment of the sale, not by date: B, bought before and sold
    on the very day of A's loss sale but before it (earlier in the file), is no longer held
    when A is sold, so it is not A's replacement (convention 3 is the mirror case)."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "100", "8", lot="B"),
        sell(SOLD, "XYZ", "100", "9", lot="B"),
        sell(SOLD, "XYZ", "100", "8", lot="A"),
    )
    b, a = ledger.sales
    assert (b.lot_id, b.gain_loss) == ("B", D("100.00"))
    assert (a.lot_id, a.wash_sale_disallowed, a.gain_loss) == ("A", D("0"), D("-200.00"))


# -- convention 7: within a lot, its wash-adjusted blocks before its plain remainder -----------


def _half_washed_lot(*later: Trade) -> Ledger:
    """Lot R of 200 shares at $8, of which 100 replace A's $200 loss: a block with basis
    $1,000 and A's holding period, then R's plain remainder (100 shares, $800)."""
    return run(
        buy("2023-06-01", "XYZ", "100", "10", lot="A"),
        sell("2024-03-01", "XYZ", "100", "8", lot="A"),
        buy("2024-03-05", "XYZ", "200", "8", lot="R"),
        *later,
    )


def test_a_lot_sells_its_wash_adjusted_block_before_its_plain_remainder() -> None:
    """README convention 7: a sale of half of R (named, or FIFO) relieves the adjusted block
    first, with its basis and tacked holding period; the plain remainder stays open."""
    for lot in ("R", None):
        ledger = _half_washed_lot(sell("2024-04-01", "XYZ", "100", "9", lot=lot))
        _a, row = ledger.sales
        assert (row.lot_id, row.adjusted_basis, row.gain_loss) == ("R", D("1000.00"), D("-100.00"))
        assert row.holding_period_start < date(2024, 3, 5)
        [rest] = ledger.open_lots()
        assert (rest.quantity, rest.adjusted_basis) == (D("100"), D("800.00"))
        assert rest.holding_period_start == date(2024, 3, 5)


def test_a_lot_sold_at_a_loss_washes_its_adjusted_block_first() -> None:
    """README convention 7: all of R sold at $7 (losses: block $300, remainder $100) and 100
    shares bought back within 30 days: the block's loss, relieved first, is the one washed."""
    ledger = _half_washed_lot(
        sell("2024-04-01", "XYZ", "200", "7", lot="R"),
        buy("2024-04-10", "XYZ", "100", "7", lot="S"),
    )
    _a, block, plain = ledger.sales
    assert (block.adjusted_basis, block.wash_sale_disallowed, block.replacement_lot_ids) == (
        D("1000.00"),
        D("300.00"),
        ("S",),
    )
    assert (plain.adjusted_basis, plain.wash_sale_disallowed, plain.gain_loss) == (
        D("800.00"),
        D("0"),
        D("-100.00"),
    )
    assert _lot(ledger.open_lots(), "S").adjusted_basis == D("1000.00")


# -- splits -----------------------------------------------------------------------------------


def test_a_split_doubles_shares_keeping_basis_and_holding_period() -> None:
    """A 2:1 split is not a purchase: basis and holding period carry over to twice the shares,
    and selling them all at half the price shows neither gain nor loss."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", lot="A"),
        split("2024-02-01", "XYZ", "2"),
    )
    [lot] = ledger.open_lots()
    assert (lot.lot_id, lot.quantity, lot.cost_basis, lot.acquired, lot.holding_period_start) == (
        "A",
        D("200"),
        D("1000.00"),
        date(2024, 1, 2),
        date(2024, 1, 2),
    )
    ledger.apply(sell("2024-03-01", "XYZ", "200", "5"))
    [row] = ledger.sales
    assert (row.quantity, row.proceeds, row.adjusted_basis, row.gain_loss) == (
        D("200"),
        D("1000.00"),
        D("1000.00"),
        D("0.00"),
    )
    assert row.wash_sale_disallowed == D("0")


@pytest.mark.parametrize(
    ("bought", "washed_qty", "disallowed"),
    [("200", D("100"), D("200.00")), ("100", D("50"), D("100.00"))],
    ids=["200-new-shares", "100-new-shares"],
)
def test_a_split_after_a_loss_sale_doubles_the_replacement_shares_it_needs(
    bought: str, washed_qty: Decimal, disallowed: Decimal
) -> None:
    """Reg. §1.1091-1(c) counts replacement shares against shares sold; after a 2:1 split two
    new shares stand for one sold share, so 200 new shares wash all 100 sold, 100 wash half."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10"),
        sell("2024-02-01", "XYZ", "100", "8"),
        split("2024-02-05", "XYZ", "2"),
        buy("2024-02-10", "XYZ", bought, "4", lot="R"),
    )
    washed = [r for r in ledger.sales if r.washed]
    assert [(r.quantity, r.wash_sale_disallowed) for r in washed] == [(washed_qty, disallowed)]
    assert total(ledger.sales, "gain_loss") == disallowed - D("200.00")
    [lot] = ledger.open_lots()
    assert lot.adjusted_basis == D(bought) * 4 + disallowed


# -- Form 8949 --------------------------------------------------------------------------------


def test_column_h_adds_back_the_disallowed_loss() -> None:
    """Form 8949 instructions: column (h) = (d) - (e) + (g), with (g) the disallowed loss as a
    positive number; a loss washed by half leaves half deductible."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10"),
        buy("2024-02-20", "XYZ", "50", "9", lot="R"),
        sell(SOLD, "XYZ", "100", "7.31"),
    )
    rows = [
        (r.quantity, r.proceeds, r.adjusted_basis, r.wash_sale_disallowed, r.gain_loss)
        for r in ledger.sales
    ]
    assert sorted(rows) == [
        (D("50"), D("365.50"), D("500.00"), D("0"), D("-134.50")),
        (D("50"), D("365.50"), D("500.00"), D("134.50"), D("0.00")),
    ]
