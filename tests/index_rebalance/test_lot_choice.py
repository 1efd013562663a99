"""Which lots a sale relieves (issue 12 §4: losses first, then highest basis, long-term before
short-term, within the broker's lot relief)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import takewhile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rebalancekit import FRESH, TODAY, lot

from ledger.holding import term_of
from ledger.model import Parcel, Term
from strategies.index.lot_choice import (
    TaxRates,
    at_loss,
    basis_per_share,
    relieve,
    sale_order,
    sellable,
    tax_per_dollar,
)

RATES = TaxRates(Decimal("0.37"), Decimal("0.20"))
PRICE = Decimal(10)


def test_named_lots_go_least_tax_per_dollar_first() -> None:
    """§4: the loss first, then the highest basis; at equal tax (here none: two lots at cost)
    the long-term lot before the short-term one."""
    low = lot("AAA", 10, 2)
    high = lot("AAA", 10, 8)
    at_cost_short = lot("AAA", 10, 10, FRESH)
    at_cost_long = lot("AAA", 10, 10)
    loss = lot("AAA", 10, 12)
    parcels = [low, high, at_cost_short, at_cost_long, loss]

    ordered = sale_order(parcels, PRICE, TODAY, RATES, specific_lots=True)

    assert ordered == [loss, at_cost_long, at_cost_short, high, low]


def test_the_broker_order_is_kept_without_named_lots() -> None:
    """FIFO at Alpaca: the sale relieves the broker's own order, whatever the tax."""
    parcels = [lot("AAA", 10, 2), lot("AAA", 10, 12)]

    assert sale_order(parcels, PRICE, TODAY, RATES, specific_lots=False) == parcels


@pytest.mark.parametrize(("specific_lots", "kept"), [(True, [0, 2]), (False, [0])])
def test_a_locked_name_sells_no_loss_lot(specific_lots: bool, kept: list[int]) -> None:
    """IRC §1091: with named lots the loss lots are skipped; in the broker's order the sale
    stops before the first of them."""
    parcels = [lot("AAA", 10, 5), lot("AAA", 10, 12, FRESH), lot("AAA", 10, 6)]

    allowed = sellable(parcels, PRICE, TODAY, RATES, specific_lots=specific_lots, loss_locked=True)

    assert sorted((p for p, _ in allowed), key=parcels.index) == [parcels[i] for i in kept]


@pytest.mark.parametrize(("specific_lots", "kept"), [(True, [0, 2, 3]), (False, [0])])
def test_a_sale_that_may_not_realise_short_term_gains_skips_those_lots(
    specific_lots: bool, kept: list[int]
) -> None:
    """Issue 12 §3 (the drift back after a harvest never realises a short-term gain): with named
    lots the short-term gain lots are skipped; in the broker's order the sale stops before the
    first of them. A short-term loss and a long-term gain may still be sold."""
    parcels = [
        lot("AAA", 10, 5),  # long-term gain
        lot("AAA", 10, 6, FRESH),  # short-term gain
        lot("AAA", 10, 12, FRESH),  # short-term loss
        lot("AAA", 10, 4),  # long-term gain
    ]

    allowed = sellable(
        parcels,
        PRICE,
        TODAY,
        RATES,
        specific_lots=specific_lots,
        loss_locked=False,
        short_gains=False,
    )

    assert sorted((p for p, _ in allowed), key=parcels.index) == [parcels[i] for i in kept]


def test_relief_takes_whole_lots_then_part_of_the_next() -> None:
    """A sale of 15 shares relieves the first lot whole and five shares of the second; more
    than the lots hold is refused."""
    parcels = [lot("AAA", 10, 5), lot("AAA", 10, 6)]

    reliefs = relieve(parcels, Decimal(15))

    assert [(r.parcel, r.quantity) for r in reliefs] == [
        (parcels[0], Decimal(10)),
        (parcels[1], Decimal(5)),
    ]
    assert reliefs[1].tax(PRICE, TODAY, RATES) == Decimal("0.20") * 5 * (10 - 6)
    with pytest.raises(ValueError, match="cannot sell 21 shares"):
        relieve(parcels, Decimal(21))


def test_a_sale_of_every_share_of_lots_with_28_digits_relieves_them_all() -> None:
    """Parcels carved by wash sales and odd split ratios carry 28 significant digits (the
    Decimal context): selling the sum of such lots must relieve them all, not fail on the
    last digit (found on the S&P backtest, 2016)."""
    quantities = (Decimal(1) / 3 * 7, Decimal(34) / 11 * 3, Decimal(1) / 3)
    parts = [lot("AAA", q, 10) for q in quantities]
    total = sum((p.quantity for p in parts), Decimal(0))

    reliefs = relieve(parts, total)

    assert [r.parcel for r in reliefs] == parts


_LOTS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=500),  # shares
        st.integers(min_value=1, max_value=3000),  # cost per share, in cents
        st.integers(min_value=0, max_value=800),  # days held
    ),
    max_size=12,
)


def _short_term_gain(p: Parcel) -> bool:
    return (
        p.adjusted_basis < p.quantity * PRICE
        and term_of(p.holding_period_start, TODAY) is Term.SHORT
    )


@given(
    lots=_LOTS, specific_lots=st.booleans(), loss_locked=st.booleans(), short_gains=st.booleans()
)
@settings(max_examples=200, deadline=None)
def test_each_sellable_lot_carries_its_own_tax_per_dollar(
    lots: list[tuple[int, int, int]], specific_lots: bool, loss_locked: bool, short_gains: bool
) -> None:
    """The rebalance and a raise read each lot's tax per dollar with the lot (`sellable`,
    computed once while ordering the lots): exactly what `tax_per_dollar` gives, the lots those
    of `sale_order` less the barred ones (a locked name's loss lots; the short-term gain lots
    when they may not be sold), and with named lots in the order the module states (least tax
    per dollar, long-term first at equal tax, then the highest basis)."""
    parcels = [lot("AAA", q, Decimal(c) / 100, TODAY - timedelta(days=d)) for q, c, d in lots]

    priced = sellable(
        parcels,
        PRICE,
        TODAY,
        RATES,
        specific_lots=specific_lots,
        loss_locked=loss_locked,
        short_gains=short_gains,
    )

    assert all(tax == tax_per_dollar(p, PRICE, TODAY, RATES) for p, tax in priced)
    ordered = sale_order(parcels, PRICE, TODAY, RATES, specific_lots=specific_lots)

    def barred(p: Parcel) -> bool:
        return (loss_locked and at_loss(p, PRICE)) or (not short_gains and _short_term_gain(p))

    if specific_lots:  # the barred lots skipped
        ordered = [p for p in ordered if not barred(p)]
    else:  # the broker's order stops before the first barred lot
        ordered = list(takewhile(lambda p: not barred(p), ordered))
    assert [p for p, _ in priced] == ordered
    if specific_lots:
        keys = [
            (
                tax,
                0 if term_of(p.holding_period_start, TODAY) is Term.LONG else 1,
                -basis_per_share(p),
            )
            for p, tax in priced
        ]
        assert keys == sorted(keys)
