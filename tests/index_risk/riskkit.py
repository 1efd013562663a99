"""The S&P 1999–2021 set as days of closes and corporate actions (plain module, not a conftest).

The set (../shared/data/prices/sp500_1999_2021, described in /work/shared/data/README.md) holds
raw closes with `dividend_amount` and `split_coefficient` on the event day; a test that needs it
skips when the shared folder is absent.
"""

from __future__ import annotations

import csv
import functools
import gzip
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from strategies.index.returns import ReturnsWindow

REPO = Path(__file__).resolve().parents[2]
SP500 = REPO.parent / "shared" / "data" / "prices" / "sp500_1999_2021"


@dataclass
class Day:
    """One trading day of the set: raw closes, adjusted closes, and the day's events."""

    day: date
    closes: dict[str, float] = field(default_factory=dict)
    adjusted: dict[str, float] = field(default_factory=dict)
    splits: dict[str, float] = field(default_factory=dict)
    dividends: dict[str, float] = field(default_factory=dict)


def sectors() -> dict[str, str]:
    """Return the constituents list's sector of each symbol (skip when the set is absent)."""
    path = SP500 / "constituents.csv.gz"
    if not path.exists():
        pytest.skip(f"shared price data not present: {path}")
    with gzip.open(path, "rt", newline="") as f:
        return {row["Symbol"]: row["Sector"] for row in csv.DictReader(f)}


@functools.cache
def load_days(symbols: tuple[str, ...], start: date, end: date) -> list[Day]:
    """Return the days from `start` to `end` on which any of `symbols` has a close, in order."""
    days: dict[date, Day] = {}
    first, last = start.isoformat(), end.isoformat()
    for symbol in symbols:
        path = SP500 / "daily_adjusted" / f"DA-{symbol}-T-2021-04-21.csv.gz"
        if not path.exists():
            pytest.skip(f"shared price data not present: {path}")
        with gzip.open(path, "rt", newline="") as f:
            rows = csv.reader(f)
            next(rows)  # timestamp,open,high,low,close,adjusted_close,volume,dividend,split
            for stamp, _, _, _, close, adjusted, _, dividend, split in rows:
                if not first <= stamp <= last:
                    continue
                day = date.fromisoformat(stamp)
                entry = days.setdefault(day, Day(day))
                entry.closes[symbol] = float(close)
                entry.adjusted[symbol] = float(adjusted)
                if float(split) != 1.0:
                    entry.splits[symbol] = float(split)
                if float(dividend) > 0:
                    entry.dividends[symbol] = float(dividend)
    return [days[d] for d in sorted(days)]


def feed(window: ReturnsWindow, day: Day) -> None:
    """Add one day to `window` as a backtest does: the day's events first, then its closes."""
    for symbol, ratio in day.splits.items():
        window.apply_split(symbol, ratio)
    for symbol, amount in day.dividends.items():
        window.apply_dividend(symbol, amount)
    window.add_day(day.day, day.closes)


def sector_slice(names: tuple[str, ...]) -> tuple[str, ...]:
    """Return the symbols of the constituents list in the sectors `names` that have prices."""
    return tuple(
        sorted(
            s
            for s, sector in sectors().items()
            if sector in names
            and (SP500 / "daily_adjusted" / f"DA-{s}-T-2021-04-21.csv.gz").exists()
        )
    )


def synthetic_returns(
    days: int, per_sector: tuple[int, ...], seed: int = 0
) -> tuple[np.ndarray, tuple[str, ...], dict[str, str]]:
    """Return daily returns of a market factor, one factor per sector and idiosyncratic noise
    (roughly the S&P's: 1 % market, 0.8 % sector, 1.5 % own a day), their symbols (S<sector>N<n>)
    and sectors ("sector<k>")."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, days)
    columns, symbols, sector_of = [], [], {}
    for k, count in enumerate(per_sector):
        factor = rng.normal(0.0, 0.008, days)
        for n in range(count):
            beta = rng.uniform(0.7, 1.3)
            columns.append(beta * market + factor + rng.normal(0.0, 0.015, days))
            symbols.append(f"S{k}N{n}")
            sector_of[symbols[-1]] = f"sector{k}"
    return np.column_stack(columns), tuple(symbols), sector_of
