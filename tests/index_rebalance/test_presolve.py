"""The rebalance's presolve: variables that their own bounds fix at zero are dropped before
Clarabel solves, and the answer is the whole problem's (`strategies/index/presolve.py`).

Dropping a variable x_j with 0 ≤ x_j ≤ 0 (or a_j x_j = 0) and the rows that fix it leaves an
equivalent problem: any feasible point of the whole has x_j = 0, so the two share their
optimum (Boyd & Vandenberghe, Convex Optimization, §4.1.3 on equivalent problems).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import clarabel
import cvxpy as cp
import cvxpy.settings as cvxpy_settings
import numpy as np
import pytest
from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import dims_to_solver_cones
from cvxpy.reductions.solvers.conic_solvers.conic_solver import ConicSolver
from hypothesis import given, settings
from hypothesis import strategies as st
from rebalancekit import FRESH, book, equal, lot, risk
from scipy import sparse

from ledger.model import Action
from strategies.index import rebalance
from strategies.index.presolve import Reduced, drop_fixed_zeros
from strategies.index.rebalance import RebalanceParams, RebalancePlan, plan_rebalance

KEYS = {
    "a": cvxpy_settings.A,
    "b": cvxpy_settings.B,
    "c": cvxpy_settings.C,
    "p": cvxpy_settings.P,
    "dims": ConicSolver.DIMS,
}


def _data(problem: cp.Problem) -> dict[str, Any]:
    data, _chain, _inverse = problem.get_problem_data(cp.CLARABEL, solver_opts={})
    return dict(data)


def _clarabel(data: dict[str, Any]) -> Any:
    quad = data.get(KEYS["p"])
    n = len(data[KEYS["c"]])
    p = sparse.triu(quad if quad is not None else sparse.csc_matrix((n, n))).tocsc()
    options = clarabel.DefaultSettings()
    options.verbose = False
    solver = clarabel.DefaultSolver(
        p,
        data[KEYS["c"]],
        sparse.csc_matrix(data[KEYS["a"]]),
        data[KEYS["b"]],
        dims_to_solver_cones(data[KEYS["dims"]]),
        options,
    )
    return solver.solve()


def _boxed(upper: list[float], specific: list[float], te_max: float) -> cp.Problem:
    """Return min ‖y‖² − Σ x + ‖x‖²/10 over 0 ≤ x ≤ upper, y = specific ∘ x, ‖y‖ ≤ te_max: the
    rebalance's shape in small (a bound of zero fixes x_i; a zero specific then fixes y_i)."""
    x = cp.Variable(len(upper), nonneg=True, name="x")
    y = cp.Variable(len(upper))
    objective = cp.sum_squares(y) - cp.sum(x) + cp.sum_squares(x) / 10
    constraints = [
        x <= np.array(upper),
        y == cp.multiply(np.array(specific), x),
        cp.SOC(cp.Constant(te_max), y),
    ]
    return cp.Problem(cp.Minimize(objective), constraints)


def _reduced(problem: cp.Problem) -> Reduced:
    reduced = drop_fixed_zeros(_data(problem), **KEYS)
    assert reduced is not None
    return reduced


def test_a_variable_bounded_to_zero_is_dropped_with_what_it_fixes() -> None:
    """x₁ ≤ 0 with x₁ ≥ 0 fixes x₁; then y₁ = σ₁x₁ has one entry left and fixes y₁ (a second
    pass); both leave the problem, and y₁ leaves the second-order cone's body."""
    problem = _boxed([1.0, 0.0, 1.0], [0.3, 0.3, 0.3], 1.0)
    whole = _data(problem)

    reduced = _reduced(problem)

    assert len(reduced.columns) == len(whole[KEYS["c"]]) - 2
    assert reduced.data[KEYS["dims"]].soc == [whole[KEYS["dims"]].soc[0] - 1]


def test_nothing_fixed_leaves_the_problem_as_it_is() -> None:
    """With no bound at zero there is nothing to drop: None, and the whole problem is solved."""
    assert drop_fixed_zeros(_data(_boxed([1.0, 2.0], [0.3, 0.3], 1.0)), **KEYS) is None


def test_a_row_left_empty_that_cannot_hold_keeps_the_problem_whole() -> None:
    """x fixed at zero and x ≥ 1: the row left empty says 0 ≥ 1. The reduced problem would
    lose the proof of infeasibility, so nothing is dropped."""
    x = cp.Variable(2, nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum(x)), [x <= np.array([0.0, 1.0]), x[0] >= 1])

    assert drop_fixed_zeros(_data(problem), **KEYS) is None


@settings(max_examples=40, deadline=None)
@given(
    upper=st.lists(st.sampled_from([0.0, 0.0, 0.05, 0.5, 2.0]), min_size=2, max_size=8),
    specific=st.lists(st.sampled_from([0.0, 0.1, 0.4]), min_size=8, max_size=8),
    te_max=st.sampled_from([0.01, 0.1, 10.0]),
)
def test_the_reduced_optimum_is_the_whole_problems(
    upper: list[float], specific: list[float], te_max: float
) -> None:
    """Property: whatever bounds are zero, the reduced problem's optimum, completed with
    zeros, is the whole problem's (objective and point, to the solver's tolerance)."""
    problem = _boxed(upper, specific[: len(upper)], te_max)
    data, chain, inverse = problem.get_problem_data(cp.CLARABEL, solver_opts={})
    reduced = drop_fixed_zeros(data, **KEYS)
    if reduced is None:
        assert all(u > 0.0 for u in upper)
        return

    whole, part = _clarabel(data), _clarabel(reduced.data)
    completed = reduced.expand(part)

    assert str(part.status) == str(whole.status) == "Solved"
    assert part.obj_val == pytest.approx(whole.obj_val, abs=1e-7)
    assert np.allclose(completed.x, np.asarray(whole.x), atol=1e-4)
    problem.unpack_results(completed, chain, inverse)
    (x,) = (v for v in problem.variables() if v.name() == "x")
    assert np.all(x.value[np.asarray(upper) == 0.0] == 0.0)


def _plan_book() -> Any:
    """A book with what the presolve drops: names with one lot (three empty buckets), a name
    locked out of buying, a fresh loss lot locked out of sale, and cash to invest."""
    symbols = [f"S{i:02d}" for i in range(12)]
    lots = [lot(s, 100, 40 if i % 3 else 70) for i, s in enumerate(symbols[1:], 1)]
    lots.append(lot("S05", 20, 65, FRESH))
    b = book(20_000, lots, dict.fromkeys(symbols, 50), no_buy=["S00"], no_loss_sale=["S05"])
    return b, symbols


def test_the_plan_is_the_plan_of_the_whole_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebalance solves the reduced problem; solved whole instead (Clarabel on every
    variable), the same book gets the same trades: the same names, sides and lots, the
    quantities equal to the solver's tolerance (within a cent of value)."""
    b, symbols = _plan_book()
    params = RebalanceParams(max_tracking_error=0.05)
    reduced_plan = plan_rebalance(b, equal(symbols), risk(symbols), params)
    monkeypatch.setattr(rebalance, "_SOLVES", rebalance._SOLVES[1:])

    whole_plan = plan_rebalance(b, equal(symbols), risk(symbols), params)

    def shape(plan: RebalancePlan) -> list[tuple[str, Action, tuple[str, ...]]]:
        return [(t.symbol, t.side, t.lot_ids) for t in plan.trades]

    assert shape(reduced_plan) == shape(whole_plan)
    assert len(reduced_plan.trades) >= 5  # a plan that trades, or the comparison says little
    for mine, theirs in zip(reduced_plan.trades, whole_plan.trades, strict=True):
        assert abs(mine.quantity - theirs.quantity) * mine.price <= Decimal("0.01")


def test_a_locked_out_name_is_bought_not_even_by_noise() -> None:
    """§4 "no buy of a name sold at a loss in the last 30 days": with u ≤ 0 the buy variable
    is dropped, so the solution holds exactly zero for it, not an interior point's ~1e-8."""
    b, symbols = _plan_book()
    params = RebalanceParams(max_tracking_error=0.05, min_trade_usd=Decimal(0))
    uni = rebalance._universe(b, equal(symbols), risk(symbols), params)
    opt = rebalance._Optimiser(uni, b, params)

    sol = opt.solve(params.max_tracking_error)

    assert sol is not None
    assert sol.u[uni.symbols.index("S00")] == 0.0
