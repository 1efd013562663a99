"""The rebalance's convex problem (issue 12 §4): its compiled form and the unwash rounds.

`strategies/index/rebalance.py` states both: the problem is compiled once per shape and sector
membership, and a plan that both buys a name and sells it at a loss is solved again with the
direction fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from rebalancekit import book, equal, lot, risk, target, weights_after

from ledger.model import Action
from strategies.index import rebalance
from strategies.index.book import Book
from strategies.index.rebalance import PlannedTrade, RebalanceParams, plan_rebalance

SYMBOLS = [f"S{i:02d}" for i in range(20)]
PRICES = dict.fromkeys(SYMBOLS, 50)
HEAVY = SYMBOLS[:5]  # held at 8 % each against a 5 % target, at a gain


def _overweight_book() -> Book:
    lots = [lot(s, Decimal(8000 if s in HEAVY else 4000) / 50, 25) for s in SYMBOLS]
    return book(0, lots, PRICES)


def _sector_gaps(
    b: Book, trades: Sequence[PlannedTrade], sectors: dict[str, str]
) -> dict[str, float]:
    after = weights_after(b, trades)
    gaps: dict[str, float] = {}
    for s in SYMBOLS:
        gaps[sectors[s]] = gaps.get(sectors[s], 0.0) + after[s] - 0.05 * 0.995
    return gaps


def test_each_sector_membership_keeps_its_own_band() -> None:
    """A universe of the same size but other sectors is not planned with the sectors of the
    one compiled before it (spread first, then grouped). Grouped, the five heavy names (40 %
    against 25 %) break a ±3 % sector band and are sold down by at least 12 %; spread one to a
    sector, the same book is within every band and sells little (gains cost tax)."""
    b = _overweight_book()
    params = RebalanceParams(max_tracking_error=0.05, name_band=0.05)
    grouped = {s: "x" if s in HEAVY else "y" for s in SYMBOLS}
    spread = {s: f"s{i % 5}" for i, s in enumerate(SYMBOLS)}

    spread_plan = plan_rebalance(
        b, target(dict.fromkeys(SYMBOLS, 1), spread), risk(SYMBOLS), params
    )
    grouped_plan = plan_rebalance(
        b, target(dict.fromkeys(SYMBOLS, 1), grouped), risk(SYMBOLS), params
    )

    gaps = _sector_gaps(b, grouped_plan.trades, grouped)
    assert all(abs(g) <= params.sector_band + 1e-6 for g in gaps.values())
    assert _sold(grouped_plan.trades) >= 11_000
    assert _sold(spread_plan.trades) <= 2_000


def _sold(trades: Sequence[PlannedTrade]) -> Decimal:
    return sum(
        (t.quantity * t.price for t in trades if t.side is Action.SELL),
        Decimal(0),
    )


def test_the_compiled_problems_kept_are_bounded() -> None:
    """A compiled problem is kept per sector membership, at most `_CACHED` of them however many
    memberships are planned (each holds the solver's matrices)."""
    b = book(1_000_000, [], PRICES)
    for i in range(rebalance._CACHED + 2):
        sectors = {s: f"s{(j + i) % 3}" if j < i else "z" for j, s in enumerate(SYMBOLS)}
        goal = target(dict.fromkeys(SYMBOLS, 1), sectors)
        plan_rebalance(b, goal, risk(SYMBOLS), RebalanceParams())

    assert len(rebalance._PROBLEMS) <= rebalance._CACHED


def _optimiser_of_a_loss_lot() -> tuple[rebalance._Optimiser, int]:
    lots = [lot(s, 100, 50) for s in SYMBOLS]
    lots.append(lot("S00", 100, 80))  # S00 also holds a lot at a loss
    b = book(0, lots, PRICES)
    params = RebalanceParams()
    uni = rebalance._universe(b, equal(SYMBOLS), risk(SYMBOLS), params)
    return rebalance._Optimiser(uni, b, params), uni.symbols.index("S00")


def _solution(
    n: int, i: int, bought: float, loss_sold: float, loss_bucket: int
) -> rebalance._Solution:
    u, s = np.zeros(n), np.zeros((n, rebalance.BUCKETS))
    u[i], s[i, loss_bucket] = bought, loss_sold
    return rebalance._Solution(u, s, u - s.sum(axis=1))


def test_solver_noise_is_no_wash_to_undo() -> None:
    """An interior-point solution holds a variable at its bound only to ~1e-8: a buy of two
    billionths of the portfolio beside a loss sale is noise, and solves nothing again."""
    opt, i = _optimiser_of_a_loss_lot()
    loss_bucket = int(np.argmin(opt.uni.cost[i]))
    assert opt.uni.cost[i, loss_bucket] < 0

    noise = _solution(len(opt.uni.symbols), i, 2e-9, 1e-3, loss_bucket)

    assert not opt.unwash(noise)
    assert opt.buyable[i] == 1.0
    assert opt.cap[i, loss_bucket] > 0


def test_a_material_buy_beside_a_loss_sale_is_undone_by_its_net_direction() -> None:
    """A plan that buys a name and sells it at a loss is solved again: a net sale keeps the
    sale and may not buy the name."""
    opt, i = _optimiser_of_a_loss_lot()
    loss_bucket = int(np.argmin(opt.uni.cost[i]))

    wash = _solution(len(opt.uni.symbols), i, 1e-4, 1e-3, loss_bucket)

    assert opt.unwash(wash)
    assert opt.buyable[i] == 0.0
    assert opt.cap[i, loss_bucket] > 0


def test_solver_noise_buys_no_locked_out_name() -> None:
    """§4 "no buy of a name sold at a loss in the last 30 days" holds after rounding too: a
    locked-out name's bound u ≤ 0 is met only to ~1e-8, and a tiny account with no minimum
    trade would turn that into a billionth of a share (found by
    `test_rebalance_properties.py`)."""
    lots = [lot(s, 1, 50) for s in SYMBOLS[1:]]
    b = book(0, lots, PRICES, no_buy=["S00"])
    params = RebalanceParams(min_trade_usd=Decimal(0))
    uni = rebalance._universe(b, equal(SYMBOLS), risk(SYMBOLS), params)
    i = uni.symbols.index("S00")
    u = np.zeros(len(uni.symbols))
    u[i] = 5e-8
    noise = rebalance._Solution(u, np.zeros((len(u), rebalance.BUCKETS)), u)

    buys = rebalance._buys(uni, noise, Decimal(100), set(), params, [])

    assert i not in buys
