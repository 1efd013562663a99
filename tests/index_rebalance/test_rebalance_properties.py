"""Invariants of every plan (hypothesis): a plan never sells more than is held, never spends
more than the cash and the proceeds, never breaks a wash-sale lockout, never trades one name
both ways; a raise always raises the cash it was asked for."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rebalancekit import TODAY, book, equal, lot, risk

from ledger.model import Action, Parcel
from strategies.index.book import Book
from strategies.index.lot_choice import at_loss
from strategies.index.rebalance import (
    PlanError,
    RebalanceParams,
    RebalancePlan,
    plan_raise,
    plan_rebalance,
)

NAMES = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")

prices = st.decimals(min_value=Decimal(2), max_value=Decimal(300), places=2)


@st.composite
def books(draw: st.DrawFn) -> Book:
    """Return a small account: up to three lots per name at random bases, dates and sizes,
    random cash, random lockouts."""
    whole = draw(st.booleans())
    lots: list[Parcel] = []
    for s in NAMES:
        for _ in range(draw(st.integers(0, 3))):
            qty = (
                Decimal(draw(st.integers(1, 500)))
                if whole
                else draw(st.decimals(Decimal("0.001"), Decimal(500), places=3))
            )
            cost = draw(st.decimals(Decimal(1), Decimal(300), places=2))
            days = draw(st.integers(1, 1000))
            lots.append(lot(s, qty, cost, TODAY - timedelta(days=days)))
    lots.sort(key=lambda p: p.acquired)
    return book(
        draw(st.integers(0, 50_000)),
        lots,
        {s: draw(prices) for s in NAMES},
        no_buy=draw(st.sets(st.sampled_from(NAMES), max_size=2)),
        no_loss_sale=draw(st.sets(st.sampled_from(NAMES), max_size=3)),
    )


params = st.builds(
    RebalanceParams,
    max_tracking_error=st.sampled_from([0.01, 0.05, 1.0]),
    min_trade_usd=st.sampled_from([Decimal(0), Decimal(50)]),
    fractional=st.booleans(),
    specific_lots=st.booleans(),
)


def check_sales(b: Book, plan: RebalancePlan, p: RebalanceParams) -> Decimal:
    """Assert each sale relieves at most the name's shares, through its own lots (a prefix of
    the broker's order without named lots), none a locked loss lot; return the proceeds."""
    proceeds = Decimal(0)
    for t in plan.trades:
        assert t.quantity > 0
        if t.side is not Action.SELL:
            continue
        parcels = {p.lot_id: p for p in b.holdings[t.symbol].parcels}
        assert t.quantity <= b.holdings[t.symbol].quantity
        assert set(t.lot_ids) <= set(parcels)
        if not p.specific_lots:
            order = list(dict.fromkeys(x.lot_id for x in b.holdings[t.symbol].parcels))
            assert list(t.lot_ids) == order[: len(t.lot_ids)]
        if t.symbol in b.lockouts.no_loss_sale:
            assert not any(at_loss(parcels[i], t.price) for i in t.lot_ids)
        proceeds += t.quantity * t.price
    return proceeds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(b=books(), p=params, held=st.sets(st.sampled_from(NAMES), min_size=1))
def test_a_plan_sells_only_what_is_held_and_spends_only_what_it_has(
    b: Book, p: RebalanceParams, held: set[str]
) -> None:
    """§4: long-only, the budget, the lockouts as bounds; sales first."""
    try:
        plan = plan_rebalance(b, equal(sorted(held)), risk(NAMES), p)
    except PlanError:
        return
    proceeds = check_sales(b, plan, p)
    buys = [t for t in plan.trades if t.side is Action.BUY]
    cost = sum((t.quantity * t.price for t in buys), Decimal(0))
    assert cost <= b.cash + proceeds
    assert plan.cash_after == b.cash + proceeds - cost
    assert not {t.symbol for t in buys} & set(b.lockouts.no_buy)
    assert not {t.symbol for t in buys} & {t.symbol for t in plan.trades if t.side is Action.SELL}
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda s: s is Action.BUY)
    if not p.fractional:
        assert all(t.quantity == t.quantity.to_integral_value() for t in buys)


@settings(max_examples=60, deadline=None)
@given(b=books(), p=params, cash=st.integers(1, 100_000))
def test_a_raise_raises_the_cash_or_says_it_cannot(b: Book, p: RebalanceParams, cash: int) -> None:
    """§5: the proceeds reach the cash asked for, from lots held and allowed to be sold."""
    try:
        plan = plan_raise(b, Decimal(cash), p)
    except PlanError:
        return
    assert check_sales(b, plan, p) >= cash
    assert all(t.side is Action.SELL for t in plan.trades)
