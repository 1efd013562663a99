"""The index target: the weights to hold, by symbol, with each symbol's sector.

`make_target` turns raw weights of any positive scale into a target whose weights sum to
exactly 1 in `Decimal`: each weight is the raw share rounded down to `WEIGHT_QUANTUM`, and the
largest weight absorbs the residue (never negative, so the largest stays the largest). Because
every weight is a multiple of the quantum, the sum is exact in any order of addition.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

WEIGHT_QUANTUM = Decimal("1e-15")
"""The weights' resolution: $0.001 of a $1 trillion portfolio."""


class TargetError(ValueError):
    """The weights cannot make a target (an empty universe, nothing left after `exclude`)."""


@dataclass(frozen=True, slots=True)
class IndexTarget:
    """Normalised weights (they sum to 1) of the names held directly.

    `sectors` maps each symbol to its sector ("" when unknown); `source` says where the
    weights came from (a file's path, or "equal"); `completion` is the fund that holds the
    part of the index not held directly (its weight is in `weights` too), or None;
    `excluded_unknown` the `exclude`d symbols the weights do not name (a typo, or a name
    outside this index), sorted.
    """

    weights: Mapping[str, Decimal]
    sectors: Mapping[str, str]
    source: str
    completion: str | None = None
    excluded_unknown: tuple[str, ...] = ()

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the target's symbols, sorted."""
        return tuple(sorted(self.weights))

    def sector(self, symbol: str) -> str:
        """Return `symbol`'s sector ("" when unknown)."""
        return self.sectors.get(symbol, "")

    def weight(self, symbol: str) -> Decimal:
        """Return `symbol`'s target weight (0 for a name outside the target)."""
        return self.weights.get(symbol, Decimal(0))

    def sector_weights(self) -> dict[str, Decimal]:
        """Return each sector's total weight, by sector name sorted ("" gathers the unknown)."""
        totals: dict[str, Decimal] = {}
        for symbol, weight in self.weights.items():
            sector = self.sector(symbol)
            totals[sector] = totals.get(sector, Decimal(0)) + weight
        return dict(sorted(totals.items()))

    def in_sector(self, sector: str) -> tuple[str, ...]:
        """Return the target's symbols in `sector`, sorted."""
        return tuple(s for s in self.symbols if self.sector(s) == sector)


def make_target(
    raw: Mapping[str, Decimal],
    sectors: Mapping[str, str],
    *,
    exclude: Collection[str] = (),
    source: str,
    completion: str | None = None,
) -> IndexTarget:
    """Return the target of `raw` weights (any positive scale): drop `exclude`d names, spread
    their weight over the rest pro rata, normalise to 1. Raise `TargetError` when nothing is
    left.

    With a `completion` fund, the excluded names' weight goes to that fund instead (it holds
    the part of the index not held directly); the fund appears in `weights` only when that
    weight is above zero. Names of zero raw weight are left out; `weights` keeps `raw`'s order
    (the completion fund last); `sectors` is restricted to the target's names.
    """
    if not raw:
        raise TargetError("the universe is empty: there is no name to hold")
    for symbol, weight in raw.items():
        if not weight.is_finite() or weight < 0:
            raise TargetError(f"{symbol}: weight must be a number ≥ 0 (got {weight})")
    excluded = set(exclude)
    kept = {s: w for s, w in raw.items() if s not in excluded and w > 0}
    if not kept:
        if any(s not in excluded for s in raw):
            raise TargetError("the weights sum to 0: no name has a positive weight")
        raise TargetError(f"every name is excluded ({len(raw)} excluded): nothing is left to hold")
    if completion is not None and completion not in excluded:
        spread = sum((w for s, w in raw.items() if s in excluded), Decimal(0))
        kept[completion] = kept.pop(completion, Decimal(0)) + spread
    weights = _normalised({s: w for s, w in kept.items() if w > 0})
    return IndexTarget(
        weights=weights,
        sectors={s: sectors.get(s, "") for s in weights},
        source=source,
        completion=completion,
        excluded_unknown=tuple(sorted(excluded - raw.keys())),
    )


def _normalised(raw: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Return `raw` scaled to sum exactly 1: shares rounded down to the quantum, the residue
    (a few quanta at most) added to the first of the largest."""
    total = sum(raw.values(), Decimal(0))
    if total <= 0:
        raise TargetError(f"the weights sum to {total}: they must sum to more than 0")
    weights = {s: (w / total).quantize(WEIGHT_QUANTUM, rounding=ROUND_DOWN) for s, w in raw.items()}
    largest = max(weights, key=lambda s: weights[s])
    weights[largest] += Decimal(1) - sum(weights.values(), Decimal(0))
    return weights


def drifted(
    target: IndexTarget, anchor: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> IndexTarget:
    """Return `target` with each weight moved with its name's price since `anchor` (the
    prices on the day the weights were set), renormalised.

    An index's own weights float with its members' prices (a cap-weighted index needs no
    trade to stay on target, and neither does an equal-weighted one between its
    reconstitutions): holding the index then needs no trade either, and a rebalance trades
    only to undo what harvests, deposits and withdrawals moved. A name without both prices
    keeps its weight.
    """
    raw = {}
    for symbol, weight in target.weights.items():
        then, now = anchor.get(symbol), prices.get(symbol)
        raw[symbol] = weight * now / then if then and now else weight
    return make_target(raw, target.sectors, source=target.source, completion=target.completion)
