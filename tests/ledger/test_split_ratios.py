"""A split whose ratio has no exact decimal (4:3) keeps whole shares whole.

A 4-for-3 split turns 3 shares into 4 (Citigroup, 2000-08-28, in `../shared/data`'s S&P set;
IRS Publication 550, "Stock splits": the basis of the old shares is spread over the new). The
ratio arrives as 4 / 3 to 28 digits (`Split.ratio` is a `Decimal`), and 3 × 1.333…3 is
3.999…9: the sale of the 4 shares the broker holds would be refused. `split_shares` scales by
p / q instead (`ledger/model.py`).
"""

from __future__ import annotations

from decimal import Decimal

from helpers import D, buy, run, sell, split
from hypothesis import given
from hypothesis import strategies as st

from ledger.model import split_shares

FOUR_THIRDS = Decimal(4) / Decimal(3)


def test_three_shares_split_four_for_three_are_four() -> None:
    """3 shares and a 4:3 split: 4 shares, whose sale is the whole lot at its whole basis."""
    ledger = run(
        buy("2000-01-03", "C", "3", "90", lot="C-1"),
        split("2000-08-28", "C", str(FOUR_THIRDS)),
        sell("2000-09-05", "C", "4", "60", lot="C-1"),
    )
    [row] = ledger.sales
    assert row.quantity == D("4")
    assert (row.cost_basis, row.proceeds) == (D("270.00"), D("240.00"))
    assert ledger.open_lots() == []


def test_a_terminating_ratio_multiplies_as_before() -> None:
    """2:1 and 1:10 are exact decimals: the shares are quantity × ratio."""
    ledger = run(
        buy("2011-01-03", "C", "15", "4"),
        split("2011-02-01", "C", "2"),
        split("2011-05-09", "C", "0.1"),
    )
    [lot] = ledger.open_lots()
    assert lot.quantity == D("3")


@given(
    p=st.integers(1, 25),
    q=st.integers(2, 25),
    whole=st.integers(1, 10**6),
)
def test_whole_shares_stay_whole_when_the_split_gives_whole_shares(
    p: int, q: int, whole: int
) -> None:
    """Invariant: for any ratio p/q of the sizes splits have, q × n shares become exactly
    p × n, with the ratio given as the `Decimal` division p / q."""
    ratio = Decimal(p) / Decimal(q)
    assert split_shares(Decimal(q * whole), ratio) == Decimal(p * whole)


@given(
    p=st.integers(1, 25),
    q=st.integers(1, 25),
    shares=st.decimals(min_value=Decimal("1e-9"), max_value=Decimal(10**6), places=9),
)
def test_any_share_count_scales_within_the_last_digit(p: int, q: int, shares: Decimal) -> None:
    """Invariant: the shares after the split are quantity × ratio to the context's precision
    (one unit in the 28th digit at most)."""
    ratio = Decimal(p) / Decimal(q)
    after = split_shares(shares, ratio)
    exact = shares * p / q
    assert abs(after - exact) <= abs(exact) * Decimal("1e-27")
