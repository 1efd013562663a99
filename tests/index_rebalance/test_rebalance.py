"""The tax-aware rebalance (issue 12 §4, §5, §8): build from cash, deposits, lockouts, budget."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from rebalancekit import FRESH, OLD, TODAY, book, equal, lot, risk, target, weights_after

from ledger.identity import Identity
from ledger.model import Action, Parcel
from strategies.index.book import Book
from strategies.index.rebalance import PlanError, RebalanceParams, plan_rebalance

SYMBOLS = [f"S{i:02d}" for i in range(20)]
PRICES = {s: 10 + 7 * i for i, s in enumerate(SYMBOLS)}


def test_build_from_cash_hits_the_weights_within_the_band() -> None:
    """§5: building the index from cash is a rebalance of an empty book; every name ends within
    `name_band` of its target weight and the cash buffer stays in cash."""
    sectors = {s: f"sector{i % 4}" for i, s in enumerate(SYMBOLS)}
    weights = {s: 1 + i for i, s in enumerate(SYMBOLS)}  # 0.5 % to 9.5 %
    b = book(1_000_000, [], PRICES)
    params = RebalanceParams(name_band=0.002)

    plan = plan_rebalance(b, target(weights, sectors), risk(SYMBOLS), params)

    goal = target(weights, sectors).weights
    after = weights_after(b, plan.trades)
    assert {t.side for t in plan.trades} == {Action.BUY}
    assert all(abs(after[s] - float(goal[s])) <= params.name_band for s in SYMBOLS)
    assert plan.cash_after >= params.cash_buffer * b.value
    assert plan.tracking_error_after < plan.tracking_error_before


def test_build_from_cash_in_whole_shares_leaves_less_than_a_share_of_cash() -> None:
    """§1 `fractional = false`: every quantity is whole, and the cash left above the buffer is
    less than the price of the cheapest share that could still be bought."""
    b = book(250_000, [], PRICES)
    params = RebalanceParams(fractional=False, min_trade_usd=Decimal(0))

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    assert all(t.quantity == t.quantity.to_integral_value() for t in plan.trades)
    residual = plan.cash_after - params.cash_buffer * b.value
    assert Decimal(0) <= residual < min(b.prices.values())
    after = weights_after(b, plan.trades)
    assert all(abs(after[s] - 0.05) <= params.name_band for s in SYMBOLS)


def test_a_deposit_buys_the_underweight_names() -> None:
    """§5: a deposit is invested in the names furthest below their weight."""
    under = {"S03": 4, "S11": 2}  # held at a fraction of their weight
    lots = []
    for s in SYMBOLS:
        shares = Decimal(5000) / PRICES[s] / under.get(s, 1)
        lots.append(lot(s, shares.quantize(Decimal("0.0001")), PRICES[s] // 2))  # all gains
    b = book(0, lots, PRICES)
    deposit = b.value * Decimal("0.06")
    b = book(deposit, lots, PRICES)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())

    spent = {t.symbol: t.quantity * t.price for t in plan.trades if t.side is Action.BUY}
    assert all(t.side is Action.BUY for t in plan.trades)
    assert sorted(spent, key=spent.__getitem__, reverse=True)[:2] == ["S03", "S11"]
    assert spent["S03"] + spent["S11"] > sum(spent.values()) * Decimal("0.8")


def test_never_buys_a_locked_out_name() -> None:
    """§4: a name sold at a loss within 30 days (household-wide) is not bought back, however
    underweight; its band gives way only by the amount the lockout holds it to."""
    b = book(1_000_000, [], PRICES, no_buy=["S05", "S06"])
    params = RebalanceParams(max_tracking_error=0.05)  # 10 % of the index left out: 1.8 %

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    bought = {t.symbol for t in plan.trades if t.side is Action.BUY}
    assert bought == set(SYMBOLS) - {"S05", "S06"}


def _overweight_book(
    no_loss_sale: list[str], *, fresh_loss_first: bool
) -> tuple[Book, Parcel, Parcel]:
    """Return a book whose S00 is twice its weight (9.5 %, the others 4.8 %), holding an old
    gain lot and a loss lot bought ten days ago (in that order, or the loss lot first)."""
    lots = [lot(s, Decimal(5000) / PRICES[s], PRICES[s] // 2) for s in SYMBOLS[1:]]
    gain = lot("S00", 600, 5)
    loss = lot("S00", 400, 15, FRESH)
    lots += [loss, gain] if fresh_loss_first else [gain, loss]
    return book(0, lots, PRICES, no_loss_sale=no_loss_sale), gain, loss


@pytest.mark.parametrize("specific_lots", [True, False])
def test_never_sells_a_loss_lot_bought_within_30_days(specific_lots: bool) -> None:
    """§4, IRC §1091: a loss lot of a name bought within 30 days is not sold; with named lots
    the overweight is cut through its gain lot, in FIFO the sale stops before the loss lot."""
    b, gain, loss = _overweight_book(["S00"], fresh_loss_first=False)
    params = RebalanceParams(specific_lots=specific_lots)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    sales = [t for t in plan.trades if t.side is Action.SELL and t.symbol == "S00"]
    assert sales, "the overweight is cut through the gain lot"
    assert all(loss.lot_id not in t.lot_ids for t in sales)
    assert sales[0].lot_ids == (gain.lot_id,)


def test_without_the_lockout_the_loss_lot_goes_first() -> None:
    """The contrast of the test above: the same book unlocked sells the loss lot first."""
    b, _gain, loss = _overweight_book([], fresh_loss_first=False)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())

    (sale,) = [t for t in plan.trades if t.symbol == "S00"]
    assert sale.lot_ids[0] == loss.lot_id


def test_fifo_relief_behind_a_locked_loss_lot_sells_nothing() -> None:
    """§4 (FIFO at Alpaca): when the broker would relieve the locked loss lot first, the name is
    not sold at all, and its band gives way."""
    b, _gain, _loss = _overweight_book(["S00"], fresh_loss_first=True)
    params = RebalanceParams(specific_lots=False, max_tracking_error=0.05)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    assert all(t.symbol != "S00" or t.side is Action.BUY for t in plan.trades)
    assert not [t for t in plan.trades if t.symbol == "S00"]


def test_sales_pick_losses_first_with_named_lots() -> None:
    """§4: a sale relieves the lot of least tax per dollar first: the loss lot, then the highest
    basis (here an overweight name with a loss lot, a small gain and a large gain)."""
    big_gain = lot("S00", 300, 3)
    loss = lot("S00", 300, 20)
    small_gain = lot("S00", 400, 9)
    lots = [lot(s, Decimal(5000) / PRICES[s], PRICES[s]) for s in SYMBOLS[1:]]
    b = book(0, [big_gain, loss, small_gain, *lots], PRICES)
    params = RebalanceParams(max_tracking_error=0.05)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    (sale,) = [t for t in plan.trades if t.symbol == "S00"]
    assert sale.side is Action.SELL
    assert sale.lot_ids == (loss.lot_id, small_gain.lot_id)
    assert sale.quantity > 300


@pytest.mark.parametrize("specific_lots", [True, False])
def test_the_drift_back_never_realises_a_short_term_gain(specific_lots: bool) -> None:
    """§3: after a harvest the portfolio drifts back toward the target "never by realising
    short-term gains to undo a harvest": S00, a replacement bought four months ago and now at
    twice its weight and a gain, is not sold (its band gives way), where the same lot held two
    years is sold down to the band."""
    months = TODAY - timedelta(days=120)
    others = [lot(s, Decimal(5000) / PRICES[s], PRICES[s]) for s in SYMBOLS[1:]]
    params = RebalanceParams(max_tracking_error=0.05, specific_lots=specific_lots)

    def s00_sold(acquired: date) -> Decimal:
        b = book(0, [lot("S00", 1000, 5, acquired), *others], PRICES)
        plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)
        return sum(
            (t.quantity for t in plan.trades if t.symbol == "S00" and t.side is Action.SELL),
            Decimal(0),
        )

    assert s00_sold(months) == 0
    assert s00_sold(OLD) > 0


def test_a_name_the_target_leaves_out_is_sold_whatever_its_term() -> None:
    """§1 `exclude`: a stock the user will not hold is sold, even at a short-term gain (that is
    no harvest undone)."""
    months = TODAY - timedelta(days=120)
    lots = [lot(s, Decimal(5000) / PRICES[s], PRICES[s]) for s in SYMBOLS]
    b = book(0, [*lots, lot("XTRA", 100, 20, months)], {**PRICES, "XTRA": 50})

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())

    assert ("XTRA", Action.SELL) in {(t.symbol, t.side) for t in plan.trades}


def test_sales_come_first() -> None:
    """The plan lists its sales before its buys (their proceeds pay for the buys)."""
    b, _gain, _loss = _overweight_book([], fresh_loss_first=False)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())

    sides = [t.side for t in plan.trades]
    assert Action.SELL in sides
    assert sides == sorted(sides, key=lambda s: s is Action.BUY)


def test_an_unreachable_tracking_error_budget_is_a_plan_error() -> None:
    """§8: a budget that cannot be met is a clear error naming the budget and the smallest
    tracking error reachable (here S00, at twice its weight, holds only a fresh loss lot)."""
    lots = [lot("S00", 1000, 20, FRESH)] + [
        lot(s, Decimal(5000) / PRICES[s], PRICES[s]) for s in SYMBOLS[1:]
    ]
    b = book(0, lots, PRICES, no_loss_sale=["S00"])

    with pytest.raises(PlanError, match=r"budget 1\.00% cannot be met: .* reachable .* is \d") as e:
        plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())

    reach = e.value.reachable_tracking_error
    assert reach is not None
    assert reach > 0.01
    plan = plan_rebalance(
        b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams(max_tracking_error=reach * 1.001)
    )
    assert plan.tracking_error_after <= reach * 1.01


def test_weights_that_need_more_cash_than_there_is_are_a_plan_error() -> None:
    """§8: when the bands need buys the cash (and the sales the lockouts allow) cannot pay for,
    the error says so."""
    b = book(0, [lot("S00", 10_000, 20, FRESH)], PRICES, no_loss_sale=["S00"])

    with pytest.raises(PlanError, match="cannot be met within the budget"):
        plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), RebalanceParams(max_tracking_error=1.0))


def test_an_empty_book_without_cash_is_a_plan_error() -> None:
    """Nothing to invest and nothing held: a clear error, nothing planned."""
    with pytest.raises(PlanError, match="holds no value"):
        plan_rebalance(book(0, [], PRICES), equal(SYMBOLS), risk(SYMBOLS), RebalanceParams())


def test_never_sells_at_a_loss_and_buys_an_identical_name() -> None:
    """IRC §1091 "substantially identical" (share classes, `[[identical]]`): a plan that sells
    one class at a loss does not buy the other, though it is underweight."""
    lots = [lot(s, Decimal(5000) / PRICES[s], PRICES[s]) for s in SYMBOLS[2:]]
    lots.append(lot("S00", 1000, 20))  # S00: twice its weight, at a loss; S01 not held
    b = replace(book(0, lots, PRICES), identity=Identity([["S00", "S01"]]))
    params = RebalanceParams(max_tracking_error=0.05)

    plan = plan_rebalance(b, equal(SYMBOLS), risk(SYMBOLS), params)

    sold = {t.symbol for t in plan.trades if t.side is Action.SELL}
    bought = {t.symbol for t in plan.trades if t.side is Action.BUY}
    assert not ({"S00", "S01"} & sold and {"S00", "S01"} & bought)
    unrelated = plan_rebalance(book(0, lots, PRICES), equal(SYMBOLS), risk(SYMBOLS), params)
    assert {("S00", Action.SELL), ("S01", Action.BUY)} <= {
        (t.symbol, t.side) for t in unrelated.trades
    }
