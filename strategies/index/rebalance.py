"""Tax-aware rebalancing toward the index target: one convex problem over the whole portfolio.

Minimise ex-ante tracking error plus the tax cost of the lots sold plus trading cost, subject
to long-only, the budget, the wash-sale lockouts as bounds, and per-name and per-sector bands
(cvxpy, an open solver).

Units are weights of the portfolio's value (holdings plus cash). Per name i: a buy u_i ≥ 0,
sales s_ik ≥ 0 of its K tax buckets, the net trade t_i = u_i - Σ_k s_ik; with d0 the active
weights before (holdings minus target) and the risk model's loadings B and specific risk σ:

    minimise  λ (‖z‖² + ‖σ∘d0 + σ∘t‖²) + Σ_ik c_ik s_ik + κ (Σ u + Σ s)
    s.t.      z = B d0 + B t,  s_ik ≤ cap_ik,  u_i ≤ ū_i,  Σ u - Σ s ≤ cash share,
              lo_i ≤ t_i ≤ hi_i (the name band),  the sector band,  ‖(z, σ∘d0 + σ∘t)‖ ≤ TE max.

A name's tax buckets (`_buckets`) are the lots it may sell in the order a sale relieves them
(`lot_choice.sellable`), as a piecewise-linear tax per dollar sold: bucket k's capacity is its
lots' value, its cost c_ik their average tax per dollar (negative for a loss). With named lots
the order is least tax first, so the cost is convex (exact with no more than K lots; else
neighbours of like cost are pooled, losses kept apart from gains). When the broker relieves
lots in its own order (FIFO at Alpaca) the tax of a prefix is not convex in its size: the
buckets are then the greatest convex minorant of it (pool adjacent violators), exact at the
ends of each bucket and below the true tax inside one — the plan's tax is recomputed exactly
from the lots relieved.
A name whose loss lots may not be sold (bought within 30 days, household-wide) has no bucket
for them; nor has a name of the target for its short-term gain lots: after a harvest the
portfolio drifts back toward the target, never by realising a short-term gain to undo it
(issue #12 §3; a name the target leaves out is sold whatever its lots' term). A name that may
not be bought (sold at a loss within 30 days) has ū_i = 0. A name band that these bounds make
unreachable is relaxed to the nearest reachable trade, and so is a sector band. A plan never
sells a name at a loss and buys it, or one substantially identical (`Book.identity`), back (a
wash sale of its own): when the solution does, the group keeps the direction of its net trade
and the problem is solved again.

Against Moehle, Kochenderfer, Boyd & Ang (JOTA 2021, arXiv 2008.04985): they give every lot
its own sale variable and value the realised gains through the year's short- and long-term
netting (a convex piecewise-linear tax); here a name's lots are pooled into at most K buckets
(the least-tax order for named lots, the convex minorant under FIFO), every dollar of loss is
worth its rate (the account is assumed to have gains or income to offset), the wash-sale rule
enters as bounds from the household's lockouts, and tracking error is both penalised and
bounded. Like theirs, a plan never buys and sells one asset together; here by solving again
with the direction fixed (`_Optimiser.unwash`).

The problem is parametrised (DPP): it is compiled once per shape (names, buckets, factors,
sectors) and sector membership and cached, so a later rebalance only refills the parameters
and solves: Clarabel on the problem without the variables that day's bounds fix at zero (empty
buckets, names that may not be bought, padding: `strategies.index.presolve`), then, should that
fail, Clarabel and SCS on the whole problem (OSQP cannot take the tracking-error cone). The
solution is then rounded to shares: sales to the nearest whole share (or 1e-9 share when
fractional), buys down, then, with whole shares, the cash left is spent one share at a time on
the most underweight names that fit; trades under `min_trade_usd` are dropped. Quantities,
prices, tax and cash are recomputed in Decimal from the lots each sale relieves.
"""

from __future__ import annotations

import heapq
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from functools import partial

import cvxpy as cp
import cvxpy.settings as cvxpy_settings
import numpy as np
import numpy.typing as npt

# The atoms from their own modules: cvxpy's package namespace re-exports them untyped.
from cvxpy.atoms.affine.binary_operators import multiply
from cvxpy.atoms.affine.hstack import hstack
from cvxpy.atoms.affine.sum import sum as total
from cvxpy.atoms.sum_squares import sum_squares
from cvxpy.expressions.constants.constant import Constant
from cvxpy.reductions.solvers.conic_solvers.conic_solver import ConicSolver
from scipy import sparse

from ledger.conventions import LotMethod
from ledger.model import Action, Parcel
from strategies.index.book import Book
from strategies.index.lot_choice import (
    Relief,
    TaxRates,
    at_loss,
    lot_ids,
    relieve,
    sellable,
)
from strategies.index.presolve import drop_fixed_zeros
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget

Array = npt.NDArray[np.float64]
ZERO = Decimal(0)
CENT = Decimal("0.01")
FRACTION = Decimal("1e-9")  # the finest fraction of a share an order may carry (Alpaca: 9 dp)
BUCKETS = 4
NAME_STEP = 64
SECTOR_STEP = 8
CASH_DRAG = 1e-4
"""What a dollar of idle cash above the buffer costs in the objective, beyond twice the trading
cost: enough that the plan always invests it when it may."""
RISK_AVERSION = 10.0
"""λ by default (`[index] risk_aversion`): the weight of TE² (annual variance) against tax and
trading cost (both as shares of the portfolio). Reducing a 0.1 % overweight of a 30 %-volatile
name is worth far less than realising a gain on it, so the plan sells gains only as far as the
budget and the bands make it; idle cash is invested whatever λ (`CASH_DRAG`). Measured on the
S&P set (README, Benchmarks): at 100 the weekly rebalance traded names back and forth toward
the target several times a year; at 10 it trades what harvests, deposits and dividends moved."""
SOLVERS = (cp.CLARABEL, cp.SCS)
"""The solvers of the whole problem, in turn, after Clarabel on the reduced one (`_SOLVES`)."""
_ANSWERED = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE)
_NO_BUDGET = 10.0  # a tracking-error bound no portfolio reaches: the budget lifted
_DUST = 1e-9  # weights below this are solver noise
_MATERIAL = 1e-6
"""The least buy or loss sale (a share of the portfolio) that makes a name both bought and sold
at a loss: an interior-point solution holds a bounded variable up to ~1e-8 off its bound, and
below a millionth neither side moves a dollar of tax on a $1M account."""


class PlanError(ValueError):
    """No plan meets the constraints (the message says which, and by how much).

    `reachable_tracking_error` is, when the tracking-error budget alone cannot be met, the
    smallest tracking error a plan can reach (a caller may plan again with that budget).
    """

    def __init__(self, message: str, *, reachable_tracking_error: float | None = None) -> None:
        super().__init__(message)
        self.reachable_tracking_error = reachable_tracking_error


@dataclass(frozen=True, slots=True)
class RebalanceParams:
    """What the configuration decides (`[index]`, `[tax]`, the broker's lot relief)."""

    max_tracking_error: float = 0.01
    name_band: float = 0.005
    sector_band: float = 0.03
    min_trade_usd: Decimal = Decimal(50)
    fractional: bool = True
    cash_buffer: Decimal = Decimal("0.005")
    trading_cost_bps: float = 5.0
    short_term_rate: float = 0.37
    long_term_rate: float = 0.20
    specific_lots: bool = True  # False: the broker relieves lots by `lot_method`
    lot_method: LotMethod = LotMethod.FIFO
    risk_aversion: float = RISK_AVERSION  # λ: the weight of TE² against tax and trading cost
    # The share of a loss's tax value the rebalance counts: 1 harvests in the rebalance too
    # (Moehle et al.'s objective); 0 leaves harvesting to the per-lot trigger, and a sale the
    # rebalance makes for tracking or cash still relieves loss lots first (no tax, and gains
    # cost tax).
    loss_credit: float = 1.0

    @property
    def rates(self) -> TaxRates:
        """Return the tax rates as decimals."""
        return TaxRates(Decimal(str(self.short_term_rate)), Decimal(str(self.long_term_rate)))


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """One order of a plan: `quantity` shares of `symbol` at about `price`; for a sale,
    `lot_ids` are the lots it relieves, in order (empty for a buy)."""

    symbol: str
    side: Action
    quantity: Decimal
    price: Decimal
    lot_ids: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """The trades (sales first), the ex-ante tracking error before and after, the estimated
    tax of the sales (negative: a saving), the cash left, and notes (why a trade was left out)."""

    trades: tuple[PlannedTrade, ...]
    tracking_error_before: float
    tracking_error_after: float
    tax_cost: Decimal
    cash_after: Decimal
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# The portfolio as arrays


@dataclass(slots=True)
class _Universe:
    """The names the problem spans (target and priced holdings), as arrays in one order."""

    symbols: list[str]
    value: Decimal
    prices: list[Decimal | None]
    w0: Array  # weights held
    b: Array  # target weights of the invested part
    loadings: Array  # factors × names
    specific: Array
    sectors: list[str]
    orders: list[list[Parcel]]  # each name's sellable parcels, in the order a sale relieves them
    cap: Array  # names × buckets
    cost: Array  # names × buckets
    buyable: Array  # 1 or 0
    notes: list[str] = field(default_factory=list)

    def tracking_error(self, d: Array) -> float:
        """Return the annualised ex-ante tracking error of active weights `d`."""
        return math.sqrt(float(np.sum((self.loadings @ d) ** 2) + np.sum((self.specific * d) ** 2)))


def _universe(
    book: Book, target: IndexTarget, risk: RiskModel, params: RebalanceParams
) -> _Universe:
    value = book.value
    if value <= ZERO:
        raise PlanError(f"nothing to rebalance: account {book.account} holds no value")
    notes = [
        f"{s}: no price, neither bought nor sold"
        for s in sorted(book.holdings)
        if s not in book.prices
    ]
    symbols = sorted(set(target.weights) | {s for s in book.holdings if s in book.prices})
    n = len(symbols)
    invested = 1.0 - float(params.cash_buffer)
    prices = [book.prices.get(s) for s in symbols]
    w0 = np.zeros(n)
    b = np.array([float(target.weights.get(s, ZERO)) * invested for s in symbols])
    rates = params.rates
    cap = np.zeros((n, BUCKETS))
    cost = np.zeros((n, BUCKETS))
    orders: list[list[Parcel]] = []
    for i, (sym, price) in enumerate(zip(symbols, prices, strict=True)):
        holding = book.holdings.get(sym)
        if holding is None or price is None:
            orders.append([])
            continue
        w0[i] = float(holding.quantity * price / value)
        priced = sellable(
            holding.parcels,
            price,
            book.today,
            rates,
            specific_lots=params.specific_lots,
            loss_locked=sym in book.lockouts.no_loss_sale,
            short_gains=sym not in target.weights,
        )
        orders.append([p for p, _ in priced])
        segments = [
            (float(p.quantity * price / value), _credited(float(tax), params.loss_credit))
            for p, tax in priced
        ]
        for k, (width, slope) in enumerate(_buckets(segments, BUCKETS)):
            cap[i, k], cost[i, k] = width, slope
    buyable = np.array(
        [
            0.0 if p is None or s in book.lockouts.no_buy else 1.0
            for s, p in zip(symbols, prices, strict=True)
        ]
    )
    loadings, specific = _risk_arrays(risk, symbols, notes)
    return _Universe(
        symbols=symbols,
        value=value,
        prices=prices,
        w0=w0,
        b=b,
        loadings=loadings,
        specific=specific,
        sectors=[target.sector(s) for s in symbols],
        orders=orders,
        cap=cap,
        cost=cost,
        buyable=buyable,
        notes=notes,
    )


def _credited(tax: float, loss_credit: float) -> float:
    """Return the tax of a sale as the objective counts it: a loss (negative tax) at
    `loss_credit` of its value."""
    return tax * loss_credit if tax < 0 else tax


def _risk_arrays(risk: RiskModel, symbols: Sequence[str], notes: list[str]) -> tuple[Array, Array]:
    """Return the model's loadings and specific risk over `symbols`: a name the model lacks
    gets no factor exposure and the model's median specific risk."""
    column = {s: j for j, s in enumerate(risk.symbols)}
    factors = max(risk.loadings.shape[0], 1)  # a model without factors: one that loads nothing
    loadings = np.zeros((factors, len(symbols)))
    fallback = float(np.median(risk.specific)) if len(risk.specific) else 0.0
    specific = np.full(len(symbols), fallback)
    missing = []
    for i, s in enumerate(symbols):
        j = column.get(s)
        if j is None:
            missing.append(s)
            continue
        loadings[: risk.loadings.shape[0], i] = risk.loadings[:, j]
        specific[i] = risk.specific[j]
    if missing:
        notes.append(
            "not in the risk model (median specific risk, no factor exposure): "
            + ", ".join(missing)
        )
    return loadings, specific


def _buckets(segments: Sequence[tuple[float, float]], k: int) -> list[tuple[float, float]]:
    """Return at most `k` (capacity, tax per dollar) buckets of lots sold in order.

    The greatest convex minorant of the prefix tax (pool adjacent violators: a bucket cheaper
    than the one before merges into it), then the closest neighbours merged until `k` remain,
    a loss bucket with a gain bucket only when no other pair is left.
    """
    pooled: list[tuple[float, float]] = []
    for width, slope in segments:
        if width <= 0.0:
            continue
        while pooled and pooled[-1][1] > slope:
            w, s = pooled.pop()
            slope = (w * s + width * slope) / (w + width)
            width += w
        pooled.append((width, slope))
    while len(pooled) > k:

        def gap(j: int) -> float:
            (_, s0), (_, s1) = pooled[j], pooled[j + 1]
            crosses = (s0 < 0.0) != (s1 < 0.0)
            return (s1 - s0) + (1e6 if crosses else 0.0)

        j = min(range(len(pooled) - 1), key=gap)
        (w0, s0), (w1, s1) = pooled[j], pooled[j + 1]
        pooled[j : j + 2] = [(w0 + w1, (w0 * s0 + w1 * s1) / (w0 + w1))]
    return pooled


# ---------------------------------------------------------------------------------------------
# The convex problem, compiled once per shape


@dataclass(slots=True)
class _Problem:
    problem: cp.Problem
    loadings: cp.Parameter
    a: cp.Parameter  # B d0
    specific: cp.Parameter
    specific_d0: cp.Parameter
    cap: cp.Parameter
    cost: cp.Parameter
    buyable: cp.Parameter
    lo: cp.Parameter
    hi: cp.Parameter
    sector_lo: cp.Parameter
    sector_hi: cp.Parameter
    cash: cp.Parameter
    te_max: cp.Parameter
    trading_cost: cp.Parameter
    risk_aversion: cp.Parameter
    cash_drag: cp.Parameter
    u: cp.Variable
    s: cp.Variable
    t: cp.Variable


_PROBLEMS: OrderedDict[tuple[int, int, int, int, tuple[int, ...]], _Problem] = OrderedDict()
_CACHED = 8  # compiled problems kept, the least recently used dropped first


def _compiled(n: int, k: int, f: int, m: int, sector_of: tuple[int, ...]) -> _Problem:
    """Return the problem of `n` names, `k` buckets, `f` factors and `m` sectors, name i in
    sector `sector_of[i]` (-1: none), cached.

    The sector membership is a constant of the problem, not a parameter: as a parameter its
    m × n entries, zeros included, all enter the solver's matrix; as a constant only the n
    ones do (about a quarter less time per solve on the S&P set). A universe keeps its sectors
    from one rebalance to the next, so it is compiled once.
    """
    key = (n, k, f, m, sector_of)
    cached = _PROBLEMS.get(key)
    if cached is not None:
        _PROBLEMS.move_to_end(key)
        return cached
    named = [(j, i) for i, j in enumerate(sector_of) if j >= 0]
    sector = Constant(
        sparse.csr_matrix(
            ([1.0] * len(named), ([j for j, _ in named], [i for _, i in named])), shape=(m, n)
        )
    )
    loadings = cp.Parameter((f, n))
    a = cp.Parameter(f)
    specific = cp.Parameter(n, nonneg=True)
    specific_d0 = cp.Parameter(n)
    cap = cp.Parameter((n, k), nonneg=True)
    cost = cp.Parameter((n, k))
    buyable = cp.Parameter(n, nonneg=True)
    lo = cp.Parameter(n)
    hi = cp.Parameter(n)
    sector_lo = cp.Parameter(m)
    sector_hi = cp.Parameter(m)
    cash = cp.Parameter()
    te_max = cp.Parameter(nonneg=True)
    trading_cost = cp.Parameter(nonneg=True)
    risk_aversion = cp.Parameter(nonneg=True)
    cash_drag = cp.Parameter(nonneg=True)
    u = cp.Variable(n, nonneg=True)
    s = cp.Variable((n, k), nonneg=True)
    t = cp.Variable(n)
    z = cp.Variable(f)
    y = cp.Variable(n)
    objective = (
        risk_aversion * (sum_squares(z) + sum_squares(y))
        + total(multiply(cost, s))
        + trading_cost * (total(u) + total(s))
        - cash_drag * (total(u) - total(s))
    )
    constraints = [
        t == u - total(s, axis=1),
        z == a + loadings @ t,
        y == specific_d0 + multiply(specific, t),
        s <= cap,
        u <= buyable,
        total(u) - total(s) <= cash,
        t >= lo,
        t <= hi,
        sector @ t >= sector_lo,
        sector @ t <= sector_hi,
        cp.SOC(te_max, hstack([z, y])),
    ]
    built = _Problem(
        cp.Problem(cp.Minimize(objective), constraints),
        loadings, a, specific, specific_d0, cap, cost, buyable, lo, hi,
        sector_lo, sector_hi, cash, te_max, trading_cost, risk_aversion, cash_drag,
        u, s, t,
    )  # fmt: skip
    _PROBLEMS[key] = built
    if len(_PROBLEMS) > _CACHED:
        _PROBLEMS.popitem(last=False)
    return built


@dataclass(slots=True)
class _Solution:
    u: Array
    s: Array
    t: Array


def _bounds(lo: Array, hi: Array, reach_lo: Array, reach_hi: Array) -> tuple[Array, Array]:
    """Return the band [lo, hi] cut to the reachable [reach_lo, reach_hi]; where they do not
    meet, the reachable point nearest the band."""
    new_lo = np.maximum(lo, reach_lo)
    new_hi = np.minimum(hi, reach_hi)
    empty = new_lo > new_hi
    nearest = np.where(hi < reach_lo, reach_lo, reach_hi)
    return np.where(empty, nearest, new_lo), np.where(empty, nearest, new_hi)


def _padded(n: int, step: int) -> int:
    """Return `n` rounded up to a multiple of `step` (at least `step`)."""
    return max(step, -(-n // step) * step)


def _pad(x: Array, shape: tuple[int, ...], fill: float = 0.0) -> Array:
    """Return `x` in the top-left corner of an array of `shape` filled with `fill`."""
    out = np.full(shape, fill)
    out[tuple(slice(0, d) for d in x.shape)] = x
    return out


class _Optimiser:
    """The problem of one universe, solved with the lockouts as bounds.

    The problem's shape is padded (names to a multiple of `NAME_STEP`, sectors of
    `SECTOR_STEP`) with names that can neither be held nor traded, so a universe that gains or
    loses a few names reuses the compiled problem.
    """

    def __init__(self, uni: _Universe, book: Book, params: RebalanceParams) -> None:
        self.uni = uni
        self.params = params
        self.d0 = uni.w0 - uni.b
        names = sorted({s for s in uni.sectors if s})
        n = len(uni.symbols)
        sector_of = tuple(names.index(sec) if sec else -1 for sec in uni.sectors)
        member = np.zeros((len(names), n))
        for i, j in enumerate(sector_of):
            if j >= 0:
                member[j, i] = 1.0
        self.member = member
        self.cash_share = float((book.cash - params.cash_buffer * uni.value) / uni.value)
        self.cap = uni.cap.copy()
        self.buyable = uni.buyable.copy()
        by_key: dict[str, list[int]] = {}
        for i, sym in enumerate(uni.symbols):
            by_key.setdefault(book.identity.key(sym), []).append(i)
        self.groups = [np.array(members) for members in by_key.values()]
        self.n = _padded(n, NAME_STEP)
        self.m = _padded(len(names), SECTOR_STEP)
        padded = sector_of + (-1,) * (self.n - n)
        self.prob = _compiled(self.n, BUCKETS, uni.loadings.shape[0], self.m, padded)

    def solve(self, budget: float, taxed: bool = True) -> _Solution | None:
        """Return the optimum under tracking-error bound `budget` (None: infeasible); untaxed,
        the trade that reaches the smallest tracking error."""
        p, uni, n, m = self.prob, self.uni, self.n, self.m
        band = self.params.name_band
        lo, hi = _bounds(-band - self.d0, band - self.d0, -self.cap.sum(axis=1), self.buyable)
        band_s = self.params.sector_band
        sector_d0 = self.member @ self.d0
        slo, shi = _bounds(
            -band_s - sector_d0, band_s - sector_d0, self.member @ lo, self.member @ hi
        )
        factors = uni.loadings.shape[0]
        p.loadings.value = _pad(uni.loadings, (factors, n))
        p.a.value = uni.loadings @ self.d0
        p.specific.value = _pad(uni.specific, (n,))
        p.specific_d0.value = _pad(uni.specific * self.d0, (n,))
        p.cap.value = _pad(self.cap, (n, BUCKETS))
        p.cost.value = _pad(uni.cost if taxed else np.zeros_like(uni.cost), (n, BUCKETS))
        p.buyable.value = _pad(self.buyable, (n,))
        p.lo.value, p.hi.value = _pad(lo, (n,)), _pad(hi, (n,))
        p.sector_lo.value, p.sector_hi.value = _pad(slo, (m,), -2.0), _pad(shi, (m,), 2.0)
        # Cash below the buffer is restored by sales, as far as the lockouts let lots be sold.
        p.cash.value = max(self.cash_share, -float(self.cap.sum()))
        p.te_max.value = budget
        p.trading_cost.value = self.params.trading_cost_bps / 1e4 if taxed else 0.0
        p.risk_aversion.value = self.params.risk_aversion if taxed else 1.0
        # Cash above the buffer is to be invested (issue #12 §5): each dollar of it left idle
        # costs more than buying it in, so the plan spends it unless a constraint forbids.
        p.cash_drag.value = 2 * p.trading_cost.value + CASH_DRAG
        status = ""
        k = len(uni.symbols)
        for solve in _SOLVES:
            try:
                with warnings.catch_warnings():
                    # An inaccurate solution is accepted here, and said so by its status.
                    warnings.simplefilter("ignore", UserWarning)
                    solve(p.problem)
            except cp.SolverError as exc:
                status = str(exc)
                continue
            status = p.problem.status
            if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
                return None
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                return _Solution(
                    np.asarray(p.u.value)[:k], np.asarray(p.s.value)[:k], np.asarray(p.t.value)[:k]
                )
        raise PlanError(f"the optimiser failed ({status})")

    def unwash(self, sol: _Solution) -> bool:
        """Keep each group of substantially identical names (a name alone, mostly) that the
        solution both buys and sells at a loss to the direction of its net trade: no loss sale
        or no buy; return whether any group changed."""
        loss_sold: npt.NDArray[np.bool_] = np.any(
            (self.uni.cost < 0.0) & (sol.s > _MATERIAL), axis=1
        )
        bought: npt.NDArray[np.bool_] = np.greater(sol.u, _MATERIAL)
        changed = False
        for members in self.groups:
            if not (bought[members].any() and loss_sold[members].any()):
                continue
            changed = True
            if sol.t[members].sum() >= 0.0:
                for i in members:
                    self.cap[i, self.uni.cost[i] < 0.0] = 0.0
            else:
                self.buyable[members] = 0.0
        return changed


def _solve_reduced(problem: cp.Problem) -> None:
    """Solve `problem` with Clarabel without the variables its bounds fix at zero
    (`strategies.index.presolve`); raise `cp.SolverError` when that does not reach an optimum
    or a proof of infeasibility, so the whole problem is solved instead."""
    data, chain, inverse = problem.get_problem_data(cp.CLARABEL, solver_opts={})
    reduced = drop_fixed_zeros(
        data,
        a=cvxpy_settings.A,
        b=cvxpy_settings.B,
        c=cvxpy_settings.C,
        p=cvxpy_settings.P,
        dims=ConicSolver.DIMS,
    )
    if reduced is None:
        raise cp.SolverError("nothing to reduce")
    raw = chain.solver.solve_via_data(reduced.data, warm_start=False, verbose=False, solver_opts={})
    problem.unpack_results(reduced.expand(raw), chain, inverse)
    if problem.status not in _ANSWERED:
        raise cp.SolverError(f"the reduced problem: {problem.status}")


def _solve_with(solver: str, problem: cp.Problem) -> None:
    problem.solve(solver=solver)  # type: ignore[no-untyped-call]


_SOLVES: tuple[Callable[[cp.Problem], None], ...] = (
    _solve_reduced,
    *(partial(_solve_with, solver) for solver in SOLVERS),
)


_SOLVING = threading.Lock()  # the cached problems' parameters are shared
UNWASH_ROUNDS = 4  # then the rounding drops any buy still washing a sale (`plan_rebalance`)


def _optimise(uni: _Universe, book: Book, params: RebalanceParams) -> _Solution:
    with _SOLVING:
        opt = _Optimiser(uni, book, params)
        sol = opt.solve(params.max_tracking_error)
        rounds = 0
        while sol is not None and rounds < UNWASH_ROUNDS and opt.unwash(sol):
            sol = opt.solve(params.max_tracking_error)
            rounds += 1
        if sol is None:
            raise _infeasible(opt, params)
        return sol


def _infeasible(opt: _Optimiser, params: RebalanceParams) -> PlanError:
    """Return the error of a problem infeasible under the budget: how close it can come."""
    best = opt.solve(_NO_BUDGET, taxed=False)
    if best is None:
        return PlanError(
            "the target weights cannot be met within the budget: the name band "
            f"±{params.name_band:.2%} and the sector band ±{params.sector_band:.2%} need more "
            f"than the cash above the buffer ({opt.cash_share:.2%} of the portfolio) and the "
            "sales the wash-sale lockouts allow"
        )
    reach = opt.uni.tracking_error(opt.d0 + best.t)
    return PlanError(
        f"the tracking-error budget {params.max_tracking_error:.2%} cannot be met: the "
        f"smallest ex-ante tracking error reachable with the cash, the bands and the wash-sale "
        f"lockouts is {reach:.2%}",
        reachable_tracking_error=reach,
    )


# ---------------------------------------------------------------------------------------------
# From weights to orders


def _quantum(params: RebalanceParams) -> Decimal:
    return FRACTION if params.fractional else Decimal(1)


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


@dataclass(slots=True)
class _Sale:
    symbol: str
    quantity: Decimal
    price: Decimal
    reliefs: list[Relief]


def _sales(
    uni: _Universe, sol: _Solution, book: Book, params: RebalanceParams, notes: list[str]
) -> list[_Sale]:
    quantum = _quantum(params)
    out = []
    for i in np.flatnonzero(sol.t < -_DUST):
        sym, price, order = uni.symbols[i], uni.prices[i], uni.orders[i]
        if price is None or not order:
            continue
        most = sum((p.quantity for p in order), ZERO)
        if not params.fractional:
            most = most.to_integral_value(ROUND_FLOOR)
        want = _dec(-float(sol.t[i])) * uni.value / price
        qty = min(most, want.quantize(quantum, ROUND_HALF_EVEN))
        if (most - qty) * price < max(params.min_trade_usd, CENT):
            qty = most  # no remainder too small to sell later
        if qty <= ZERO:
            continue
        if qty * price < params.min_trade_usd:
            notes.append(f"{sym}: sale of {qty} shares under min_trade_usd left out")
            continue
        out.append(_Sale(sym, qty, price, relieve(order, qty)))
    return out


def _buys(
    uni: _Universe,
    sol: _Solution,
    spendable: Decimal,
    blocked: set[str],
    params: RebalanceParams,
    notes: list[str],
) -> dict[int, Decimal]:
    """Return the shares to buy by name index, within `spendable` dollars; never a name that
    may not be bought (a lockout, no price), whatever noise the solution holds for it."""
    quantum = _quantum(params)
    wanted = {
        int(i): _dec(float(sol.t[i])) * uni.value
        for i in np.flatnonzero((sol.t > _DUST) & (uni.buyable > 0.0))
    }
    for i in [i for i in wanted if uni.symbols[i] in blocked]:
        notes.append(f"{uni.symbols[i]}: not bought, identical to a name sold at a loss")
        del wanted[i]
    total = sum(wanted.values(), ZERO)
    scale = min(Decimal(1), spendable / total) if total > ZERO else ZERO
    out: dict[int, Decimal] = {}
    for i, dollars in wanted.items():
        price = uni.prices[i]
        assert price is not None
        qty = (dollars * scale / price).quantize(quantum, ROUND_FLOOR)
        if qty <= ZERO:
            continue
        if qty * price < params.min_trade_usd:
            notes.append(f"{uni.symbols[i]}: buy of {qty} shares under min_trade_usd left out")
            continue
        out[i] = qty
    return out


def _spend_leftover(
    uni: _Universe,
    buys: dict[int, Decimal],
    held: Array,
    leftover: Decimal,
    blocked: set[str],
    params: RebalanceParams,
) -> None:
    """Add to `buys` whole shares for `leftover` dollars, one at a time to the name furthest
    below its weight (`held`: dollars by name after the trades so far) that fits, a new order
    of at least `min_trade_usd`, none past its band."""
    value = float(uni.value)
    heap: list[tuple[float, int]] = []
    for i, price in enumerate(uni.prices):
        if price is None or uni.buyable[i] == 0.0 or uni.symbols[i] in blocked:
            continue
        heapq.heappush(heap, (held[i] / value - uni.b[i], i))
    while heap:
        gap, i = heapq.heappop(heap)
        price = uni.prices[i]
        assert price is not None
        n = Decimal(1)
        if i not in buys:
            n = max(n, (params.min_trade_usd / price).to_integral_value(ROUND_CEILING))
        over = gap + float(n * price) / value
        if n * price > leftover or over > params.name_band:
            continue  # the leftover only shrinks: this name never fits again
        buys[i] = buys.get(i, ZERO) + n
        leftover -= n * price
        heapq.heappush(heap, (over, i))


def plan_rebalance(
    book: Book, target: IndexTarget, risk: RiskModel, params: RebalanceParams
) -> RebalancePlan:
    """Return the tax-aware trades that bring `book` toward `target` (cash above the buffer is
    invested, underweights first). Raise `PlanError` when no plan meets the constraints.

    `book.cash` is all the account's cash: `params.cash_buffer` of the book's value stays in
    cash (the target is scaled to the rest), and cash below that is restored by sales. A name
    the target leaves out but the book holds is sold toward zero, within its band.
    """
    uni = _universe(book, target, risk, params)
    sol = _optimise(uni, book, params)
    notes = list(uni.notes)
    rates = params.rates
    sales = _sales(uni, sol, book, params, notes)
    proceeds = sum((x.quantity * x.price for x in sales), ZERO)
    spendable = book.cash + proceeds - params.cash_buffer * uni.value
    # No buy of a name sold, nor of one identical to a name sold at a loss (a wash sale).
    washed = {
        book.identity.key(x.symbol)
        for x in sales
        if any(at_loss(r.parcel, x.price) for r in x.reliefs)
    }
    sold = {x.symbol for x in sales} | {s for s in uni.symbols if book.identity.key(s) in washed}
    buys = _buys(uni, sol, spendable, sold, params, notes)
    held = np.array(
        [
            float(book.holdings[s].quantity * p) if s in book.holdings and p is not None else 0.0
            for s, p in zip(uni.symbols, uni.prices, strict=True)
        ]
    )
    index = {s: i for i, s in enumerate(uni.symbols)}
    for x in sales:
        held[index[x.symbol]] -= float(x.quantity * x.price)
    if not params.fractional:
        leftover = spendable - _cost(uni, buys)
        _spend_leftover(uni, buys, held + _values(uni, buys), leftover, sold, params)
    held += _values(uni, buys)
    cost = _cost(uni, buys)
    trades = [
        PlannedTrade(
            x.symbol,
            Action.SELL,
            x.quantity,
            x.price,
            lot_ids(x.reliefs),
            f"rebalance: sell toward {uni.b[index[x.symbol]]:.3%}",
        )
        for x in sales
    ]
    trades += [
        PlannedTrade(
            uni.symbols[i],
            Action.BUY,
            q,
            _price(uni, i),
            (),
            f"rebalance: buy toward {uni.b[i]:.3%}",
        )
        for i, q in sorted(buys.items(), key=lambda iq: uni.symbols[iq[0]])
    ]
    tax = sum((r.tax(x.price, book.today, rates) for x in sales for r in x.reliefs), ZERO)
    d0 = uni.w0 - uni.b
    return RebalancePlan(
        trades=tuple(trades),
        tracking_error_before=uni.tracking_error(d0),
        tracking_error_after=uni.tracking_error(held / float(uni.value) - uni.b),
        tax_cost=tax,
        cash_after=book.cash + proceeds - cost,
        notes=tuple(notes),
    )


def _cost(uni: _Universe, buys: Mapping[int, Decimal]) -> Decimal:
    """Return what `buys` (shares by name index) cost."""
    return sum((q * _price(uni, i) for i, q in buys.items()), ZERO)


def _values(uni: _Universe, buys: Mapping[int, Decimal]) -> Array:
    """Return the dollars `buys` put into each name, as an array over the universe."""
    out = np.zeros(len(uni.symbols))
    for i, q in buys.items():
        out[i] = float(q * _price(uni, i))
    return out


def _price(uni: _Universe, i: int) -> Decimal:
    price = uni.prices[i]
    assert price is not None
    return price


# ---------------------------------------------------------------------------------------------
# Raising cash


def plan_raise(book: Book, cash: Decimal, params: RebalanceParams) -> RebalancePlan:
    """Return the sales that raise `cash` at the least tax per dollar (losses first).

    The proceeds of the sales reach `cash` (the cash already held is not counted); each name's
    lots go in the order a sale relieves them, so with the broker's own relief a cheap lot
    behind a costly one waits for it. The plan's tracking errors are NaN (no risk model is
    asked). Raise `PlanError` when the lots that may be sold (loss lots of a name bought within
    30 days may not) raise less.
    """
    if cash <= ZERO:
        raise PlanError(f"the cash to raise must be positive, not {cash}")
    rates = params.rates
    quantum = _quantum(params)
    queues: dict[str, list[tuple[Parcel, Decimal]]] = {}  # lots in order, tax per dollar
    heap: list[tuple[Decimal, str, int]] = []
    for sym, holding in sorted(book.holdings.items()):
        price = book.prices.get(sym)
        if price is None or price <= ZERO:
            continue
        queue = sellable(
            holding.parcels,
            price,
            book.today,
            rates,
            specific_lots=params.specific_lots,
            loss_locked=sym in book.lockouts.no_loss_sale,
        )
        if queue:
            queues[sym] = queue
            heapq.heappush(heap, (queue[0][1], sym, 0))
    taken: dict[str, Decimal] = {}
    need = cash
    while need > ZERO and heap:
        _, sym, j = heapq.heappop(heap)
        price = book.prices[sym]
        # Whole shares at a broker that trades no fractions: the lots up to this one, rounded
        # down, less what is taken already (a lot of 10.5 shares gives 10).
        upto = sum((p.quantity for p, _ in queues[sym][: j + 1]), ZERO)
        room = upto.quantize(quantum, ROUND_FLOOR) - taken.get(sym, ZERO)
        qty = min(room, (need / price).quantize(quantum, ROUND_CEILING))
        if qty > ZERO:
            taken[sym] = taken.get(sym, ZERO) + qty
            need -= qty * price
        if j + 1 < len(queues[sym]):
            heapq.heappush(heap, (queues[sym][j + 1][1], sym, j + 1))
    if need > ZERO:
        raised = (cash - need).quantize(CENT, ROUND_FLOOR)
        if not book.holdings:
            why = "the account holds no shares"
        elif book.lockouts.no_loss_sale.keys() & book.holdings.keys():
            why = "loss lots of names bought within 30 days are held back by the wash-sale rule"
        else:
            why = "that is all the account holds at these prices"
        raise PlanError(
            f"cannot raise {cash:,.2f}: the lots that may be sold raise {raised:,.2f} ({why})"
        )
    trades = []
    tax = ZERO
    proceeds = ZERO
    for sym, qty in taken.items():
        price = book.prices[sym]
        reliefs = relieve([p for p, _ in queues[sym]], qty)
        tax += sum((r.tax(price, book.today, rates) for r in reliefs), ZERO)
        proceeds += qty * price
        trades.append(PlannedTrade(sym, Action.SELL, qty, price, lot_ids(reliefs), "raise cash"))
    return RebalancePlan(
        trades=tuple(trades),
        tracking_error_before=math.nan,
        tracking_error_after=math.nan,
        tax_cost=tax,
        cash_after=book.cash + proceeds,
        notes=(),
    )


__all__ = [
    "PlanError",
    "PlannedTrade",
    "RebalanceParams",
    "RebalancePlan",
    "plan_raise",
    "plan_rebalance",
]
