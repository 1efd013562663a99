"""Daily returns of every symbol over a rolling window, fed one day at a time.

`ReturnsWindow` keeps the last ``window_days + 1`` closes of each symbol in a ring buffer
(days × symbols, NaN where a symbol has no close), so that adding a day costs O(symbols) and
`matrix` returns the simple daily returns of the last `window_days` days. It only ever holds
days already added: a backtest that adds each day after its close never looks ahead.

Returns are total returns. A split divides the stored closes (and dividends) by its ratio, so
the split day is no fake -50 % return; a dividend of D going ex on day t makes that day's
return ``(close_t + D) / close_{t-1} - 1`` (the convention of Alpha Vantage's adjusted closes
in the shared S&P set). Both are called on the event day *before* `add_day` of that day.
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
        self._dividends: Array = np.zeros((self._rows, _INITIAL_COLUMNS))
        self._pending: dict[int, float] = {}  # dividends going ex on the next day added
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
        dividends = self._dividends[self._added % self._rows]
        dividends.fill(0.0)
        for column, amount in self._pending.items():
            dividends[column] = amount
        self._pending.clear()
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
            self._dividends[:, column] /= float(ratio)

    def apply_dividend(self, symbol: str, amount: float | Decimal) -> None:
        """Count a cash dividend of `amount` per share going ex on the next day added in
        that day's return."""
        if amount < 0:
            raise ValueError(f"dividend of {symbol} must not be negative, got {amount}")
        column = self._column(symbol)
        self._pending[column] = self._pending.get(column, 0.0) + float(amount)

    def matrix(self, symbols: Sequence[str]) -> tuple[Array, date | None]:
        """Return the daily total returns (days × `symbols`, oldest first; NaN where a close
        is missing on either day) of the last `window_days` days up to and including the last
        day added, and that day (None before the first)."""
        rows = min(self._added, self._rows)
        order = [(self._added - rows + i) % self._rows for i in range(rows)]
        known = [self._columns.get(s, -1) for s in symbols]
        if rows < 2:
            return np.empty((0, len(symbols))), self._last
        cells = np.ix_(order, [c if c >= 0 else 0 for c in known])
        closes, dividends = self._closes[cells], self._dividends[cells]
        closes[:, [i for i, c in enumerate(known) if c < 0]] = np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            returns: Array = (closes[1:] + dividends[1:]) / closes[:-1] - 1.0
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
                paid = np.zeros((self._rows, 2 * column))
                paid[:, :column] = self._dividends
                self._dividends = paid
            self._columns[symbol] = column
        return column
