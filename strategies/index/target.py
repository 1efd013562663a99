"""The index target: the weights to hold, by symbol, with each symbol's sector."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal


class TargetError(ValueError):
    """The weights cannot make a target (an empty universe, nothing left after `exclude`)."""


@dataclass(frozen=True, slots=True)
class IndexTarget:
    """Normalised weights (they sum to 1) of the names held directly.

    `sectors` maps each symbol to its sector ("" when unknown); `source` says where the
    weights came from (a file's path, or "equal"); `completion` is the fund that holds the
    part of the index not held directly (its weight is in `weights` too), or None.
    """

    weights: Mapping[str, Decimal]
    sectors: Mapping[str, str]
    source: str
    completion: str | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the target's symbols, sorted."""
        return tuple(sorted(self.weights))

    def sector(self, symbol: str) -> str:
        """Return `symbol`'s sector ("" when unknown)."""
        return self.sectors.get(symbol, "")


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
    left."""
    raise NotImplementedError
