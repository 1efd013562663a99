"""Specification tests of holding periods: the long/short line and tacking after a wash sale."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.conventions import HoldingPeriodMethod, WashSaleConventions
from ledger.model import Term, Trade
from tests.ledger.helpers import D, buy, run, sell

ORIGINAL_DATE = WashSaleConventions(holding_period=HoldingPeriodMethod.ORIGINAL_DATE)

# A held 2024-01-02 .. 2024-03-01: 59 days.
A_BOUGHT, A_SOLD = "2024-01-02", "2024-03-01"


def _start_of(lot_id: str, *events: Trade, conventions: WashSaleConventions | None = None) -> date:
    ledger = run(*events, conventions=conventions)
    [lot] = [lot for lot in ledger.open_lots() if lot.lot_id == lot_id]
    return lot.holding_period_start


def test_tack_starts_the_replacement_the_sold_days_before_its_purchase() -> None:
    """IRC §1223(3), convention 1 default `tack`: replacement acquired 2024-03-15 minus the 59
    days A was held gives 2024-01-16; its acquisition date itself is unchanged."""
    ledger = run(
        buy(A_BOUGHT, "XYZ", "100", "10", lot="A"),
        sell(A_SOLD, "XYZ", "100", "8"),
        buy("2024-03-15", "XYZ", "100", "8", lot="R"),
    )
    [r] = ledger.open_lots()
    assert (r.acquired, r.holding_period_start) == (date(2024, 3, 15), date(2024, 1, 16))


def test_original_date_starts_the_replacement_when_the_sold_shares_started() -> None:
    """IRC §1223(3), convention 1 alternative `original_date`: A's start, 2024-01-02."""
    start = _start_of(
        "R",
        buy(A_BOUGHT, "XYZ", "100", "10", lot="A"),
        sell(A_SOLD, "XYZ", "100", "8"),
        buy("2024-03-15", "XYZ", "100", "8", lot="R"),
        conventions=ORIGINAL_DATE,
    )
    assert start == date(2024, 1, 2)


def test_tack_counts_overlapping_days_twice_for_a_replacement_bought_before_the_sale() -> None:
    """Convention 1 (rules file), tlh's chosen `tack` (Scottrade; adlr and Valloric's tools):
    R bought 2024-02-20, before A's sale, starts 59 days earlier on 2023-12-23 -- before A was
    even bought, because the days both were held count twice. Deliberate, documented choice."""
    start = _start_of(
        "R",
        buy(A_BOUGHT, "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "100", "8", lot="R"),
        sell(A_SOLD, "XYZ", "100", "8", lot="A"),
    )
    assert start == date(2023, 12, 23)
    assert start < date.fromisoformat(A_BOUGHT)


def test_original_date_does_not_double_count_a_replacement_bought_before_the_sale() -> None:
    """Convention 1 alternative: the same replacement starts on A's own start, 2024-01-02."""
    start = _start_of(
        "R",
        buy(A_BOUGHT, "XYZ", "100", "10", lot="A"),
        buy("2024-02-20", "XYZ", "100", "8", lot="R"),
        sell(A_SOLD, "XYZ", "100", "8", lot="A"),
        conventions=ORIGINAL_DATE,
    )
    assert start == date(2024, 1, 2)


@pytest.mark.parametrize("conventions", [None, ORIGINAL_DATE], ids=["tack", "original_date"])
def test_the_replacement_never_loses_the_days_it_was_held_itself(
    conventions: WashSaleConventions | None,
) -> None:
    """IRC §1223(3) adds the sold shares' period; it never shortens the replacement's own.

    R (bought 2024-02-05) replaces A, bought later on 2024-02-10 and sold 2024-03-01 (20 days):
    `original_date` would give 2024-02-10, so R keeps 2024-02-05; `tack` gives 2024-01-16.
    """
    start = _start_of(
        "R",
        buy("2024-02-05", "XYZ", "100", "8", lot="R"),
        buy("2024-02-10", "XYZ", "100", "10", lot="A"),
        sell(A_SOLD, "XYZ", "100", "8", lot="A"),
        conventions=conventions,
    )
    assert start == (date(2024, 2, 5) if conventions else date(2024, 1, 16))


@pytest.mark.parametrize(
    ("bought", "sold", "term"),
    [
        ("2023-03-15", "2024-03-15", Term.SHORT),
        ("2023-03-15", "2024-03-16", Term.LONG),
        ("2024-02-29", "2025-02-28", Term.SHORT),
        ("2024-02-29", "2025-03-01", Term.LONG),
    ],
    ids=["anniversary", "day-after", "feb29-to-feb28", "feb29-to-mar1"],
)
def test_long_term_only_when_held_more_than_one_year(bought: str, sold: str, term: Term) -> None:
    """Pub 550, Holding Period: counting starts the day after acquisition and includes the day
    of sale; more than one year is long term, so the anniversary itself is still short. A
    Feb 29 purchase reaches one year on Feb 28 (ledger.holding.anniversary)."""
    ledger = run(buy(bought, "XYZ", "1", "10"), sell(sold, "XYZ", "1", "11"))
    [row] = ledger.sales
    assert row.term is term


def test_tacking_makes_a_washed_replacement_long_term() -> None:
    """IRC §1223(3): A held 332 days (2023-01-03 .. 2023-12-01) is tacked onto R bought
    2023-12-15, which starts 2023-01-17; R sold 2024-02-01 after 48 days of its own is long."""
    ledger = run(
        buy("2023-01-03", "XYZ", "100", "10", lot="A"),
        sell("2023-12-01", "XYZ", "100", "8"),
        buy("2023-12-15", "XYZ", "100", "8", lot="R"),
        sell("2024-02-01", "XYZ", "100", "11"),
    )
    a, r = ledger.sales
    assert a.term is Term.SHORT
    assert (r.lot_id, r.holding_period_start, r.term) == ("R", date(2023, 1, 17), Term.LONG)
    assert (r.adjusted_basis, r.gain_loss) == (D("1000.00"), D("100.00"))


def test_a_replacement_sold_without_a_wash_keeps_its_own_short_term() -> None:
    """Pub 550, Holding Period: the same R, had A been sold at a gain (no wash sale), has only
    its own 48 days and is short term -- the long term above comes from tacking alone."""
    ledger = run(
        buy("2023-01-03", "XYZ", "100", "10", lot="A"),
        sell("2023-12-01", "XYZ", "100", "12"),
        buy("2023-12-15", "XYZ", "100", "8", lot="R"),
        sell("2024-02-01", "XYZ", "100", "11"),
    )
    _a, r = ledger.sales
    assert (r.holding_period_start, r.term) == (date(2023, 12, 15), Term.SHORT)


def test_a_chain_tacks_the_accumulated_holding_period() -> None:
    """IRC §1223(3) applied twice: B inherits A's 30 days (2024-01-01 .. 01-31); B's own start
    becomes 2024-01-05 (bought 02-04); sold 02-20 it has held 46 days, so C bought 02-25 starts
    2024-01-10."""
    ledger = run(
        buy("2024-01-01", "XYZ", "100", "10", lot="A"),
        sell("2024-01-31", "XYZ", "100", "8"),
        buy("2024-02-04", "XYZ", "100", "8", lot="B"),
        sell("2024-02-20", "XYZ", "100", "7"),
        buy("2024-02-25", "XYZ", "100", "7", lot="C"),
    )
    _a, b = ledger.sales
    assert b.holding_period_start == date(2024, 1, 5)
    [c] = ledger.open_lots()
    assert (c.holding_period_start, c.adjusted_basis) == (date(2024, 1, 10), D("1000.00"))
