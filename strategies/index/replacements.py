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

from strategies.index.risk import Array, RiskModel
from strategies.index.target import IndexTarget


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

    `weights` are the current holdings' weights, `sold`'s still in; a name the risk model
    lacks is never a candidate, and holdings or target weights it lacks make no ranking.
    """
    if max_names < 1:
        raise ValueError(f"max_names must be at least 1, got {max_names}")
    lacking = risk.missing([sold, *weights, *target.weights])
    held_lacking = [s for s in lacking if s == sold or weights.get(s, 0)]
    if held_lacking:
        return Ranking((), f"risk_model: no estimate for {', '.join(held_lacking)}")
    active = risk.vector({s: w for s, w in weights.items() if s in risk.positions})
    active -= risk.vector({s: w for s, w in target.weights.items() if s in risk.positions})
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
