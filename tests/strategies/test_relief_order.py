"""The harvest decision sees the broker's relief order exactly as the ledger relieves it.

A broker with a fixed method relieves a prefix of its order, so the decision may only harvest
such prefixes (`strategies.harvest.share_sets`); `relief_order` must therefore be the order in
which the ledger (which follows the broker) relieves the position at that price and date.
IB's methods: https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.model import Action, Trade
from strategies.decision import relief_order, relief_trigger
from strategies.harvest import HarvestParams, subset_trigger, trigger_price

TODAY = date(2025, 6, 2)
PROPERTY = settings(max_examples=200, deadline=None)


@st.composite
def _positions(draw: st.DrawFn) -> Ledger:
    """A ledger holding 1-8 lots of XYZ bought 31 days to 3 years before TODAY."""
    method = draw(st.sampled_from(list(LotMethod)))
    ledger = Ledger(lot_methods={"b": method})
    days = sorted(draw(st.lists(st.integers(31, 1100), min_size=1, max_size=8)), reverse=True)
    for seq, ago in enumerate(days, 1):
        qty = Decimal(draw(st.integers(1, 30)))
        price = Decimal(draw(st.integers(500, 3000))) / 100
        day = TODAY - timedelta(days=ago)
        ledger.apply(Trade(seq, day, "b", Action.BUY, "XYZ", qty, price, Decimal(0), f"L{seq}"))
    return ledger


@PROPERTY
@given(_positions(), st.integers(500, 3000))
def test_relief_order_is_the_order_the_ledger_relieves_in(ledger: Ledger, bid_cents: int) -> None:
    """Selling, one sale at a time at the bid today, the quantity of each parcel in the
    order `relief_order` gives relieves exactly that parcel, for every method (no wash sale:
    nothing bought in the 30 days before)."""
    bid = Decimal(bid_cents) / 100
    method = ledger.lot_method("b")
    order = relief_order(ledger.parcels("b", "XYZ"), False, method, bid=bid, today=TODAY)
    expected = [(p.lot_id, p.quantity) for p in order]
    got = []
    for seq, (_lot, qty) in enumerate(expected, 100):
        ledger.apply(Trade(seq, TODAY, "b", Action.SELL, "XYZ", qty, bid, Decimal(0)))
        [row] = list(ledger.sales_by_sale())[-1]
        got.append((row.lot_id, row.quantity))
    assert got == expected


@st.composite
def _params(draw: st.DrawFn) -> HarvestParams:
    return HarvestParams(
        min_loss_pct=Decimal(draw(st.integers(0, 30))) / 100,
        min_loss_usd=Decimal(draw(st.integers(0, 500))),
        short_term_rate=Decimal("0.35"),
        long_term_rate=Decimal("0.15"),
        fee_per_order=Decimal(draw(st.integers(0, 500))) / 100,
    )


@PROPERTY
@given(_positions(), _params())
def test_the_subset_trigger_bounds_every_set_of_parcels(
    ledger: Ledger, params: HarvestParams
) -> None:
    """Where the relief order depends on the price, any set of parcels may be the prefix
    sold; the tick path's trigger must be at least each set's own trigger, or a quote that
    qualifies one could be dropped unseen (strategies.harvest module docstring)."""
    parcels = list(ledger.parcels("b", "XYZ"))
    bound = subset_trigger(parcels, params)
    for n in range(1, len(parcels) + 1):
        for chosen in itertools.combinations(parcels, n):
            own = trigger_price(chosen, params)
            assert own <= bound + 1e-9 * max(1.0, abs(bound))


def test_price_ranked_methods_use_the_subset_bound() -> None:
    """Under max_st_loss the relief order at a bid is not known ahead: the position's trigger
    is the subset bound; under FIFO it is the best prefix's, as before."""
    ledger = Ledger(lot_methods={"b": LotMethod.MAX_ST_LOSS})
    ledger.apply(
        Trade(1, date(2025, 1, 2), "b", Action.BUY, "XYZ", Decimal(10), Decimal(150), Decimal(0))
    )
    ledger.apply(
        Trade(2, date(2025, 2, 3), "b", Action.BUY, "XYZ", Decimal(10), Decimal(200), Decimal(0))
    )
    params = HarvestParams(
        min_loss_pct=Decimal("0.05"),
        min_loss_usd=Decimal(100),
        short_term_rate=Decimal("0.35"),
        long_term_rate=Decimal("0.15"),
    )
    parcels = list(ledger.parcels("b", "XYZ"))
    ranked = relief_trigger(parcels, params, False, LotMethod.MAX_ST_LOSS)
    fifo = relief_trigger(parcels, params, False, LotMethod.FIFO)
    # The $200 lot alone qualifies below $190 (5 % of $2,000 = $100 loss); FIFO must sell the
    # $150 lot first and only qualifies with both, below (3500 - 175) / 20 = $166.25.
    assert (ranked, fifo) == (190.0, 166.25)


def test_the_subset_bound_covers_a_set_at_the_kink_of_the_threshold() -> None:
    """The threshold max(min_usd, pct x basis) bends where pct x basis = min_usd: A (10 at
    $100) with C (5 at $90) has basis $1,450, exactly where 10 % reaches $145, and qualifies
    below (1450 - 145) / 15 = $87.00, above the trigger of every prefix of the highest-basis
    order (A: $85.50, A+B: $85.50, all: $84.60). The bound must reach it."""
    ledger = Ledger()
    for seq, (qty, price) in enumerate([(10, 100), (10, 90), (5, 90)], 1):
        ledger.apply(
            Trade(
                seq,
                date(2025, 1, 2),
                "b",
                Action.BUY,
                "XYZ",
                Decimal(qty),
                Decimal(price),
                Decimal(0),
            )
        )
    a, _b, c = ledger.parcels("b", "XYZ")
    params = HarvestParams(
        min_loss_pct=Decimal("0.10"),
        min_loss_usd=Decimal(145),
        short_term_rate=Decimal("0.35"),
        long_term_rate=Decimal("0.15"),
    )
    assert trigger_price((a, c), params) == 87.0
    assert subset_trigger(list(ledger.parcels("b", "XYZ")), params) == 87.0
