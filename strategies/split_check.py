"""Tell a price move that looks like a share split (pure: no I/O, no clock).

A split the ledger has not applied makes prices fall (or, for a reverse split, rise) by the
split ratio while the lots keep their old quantity and basis: a loss that is not there. The
engine holds a symbol after such a move until a split calendar explains it
(`adapters.base.SplitCalendar`); this module only says which moves look like splits.
"""

from __future__ import annotations

from fractions import Fraction

_RATIOS = (Fraction(2), Fraction(3), Fraction(3, 2), Fraction(4), Fraction(5), Fraction(7))
SPLIT_RATIOS: tuple[Fraction, ...] = tuple(
    r for n in (*_RATIOS, Fraction(8), Fraction(10)) for r in (n, 1 / n)
)
"""Common split ratios (new shares per old share) and their reverses."""

TOLERANCE = 0.1
"""Relative distance from a ratio within which a move looks like it: a split day's own move
(AAPL 2020-08-31: 499.23 to 129.04, 3.87 for 4:1) stays inside."""

GAP = 1.35
"""No move smaller than this factor either way looks like a split (3/2 less its tolerance)."""


def split_like(before: float, after: float) -> Fraction | None:
    """Return the split ratio a move from price `before` to `after` looks like, or None.

    The ratio is new shares per old share: 400 to 100 looks like 4 (a 4:1 split), 10 to 100
    like 1/10 (a 1:10 reverse split).
    """
    if not (before > 0 and after > 0):
        return None
    moved = before / after
    if 1 / GAP < moved < GAP:
        return None
    for ratio in SPLIT_RATIOS:
        if abs(moved / float(ratio) - 1) <= TOLERANCE:
            return ratio
    return None
