"""Which stocks replace a harvested one: those that keep the ex-ante tracking error lowest.

Issue #12 §3: when a stock is harvested its weight moves to target names that are not
substantially identical and not blocked by the wash guard (the caller's `allowed` decides
both), within the sold name's sector first; a move that would push the tracking error above
the budget is not made, and the reason says by how much.

With the active weights d (holdings minus target) and the sold weight w on name s, moving it
to name j gives d_j' = d0 + w e_j where d0 = d - w e_s; in the model's factor form
(``Σ = BᵀB + diag(σ²)``) every candidate's tracking error follows from one product ``B d0``:

    TE²(j) = ‖B d0‖² + ‖σ∘d0‖² + 2w (B d0)ᵀB_j + w²‖B_j‖² + σ_j² (2w d0_j + w²)

which costs O(factors × names) for all j at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from scipy.optimize import nnls

from strategies.index.risk import Array, RiskModel
from strategies.index.target import IndexTarget

POOL = 12  # names `split_replacement` spreads over before keeping the `max_names` largest


@dataclass(frozen=True, slots=True)
class Ranking:
    """The replacements of a sold name, best first: (symbol, ex-ante annualised tracking
    error after moving the sold weight to it); `reason` says why there are none ("" when
    there are), `tracking_error_before` is the tracking error before the sale."""

    candidates: tuple[tuple[str, float], ...]
    reason: str = ""
    tracking_error_before: float = 0.0


def rank_replacements(
    sold: str,
    weights: Mapping[str, float | Decimal],
    target: IndexTarget,
    risk: RiskModel,
    *,
    allowed: Callable[[str], bool],
    budget: float,
    max_names: int = 3,
) -> Ranking:
    """Return up to `max_names` target names to move `sold`'s weight to, lowest tracking
    error after the move first: the names of `sold`'s sector within `budget`, or, when none
    is allowed or all exceed it, the other sectors' names within it.

    `weights` are the current holdings' weights, `sold`'s still in. The risk model must cover
    the target and the holdings (estimate it over both: a name without history gets the
    average variance); a weighted name it lacks makes no ranking, the reason names it.
    """
    if max_names < 1:
        raise ValueError(f"max_names must be at least 1, got {max_names}")
    active = _active(risk, sold, weights, target)
    if isinstance(active, str):
        return Ranking((), active)
    before = risk.tracking_error(active)
    after = _tracking_error_after(risk, active, risk.index(sold), float(weights.get(sold, 0)))
    sector = target.sector(sold)
    names = [s for s in target.symbols if s != sold and s in risk.positions]
    in_sector = [s for s in names if sector and target.sector(s) == sector]
    others = [s for s in names if not (sector and target.sector(s) == sector)]
    best: tuple[str, float] | None = None
    for group in (in_sector, others):
        chosen: list[tuple[str, float]] = []
        for te, symbol in sorted((float(after[risk.index(s)]), s) for s in group):
            if len(chosen) == max_names or (chosen and te > budget):
                break
            if not allowed(symbol):
                continue
            if te > budget:  # the group's best allowed name: none of it is within budget
                best = (symbol, te) if best is None or te < best[1] else best
                break
            chosen.append((symbol, te))
        if chosen:
            return Ranking(tuple(chosen), "", before)
    if best is None:
        return Ranking((), f"no_candidate: no target name but {sold} may be bought", before)
    return Ranking(
        (),
        f"tracking_error: the best replacement of {sold}, {best[0]}, leaves {best[1]:.4%} "
        f"a year, above the budget of {budget:.4%}",
        before,
    )


@dataclass(frozen=True, slots=True)
class Split:
    """The sold weight spread over up to `max_names` names: (symbol, weight), largest first,
    the weights summing to the sold weight; the tracking error after; `reason` when empty."""

    weights: tuple[tuple[str, float], ...]
    tracking_error: float
    reason: str = ""


def split_replacement(
    sold: str,
    weights: Mapping[str, float | Decimal],
    target: IndexTarget,
    risk: RiskModel,
    *,
    allowed: Callable[[str], bool],
    budget: float,
    max_names: int = 3,
) -> Split:
    """Return `sold`'s weight spread over up to `max_names` of the names `rank_replacements`
    allows (same sector rule, same budget), in the proportions that minimise the tracking
    error; never worse than the single best name.

    The proportions solve a small nonnegative least squares problem over the best `POOL`
    ranked names (the sum-to-the-sold-weight constraint as a heavily weighted row), then
    again over the `max_names` largest of them."""
    ranking = rank_replacements(
        sold, weights, target, risk, allowed=allowed, budget=budget, max_names=max(POOL, max_names)
    )
    if not ranking.candidates:
        return Split((), ranking.tracking_error_before, ranking.reason)
    weight = float(weights.get(sold, 0))
    if weight <= 0:
        return Split((), ranking.tracking_error_before, f"no_weight: {sold} is not held")
    moved = _active(risk, sold, weights, target)
    assert not isinstance(moved, str)  # the ranking found candidates
    moved[risk.index(sold)] -= weight
    pool = [s for s, _ in ranking.candidates]
    spread = _least_tracking_error(risk, moved, pool, weight)
    kept = sorted(pool, key=lambda s: -spread[s])[:max_names]
    spread = _least_tracking_error(risk, moved, kept, weight)
    after = moved.copy()
    for symbol, share in spread.items():
        after[risk.index(symbol)] += share
    best, best_te = ranking.candidates[0]
    te = risk.tracking_error(after)
    if te > best_te:
        return Split(((best, weight),), best_te)
    parts = sorted(((s, w) for s, w in spread.items() if w > 0), key=lambda p: -p[1])
    return Split(tuple(parts), te)


def _active(
    risk: RiskModel, sold: str, weights: Mapping[str, float | Decimal], target: IndexTarget
) -> Array | str:
    """Return the active weights (holdings minus target) in the model's order, or the reason
    why not: the names with weight (and `sold`) that the model lacks."""
    weighted = [s for s, w in (*weights.items(), *target.weights.items()) if w]
    lacking = risk.missing({sold, *weighted})
    if lacking:
        return f"risk_model: no estimate for {', '.join(lacking)}"
    held = {s: w for s, w in weights.items() if w}
    return risk.vector(held) - risk.vector({s: w for s, w in target.weights.items() if w})


def _least_tracking_error(
    risk: RiskModel, moved: Array, pool: list[str], weight: float
) -> dict[str, float]:
    """Return the nonnegative weights over `pool`, summing to `weight`, that minimise the
    tracking error of `moved` plus them."""
    columns = [risk.index(s) for s in pool]
    exposure = risk.loadings[:, columns]
    design = np.vstack([exposure, np.diag(risk.specific[columns])])
    goal = -np.concatenate([risk.loadings @ moved, risk.specific[columns] * moved[columns]])
    penalty = 1e3 * max(float(np.abs(design).max()), 1.0)
    design = np.vstack([design, np.full((1, len(columns)), penalty)])
    goal = np.append(goal, penalty * weight)
    shares, _ = nnls(design, goal)
    total = float(shares.sum())
    if total <= 0:
        shares, total = np.eye(len(columns))[0], 1.0
    return {s: float(x) * weight / total for s, x in zip(pool, shares, strict=True)}


def _tracking_error_after(risk: RiskModel, active: Array, sold: int, weight: float) -> Array:
    """Return, for every name j, the tracking error once `weight` moves from `sold` to j."""
    moved = active.copy()
    moved[sold] -= weight
    exposure = risk.loadings @ moved
    residual = risk.specific * moved
    base = float(exposure @ exposure + residual @ residual)
    variance = (
        base
        + 2.0 * weight * (exposure @ risk.loadings)
        + weight**2 * np.sum(risk.loadings**2, axis=0)
        + risk.specific**2 * (2.0 * weight * moved + weight**2)
    )
    result: Array = np.sqrt(np.clip(variance, 0.0, None))
    return result
