"""In-memory price data: `Bar`, `PriceSeries` and the exact split-ratio helper.

Storage is columnar (stdlib `array`), ordered by (date, symbol), so a backtest can replay the
market day by day across symbols. Prices are held as integers in micro-units (1e-6 of the
currency unit), which is exact for every price in the bundled and shared data sets (at most six
decimal places). A value with more decimals (e.g. the 15-digit yfinance floats of the ETF files)
keeps its exact `Decimal` in a sparse side table, and the integer column holds it rounded, for
the float fast path only.

Decisions use `Decimal`: `Bar.close`, `Bar.open`, ... build the exact `Decimal` lazily, on
access. `Bar.close_micros` (int) and `Bar.close_float` (float) are for pre-filtering hot loops;
anything that trades, sizes or records must recompute from the `Decimal` accessors.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cached_property

MICRO = 1_000_000
"""Integer price columns count units of 1e-6."""

MISSING = -(2**63)
"""Sentinel in an integer price column for a blank optional field (e.g. an empty `open`)."""

ONE = Decimal(1)
ZERO = Decimal(0)


def micros_to_decimal(micros: int) -> Decimal:
    """Return the exact `Decimal` of an integer count of 1e-6 units (exponent -6)."""
    return Decimal(micros).scaleb(-6)


class Bar:
    """One daily bar of one symbol.

    Fast fields: ``open_micros``, ``high_micros``, ``low_micros``, ``close_micros`` (int, 1e-6
    units; ``MISSING`` for a blank optional price) and ``volume`` (int shares; a fractional source
    volume is truncated here and exact in ``volume_exact``). Exact fields: the properties
    ``open``, ``high``, ``low`` (``Decimal | None``) and ``close`` (``Decimal``), equal in value to
    the source text. ``split_coefficient`` is the source's coefficient as written (``Decimal``,
    1 when absent, empty or 0); ``split_ratio`` snaps it with `normalize_split_ratio`.
    ``dividend`` is the cash dividend per share with its ex-date on this day (0 when none).
    """

    __slots__ = (
        "_exact",
        "close_micros",
        "date",
        "dividend",
        "high_micros",
        "low_micros",
        "open_micros",
        "split_coefficient",
        "symbol",
        "volume",
    )

    def __init__(
        self,
        symbol: str,
        day: date,
        open_micros: int,
        high_micros: int,
        low_micros: int,
        close_micros: int,
        volume: int,
        split_coefficient: Decimal = ONE,
        dividend: Decimal = ZERO,
        exact: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.symbol = symbol
        self.date = day
        self.open_micros = open_micros
        self.high_micros = high_micros
        self.low_micros = low_micros
        self.close_micros = close_micros
        self.volume = volume
        self.split_coefficient = split_coefficient
        self.dividend = dividend
        self._exact = exact

    @classmethod
    def of(
        cls,
        symbol: str,
        day: date,
        *,
        close: Decimal,
        open: Decimal | None = None,
        high: Decimal | None = None,
        low: Decimal | None = None,
        volume: int = 0,
        split_coefficient: Decimal = ONE,
        dividend: Decimal = ZERO,
    ) -> Bar:
        """Build a bar from exact `Decimal` prices (for tests and hand-made series)."""
        exact: dict[str, Decimal] = {}
        micros = []
        for name, value in (("open", open), ("high", high), ("low", low), ("close", close)):
            if value is None:
                micros.append(MISSING)
                continue
            scaled = value.scaleb(6)
            whole = int(scaled.to_integral_value())
            if scaled != whole:
                exact[name] = value
            micros.append(whole)
        o, h, lo, c = micros
        return cls(symbol, day, o, h, lo, c, volume, split_coefficient, dividend, exact or None)

    def _price(self, name: str, micros: int) -> Decimal | None:
        if self._exact is not None:
            value = self._exact.get(name)
            if value is not None:
                return value
        if micros == MISSING:
            return None
        return Decimal(micros).scaleb(-6)

    @property
    def close(self) -> Decimal:
        """The exact close (`Decimal`); use this, not `close_float`, for any decision."""
        value = self._price("close", self.close_micros)
        assert value is not None  # a bar always has a close
        return value

    @property
    def open(self) -> Decimal | None:
        """The exact open, or None when the source left it blank."""
        return self._price("open", self.open_micros)

    @property
    def high(self) -> Decimal | None:
        """The exact high, or None when the source left it blank."""
        return self._price("high", self.high_micros)

    @property
    def low(self) -> Decimal | None:
        """The exact low, or None when the source left it blank."""
        return self._price("low", self.low_micros)

    @property
    def close_float(self) -> float:
        """The close as a float, for pre-filtering only (decisions use `close`)."""
        return self.close_micros / MICRO

    @property
    def volume_exact(self) -> Decimal:
        """The volume exactly as written (differs from `volume` only for fractional volumes)."""
        if self._exact is not None and "volume" in self._exact:
            return self._exact["volume"]
        return Decimal(self.volume)

    @property
    def split_ratio(self) -> Fraction:
        """The split coefficient snapped to a simple p/q (see `normalize_split_ratio`)."""
        if self.split_coefficient == ONE:
            return Fraction(1)
        return normalize_split_ratio(self.split_coefficient)

    def as_tuple(
        self,
    ) -> tuple[
        str,
        date,
        Decimal | None,
        Decimal | None,
        Decimal | None,
        Decimal,
        Decimal,
        Decimal,
        Decimal,
    ]:
        """Return every field as exact values (what equality compares)."""
        return (
            self.symbol,
            self.date,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume_exact,
            self.split_coefficient,
            self.dividend,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bar):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        extra = ""
        if self.split_coefficient != ONE:
            extra += f", split_coefficient={self.split_coefficient}"
        if self.dividend:
            extra += f", dividend={self.dividend}"
        return (
            f"Bar({self.symbol!r}, {self.date.isoformat()}, open={self.open}, high={self.high}, "
            f"low={self.low}, close={self.close}, volume={self.volume}{extra})"
        )


@dataclass(frozen=True, slots=True)
class SkipExample:
    """One skipped input row: where it was, why, and its text (truncated)."""

    source: str
    line: int
    reason: str
    text: str


class PriceSeries:
    """Daily bars of many symbols, ordered by (date, symbol); built by the loaders.

    - `days()` replays the market: ``(date, [Bar, ...])`` in ascending date order, bars sorted
      by symbol.
    - `day_ranges()` and the public columns (`close_micros`, `symbol_ids`, ...) are the
      allocation-free fast path: ``for day, rows in s.day_ranges(): for i in rows: ...``; build
      a `Bar` with `bar(i)` only for rows that survive the float pre-filter.
    - `skipped` counts rejected input rows per reason, `examples` keeps the first few of each
      reason with their line numbers, `blank_fields` counts kept rows with a blank optional field.
    - `split_known` names the symbols whose files have a split column: `splits_between` answers
      for those (the backtest's split calendar, `adapters.base.SplitCalendar`).
    """

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        day_ordinals: array[int],
        day_offsets: array[int],
        symbol_ids: array[int],
        open_micros: array[int],
        high_micros: array[int],
        low_micros: array[int],
        close_micros: array[int],
        volume: array[int],
        splits: dict[int, Decimal],
        dividends: dict[int, Decimal],
        exact: dict[int, dict[str, Decimal]],
        skipped: dict[str, int],
        examples: Sequence[SkipExample],
        blank_fields: dict[str, int],
        sources: Sequence[str],
        split_known: Collection[str] = frozenset(),
    ) -> None:
        n = len(close_micros)
        if not (
            len(symbol_ids)
            == len(open_micros)
            == len(high_micros)
            == len(low_micros)
            == len(volume)
            == n
        ):
            raise ValueError("PriceSeries columns differ in length")
        if len(day_offsets) != len(day_ordinals) + 1 or (n and day_offsets[-1] != n):
            raise ValueError("PriceSeries day index does not cover the rows")
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.day_ordinals = day_ordinals
        self.day_offsets = day_offsets
        self.symbol_ids = symbol_ids
        self.open_micros = open_micros
        self.high_micros = high_micros
        self.low_micros = low_micros
        self.close_micros = close_micros
        self.volume = volume
        self.splits = splits
        self.dividends = dividends
        self.exact = exact
        self.skipped: dict[str, int] = dict(skipped)
        self.examples: tuple[SkipExample, ...] = tuple(examples)
        self.blank_fields: dict[str, int] = dict(blank_fields)
        self.sources: tuple[str, ...] = tuple(sources)
        self.split_known: frozenset[str] = frozenset(split_known)

    def __len__(self) -> int:
        return len(self.close_micros)

    def __repr__(self) -> str:
        span = f"{self.first_date}..{self.last_date}" if len(self) else "empty"
        return (
            f"<PriceSeries {len(self)} bars, {len(self.symbols)} symbols, "
            f"{len(self.day_ordinals)} days, {span}, skipped={self.skipped}>"
        )

    @property
    def skipped_total(self) -> int:
        """Total number of input rows skipped, all reasons together."""
        return sum(self.skipped.values())

    @property
    def first_date(self) -> date:
        """The earliest date with a bar."""
        return date.fromordinal(self.day_ordinals[0])

    @property
    def last_date(self) -> date:
        """The latest date with a bar."""
        return date.fromordinal(self.day_ordinals[-1])

    @cached_property
    def dates(self) -> tuple[date, ...]:
        """All trading dates present, ascending."""
        return tuple(date.fromordinal(o) for o in self.day_ordinals)

    def bar(self, row: int, day: date | None = None) -> Bar:
        """Build the `Bar` of one row (pass its `day` when known, to save a lookup)."""
        if day is None:
            day = date.fromordinal(self.day_ordinals[self._day_of_row(row)])
        return Bar(
            self.symbols[self.symbol_ids[row]],
            day,
            self.open_micros[row],
            self.high_micros[row],
            self.low_micros[row],
            self.close_micros[row],
            self.volume[row],
            self.splits.get(row, ONE),
            self.dividends.get(row, ZERO),
            self.exact.get(row),
        )

    def _day_of_row(self, row: int) -> int:
        return bisect_right(self.day_offsets, row) - 1

    def day_ranges(self) -> Iterator[tuple[date, range]]:
        """Yield ``(date, rows)`` per trading day: the fast path over the columns."""
        offsets = self.day_offsets
        for k, ordinal in enumerate(self.day_ordinals):
            yield date.fromordinal(ordinal), range(offsets[k], offsets[k + 1])

    def days(self, symbols: Collection[str] | None = None) -> Iterator[tuple[date, list[Bar]]]:
        """Yield ``(date, bars)`` for every trading day, ascending; bars sorted by symbol.

        With `symbols`, only those symbols' bars are built and days without any are skipped.
        """
        names = self.symbols
        sids = self.symbol_ids
        op, hi, lo, cl, vol = (
            self.open_micros,
            self.high_micros,
            self.low_micros,
            self.close_micros,
            self.volume,
        )
        splits, divs, exact = self.splits, self.dividends, self.exact
        wanted = None
        if symbols is not None:
            chosen = set(symbols)
            wanted = {k for k, name in enumerate(names) if name in chosen}
        for day, rows in self.day_ranges():
            if wanted is None:
                sel: Iterator[int] | range = rows
            else:
                sel = (i for i in rows if sids[i] in wanted)
            bars = [
                Bar(
                    names[sids[i]],
                    day,
                    op[i],
                    hi[i],
                    lo[i],
                    cl[i],
                    vol[i],
                    splits.get(i, ONE) if splits else ONE,
                    divs.get(i, ZERO) if divs else ZERO,
                    exact.get(i) if exact else None,
                )
                for i in sel
            ]
            if bars or wanted is None:
                yield day, bars

    @cached_property
    def _split_days(self) -> dict[str, list[tuple[date, Fraction]]]:
        days: dict[str, list[tuple[date, Fraction]]] = {}
        for row in sorted(self.splits):
            ratio = split_share_ratio(self.splits[row])
            if ratio is not None and ratio != 1:
                day = date.fromordinal(self.day_ordinals[self._day_of_row(row)])
                days.setdefault(self.symbols[self.symbol_ids[row]], []).append((day, ratio))
        return days

    def splits_between(
        self, symbol: str, start: date, end: date
    ) -> list[tuple[date, Fraction]] | None:
        """Return the share splits of `symbol` from `start` to `end` (inclusive), by the split
        column; None when the symbol's file has no split column, and so cannot tell."""
        if symbol not in self.split_known:
            return None
        return [(d, r) for d, r in self._split_days.get(symbol, ()) if start <= d <= end]

    def bars_of(self, symbol: str) -> list[Bar]:
        """All bars of one symbol in date order (a linear scan; for tests and reports)."""
        try:
            sid = self.symbols.index(symbol)
        except ValueError:
            return []
        out = []
        sids = self.symbol_ids
        for day, rows in self.day_ranges():
            for i in rows:
                if sids[i] == sid:
                    out.append(self.bar(i, day))
                    break
        return out


# --- split ratios -----------------------------------------------------------------------------

SPLIT_TOLERANCE = Fraction(1, 10_000)
"""Relative distance within which a coefficient snaps to a simple ratio."""
SPLIT_MAX_TERM = 25
"""Largest numerator and denominator of a general simple ratio (e.g. 3/2, 21/20, 20/19)."""
SPLIT_MAX_UNIT = 100
"""Largest n of a whole ratio n/1 or unit ratio 1/n (e.g. 50 for BRK.B, 1/32 for EQIX)."""


def _simplest_between(lo: Fraction, hi: Fraction) -> Fraction:
    """Return the simplest fraction (least denominator, then numerator) in ``[lo, hi]``, lo > 0.

    Stern–Brocot descent via continued fractions.
    """
    floor = lo.numerator // lo.denominator
    if floor == lo:
        return Fraction(floor)
    if floor + 1 <= hi:
        return Fraction(floor + 1)
    # lo and hi both lie strictly between floor and floor + 1
    return floor + 1 / _simplest_between(1 / (hi - floor), 1 / (lo - floor))


def _snap(coef: Decimal | Fraction | str | int) -> tuple[Fraction, Fraction | None]:
    """Return (the exact value of `coef`, the simple ratio it snaps to or None)."""
    if isinstance(coef, str):
        coef = Decimal(coef.strip())
    if isinstance(coef, Decimal) and not coef.is_finite():
        raise ValueError(f"split coefficient is not finite: {coef}")
    x = Fraction(coef)
    if x <= 0:
        raise ValueError(f"split coefficient must be positive: {coef}")
    candidate = _simplest_between(x * (1 - SPLIT_TOLERANCE), x * (1 + SPLIT_TOLERANCE))
    p, q = candidate.numerator, candidate.denominator
    simple = (
        (p <= SPLIT_MAX_TERM and q <= SPLIT_MAX_TERM)
        or (q == 1 and p <= SPLIT_MAX_UNIT)
        or (p == 1 and q <= SPLIT_MAX_UNIT)
    )
    return x, (candidate if simple else None)


def split_share_ratio(coef: Decimal | Fraction | str | int) -> Fraction | None:
    """Return the share ratio of a split coefficient, or None when it is not a share split.

    The snapped simple ratio of `normalize_split_ratio` when there is one (7, 3/2, 21/20, 1/32,
    ...); None for the price-adjustment factors Alpha Vantage writes on spin-off days (DOV
    ``1.238``, RTX ``1.589``, HSIC ``1.275``, ...), which must not change share counts.
    """
    return _snap(coef)[1]


def normalize_split_ratio(coef: Decimal | Fraction | str | int) -> Fraction:
    """Snap a split coefficient to the simple ratio it stands for, exactly.

    Alpha Vantage writes some split coefficients inexactly (``sp500_1999_2021``: AAPL
    2014-06-09 ``7.00000700001`` for 7:1, ROL ``1.49999925`` for 3:2, ``1.33333333333`` for 4:3,
    ``1.0499999475`` for a 5 % stock dividend). This returns the simplest fraction ``p/q`` within
    1e-4 relative of `coef` when it is "simple": ``p, q <= 25``, or a whole ratio ``n`` or unit
    ratio ``1/n`` with ``n <= 100``. Within that tolerance at most one such ratio exists, so the
    simplest is also the nearest. Otherwise the coefficient is returned unchanged, as an exact
    `Fraction` of its decimal value.

    The bounds are chosen against the data: every split in ``sp500_1999_2021`` snaps as expected,
    while the coefficients Alpha Vantage derives from spin-offs (e.g. DOV 2018-05-09 ``1.238``,
    RTX 2020-04-03 ``1.589``, DD 2019-04-02 ``1.4869999``) are left as written: those are price
    adjustment factors, not share ratios, and must not be applied to share counts; use
    `split_share_ratio` to tell the two apart.

    Raises ValueError for zero, negative or non-finite input. Returns a `Fraction` because
    ratios such as 4/3 have no exact `Decimal`.
    """
    exact, snapped = _snap(coef)
    return exact if snapped is None else snapped


def split_ratio_decimal(ratio: Fraction) -> Decimal:
    """Return `ratio` as a `Decimal`, raising ValueError when it has no exact one (e.g. 4/3)."""
    value = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    if Fraction(value) != ratio:
        raise ValueError(f"split ratio {ratio} has no exact Decimal")
    return value
