"""Alpaca's split calendar: the splits its corporate actions announce, kept per symbol.

A split takes effect on its ex-date, the session whose prices are adjusted (Alpaca's
``process_date`` is the same day; its ``payable_date`` may be a day earlier and is not used).
Its ratio is ``new_rate / old_rate`` new shares per old share: 4:1 is 4, 1:10 is 1/10.

`SplitBook` is pure (no I/O, no clock): the adapter fills it from the corporate-actions
endpoint and answers `adapters.base.SplitCalendar` from it on the tick path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

SPLIT_KINDS = ("forward_splits", "reverse_splits")


@dataclass(frozen=True, slots=True)
class AnnouncedSplit:
    """One split of `symbol`, effective on `day`, `ratio` new shares per old share."""

    symbol: str
    day: date
    ratio: Fraction


def parse_splits(raw: Any) -> tuple[list[AnnouncedSplit], list[str]]:
    """Return the splits in a corporate-actions answer, and why any entry was unusable.

    `raw` is ``{"forward_splits": [...], "reverse_splits": [...]}`` (either may be missing).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"corporate actions: expected an object, got {type(raw).__name__}")
    splits: list[AnnouncedSplit] = []
    bad: list[str] = []
    for kind in SPLIT_KINDS:
        for item in raw.get(kind) or ():
            try:
                new, old = _rate(item["new_rate"]), _rate(item["old_rate"])
                splits.append(
                    AnnouncedSplit(
                        symbol=str(item["symbol"]),
                        day=date.fromisoformat(str(item["ex_date"])),
                        ratio=new / old,
                    )
                )
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                bad.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
    return splits, bad


def _rate(value: object) -> Fraction:
    rate = Fraction(Decimal(str(value)))
    if rate <= 0:
        raise ValueError(f"rate must be positive (got {value})")
    return rate


def ratio_decimal(ratio: Fraction) -> Decimal:
    """Return `ratio` as the `Decimal` a ledger split takes (1/3 to 28 significant digits)."""
    return Decimal(ratio.numerator) / Decimal(ratio.denominator)


@dataclass
class SplitBook:
    """The splits known per symbol, and the span of days for which each symbol is known."""

    _spans: dict[str, tuple[date, date]] = field(default_factory=dict)
    _splits: dict[str, dict[date, Fraction]] = field(default_factory=dict)

    def record(
        self, symbols: set[str], start: date, end: date, splits: list[AnnouncedSplit]
    ) -> None:
        """Record the answer for `symbols` from `start` to `end`: these splits, no others."""
        for symbol in symbols:
            known = self._splits.setdefault(symbol, {})
            for day in [d for d in known if start <= d <= end]:
                del known[day]
            span = self._spans.get(symbol)
            if span is not None and span[0] <= end and start <= span[1]:
                self._spans[symbol] = (min(span[0], start), max(span[1], end))
            elif span is None or end >= span[1]:  # keep the span nearest to now
                self._spans[symbol] = (start, end)
        for split in splits:
            if split.symbol in symbols and start <= split.day <= end:
                self._splits[split.symbol][split.day] = split.ratio

    def between(self, symbol: str, start: date, end: date) -> list[tuple[date, Fraction]] | None:
        """Return `symbol`'s splits from `start` to `end` inclusive, None unless all known."""
        span = self._spans.get(symbol)
        if span is None or not (span[0] <= start and end <= span[1]):
            return None
        known = self._splits.get(symbol, {})
        return sorted((d, r) for d, r in known.items() if start <= d <= end)

    def covers(self, symbol: str, start: date, end: date) -> bool:
        """Return whether `symbol`'s splits from `start` to `end` are known."""
        return self.between(symbol, start, end) is not None
