"""Raising cash (issue 12 §5: `tlh index raise --cash USD`): least tax per dollar first."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rebalancekit import FRESH, book, lot

from ledger.model import Action
from strategies.index.rebalance import PlanError, RebalanceParams, plan_raise

PRICES = {"AAA": 10, "BBB": 10, "CCC": 10}


def test_a_withdrawal_sells_losses_first() -> None:
    """§5: the lots sold are the losses, the largest saving per dollar first (here the
    long-term loss: 0.20 x 50 % beats 0.37 x 20 %), before any gain, until the cash is raised."""
    st_loss = lot("AAA", 100, 12, FRESH)  # short-term loss: -0.37 x 2/10 per dollar
    lt_loss = lot("BBB", 100, 15)  # long-term loss: -0.20 x 5/10 per dollar
    gain = lot("CCC", 1000, 5)
    b = book(0, [gain, st_loss, lt_loss], PRICES)

    plan = plan_raise(b, Decimal(1500), RebalanceParams())

    assert [(t.symbol, t.lot_ids, t.quantity) for t in plan.trades] == [
        ("BBB", (lt_loss.lot_id,), Decimal(100)),
        ("AAA", (st_loss.lot_id,), Decimal(50)),
    ]
    assert all(t.side is Action.SELL for t in plan.trades)
    assert plan.tax_cost == Decimal("-0.20") * 500 + Decimal("-0.37") * 100
    assert plan.cash_after == Decimal(1500)


def test_a_withdrawal_in_whole_shares_raises_at_least_the_cash() -> None:
    """§1 `fractional = false`: the last sale rounds up to a whole share."""
    b = book(0, [lot("AAA", 100, 20)], {"AAA": "7.5"})

    plan = plan_raise(b, Decimal(100), RebalanceParams(fractional=False))

    (sale,) = plan.trades
    assert sale.quantity == 14  # 13.33 shares rounded up
    assert plan.cash_after >= 100


def test_a_withdrawal_keeps_the_wash_sale_lockout() -> None:
    """IRC §1091: a loss lot of a name bought within 30 days is not sold to raise cash; the
    gain lot behind it is (named lots)."""
    loss = lot("AAA", 100, 20)
    gain = lot("AAA", 100, 5)
    b = book(0, [loss, gain], {"AAA": 10}, no_loss_sale=["AAA"])

    plan = plan_raise(b, Decimal(500), RebalanceParams())

    assert [t.lot_ids for t in plan.trades] == [(gain.lot_id,)]


def test_raising_more_than_the_sellable_lots_hold_is_a_plan_error() -> None:
    """§5: a withdrawal the lots that may be sold cannot cover is a clear error."""
    b = book(0, [lot("AAA", 100, 20), lot("BBB", 10, 5)], PRICES, no_loss_sale=["AAA"])

    with pytest.raises(
        PlanError,
        match=r"cannot raise 500\.00: the lots that may be sold raise 100\.00 \(loss lots of "
        r"names bought within 30 days are held back by the wash-sale rule\)",
    ):
        plan_raise(b, Decimal(500), RebalanceParams())


def test_raising_more_than_the_account_holds_says_so_in_dollars_and_cents() -> None:
    """Developers' guide: a clear error. With no lockout the shortfall is what the account
    holds, not the wash-sale rule; amounts are dollars and cents, not `1E+9`."""
    b = book(0, [lot("AAA", 100, 5)], PRICES)

    with pytest.raises(
        PlanError,
        match=r"cannot raise 1,000,000,000\.00: the lots that may be sold raise 1,000\.00 "
        r"\(that is all the account holds at these prices\)",
    ):
        plan_raise(b, Decimal("1e9"), RebalanceParams())


def test_raising_cash_from_an_empty_account_says_it_holds_no_shares() -> None:
    """Developers' guide: a clear error, naming the cause (nothing held)."""
    with pytest.raises(PlanError, match=r"raise 0\.00 \(the account holds no shares\)"):
        plan_raise(book(0, [], PRICES), Decimal(100), RebalanceParams())


def test_a_withdrawal_in_whole_shares_never_sells_a_fraction() -> None:
    """§1 `fractional = false`: a lot of 10.5 shares (a dividend reinvested in fractions, a
    transfer) yields whole shares only; the half share stays (a broker that trades no
    fractions refuses the order otherwise)."""
    b = book(0, [lot("BBB", "10.5", 20), lot("BBB", 5, 20)], {"BBB": 10})

    plan = plan_raise(b, Decimal(115), RebalanceParams(fractional=False))

    assert [t.quantity for t in plan.trades] == [Decimal(12)]
    assert all(t.quantity == t.quantity.to_integral_value() for t in plan.trades)
