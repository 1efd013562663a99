"""The S&P 1999–2021 set as days of closes and corporate actions (plain module, not a conftest).

The set (../shared/data/prices/sp500_1999_2021, described in /work/shared/data/README.md) holds
raw closes with `dividend_amount` and `split_coefficient` on the event day; a test that needs it
skips when the shared folder is absent.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

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


def load_days(symbols: list[str], start: date, end: date) -> list[Day]:
    """Return the days from `start` to `end` on which any of `symbols` has a close, in order."""
    days: dict[date, Day] = defaultdict(lambda: Day(date.min))
    for symbol in symbols:
        path = SP500 / "daily_adjusted" / f"DA-{symbol}-T-2021-04-21.csv.gz"
        if not path.exists():
            pytest.skip(f"shared price data not present: {path}")
        with gzip.open(path, "rt", newline="") as f:
            for row in csv.DictReader(f):
                day = date.fromisoformat(row["timestamp"])
                if not start <= day <= end:
                    continue
                entry = days[day]
                entry.day = day
                entry.closes[symbol] = float(row["close"])
                entry.adjusted[symbol] = float(row["adjusted_close"])
                if float(row["split_coefficient"]) != 1.0:
                    entry.splits[symbol] = float(row["split_coefficient"])
                if float(row["dividend_amount"]) > 0:
                    entry.dividends[symbol] = float(row["dividend_amount"])
    return [days[d] for d in sorted(days)]


def feed(window: ReturnsWindow, day: Day) -> None:
    """Add one day to `window` as a backtest does: the day's events first, then its closes."""
    for symbol, ratio in day.splits.items():
        window.apply_split(symbol, ratio)
    for symbol, amount in day.dividends.items():
        window.apply_dividend(symbol, amount)
    window.add_day(day.day, day.closes)


def sector_slice(names: tuple[str, ...]) -> list[str]:
    """Return the symbols of the constituents list in the sectors `names` that have prices."""
    return sorted(
        s
        for s, sector in sectors().items()
        if sector in names and (SP500 / "daily_adjusted" / f"DA-{s}-T-2021-04-21.csv.gz").exists()
    )
