"""Daily returns of every symbol over a rolling window, fed one day at a time.

`ReturnsWindow` keeps the last ``window_days + 1`` closes of each symbol in a ring buffer
(days × symbols, NaN where a symbol has no close), so that adding a day costs O(symbols) and
`matrix` returns the simple daily returns of the last `window_days` days. It only ever holds
days already added: a backtest that adds each day after its close never looks ahead.

Corporate actions adjust the stored history the way an adjusted close does: a split divides
the past closes by its ratio (the split day is no fake -50 % return), and a dividend scales
them by ``1 - amount / previous close`` (the ex-day return is the total return, as in CRSP's
and Yahoo's adjusted closes). Both are called on the event day *before* `add_day` of that day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
_INITIAL_COLUMNS = 64


class ReturnsWindow:
    """The closes of the last ``window_days + 1`` days added, by symbol."""

    def __init__(self, window_days: int) -> None:
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {window_days}")
        self.window_days = window_days
        self._rows = window_days + 1
        self._closes: Array = np.full((self._rows, _INITIAL_COLUMNS), np.nan)
        self._columns: dict[str, int] = {}
        self._added = 0  # days added so far; the last one sits in row (added - 1) % rows
        self._last: date | None = None

    @property
    def last_day(self) -> date | None:
        """Return the last day added (None before the first)."""
        return self._last

    def add_day(self, day: date, closes: Mapping[str, float | Decimal]) -> None:
        """Add the closes of `day` (after every day added before it); a symbol missing from
        `closes` has no close that day."""
        if self._last is not None and day <= self._last:
            raise ValueError(f"days must be added in order: {day} after {self._last}")
        columns = [self._column(symbol) for symbol in closes]
        row = self._closes[self._added % self._rows]
        row.fill(np.nan)
        row[columns] = np.fromiter(map(float, closes.values()), np.float64, len(columns))
        self._added += 1
        self._last = day

    def apply_split(self, symbol: str, ratio: float | Decimal) -> None:
        """Rescale `symbol`'s stored closes for a split of `ratio` new shares per old share
        (2 for a 2-for-1), effective on the next day added."""
        if ratio <= 0:
            raise ValueError(f"split ratio of {symbol} must be positive, got {ratio}")
        column = self._columns.get(symbol)
        if column is not None:
            self._closes[:, column] /= float(ratio)

    def apply_dividend(self, symbol: str, amount: float | Decimal) -> None:
        """Rescale `symbol`'s stored closes for a cash dividend of `amount` per share going ex
        on the next day added, so that day's return includes the dividend."""
        column = self._columns.get(symbol)
        if column is None or self._added == 0:
            return
        previous = self._closes[(self._added - 1) % self._rows, column]
        if np.isfinite(previous) and 0 < float(amount) < previous:
            self._closes[:, column] *= 1.0 - float(amount) / previous

    def matrix(self, symbols: Sequence[str]) -> tuple[Array, date | None]:
        """Return the daily simple returns (days × `symbols`, oldest first; NaN where a close
        is missing on either day) of the last `window_days` days up to and including the last
        day added, and that day (None before the first)."""
        rows = min(self._added, self._rows)
        order = [(self._added - rows + i) % self._rows for i in range(rows)]
        known = [self._columns.get(s, -1) for s in symbols]
        closes = self._closes[np.ix_(order, [c if c >= 0 else 0 for c in known])]
        closes[:, [i for i, c in enumerate(known) if c < 0]] = np.nan
        if rows < 2:
            return np.empty((0, len(symbols))), self._last
        with np.errstate(invalid="ignore", divide="ignore"):
            returns: Array = closes[1:] / closes[:-1] - 1.0
        returns[~np.isfinite(returns)] = np.nan
        return returns, self._last

    def _column(self, symbol: str) -> int:
        column = self._columns.get(symbol)
        if column is None:
            column = len(self._columns)
            if column == self._closes.shape[1]:
                grown = np.full((self._rows, 2 * column), np.nan)
                grown[:, :column] = self._closes
                self._closes = grown
            self._columns[symbol] = column
        return column
